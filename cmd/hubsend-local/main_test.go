package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
)

// TestQuietWithoutVerbose: without -v a request, tick or job line (Info) is
// not logged, a warning is; with -v every line is.
func TestQuietWithoutVerbose(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		verbose        bool
		info, warnings bool
	}{{false, false, true}, {true, true, true}} {
		h := slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: logLevel(tc.verbose)})
		if got := h.Enabled(ctx, slog.LevelInfo); got != tc.info {
			t.Errorf("verbose %v: request lines logged = %v, want %v", tc.verbose, got, tc.info)
		}
		if got := h.Enabled(ctx, slog.LevelWarn); got != tc.warnings {
			t.Errorf("verbose %v: warnings logged = %v, want %v", tc.verbose, got, tc.warnings)
		}
	}
}

// TestBannerSaysWhereAndHow: the banner has the console's address, how to
// get a token for curl and how to show it again.
func TestBannerSaysWhereAndHow(t *testing.T) {
	var b strings.Builder
	stack := &devstack.Stack{APIURL: "http://127.0.0.1:8080", IssuerURL: "http://127.0.0.1:8083", ContacthubURL: "https://hub.example"}
	printBanner(&b, stack, devstack.Options{ContactsendEndpoint: "https://soap.example"}, 1500*time.Millisecond)
	for _, want := range []string{"http://127.0.0.1:8080/", "TOKEN=$(curl -s 'http://127.0.0.1:8083/demo-token?user=admin')", "Press Enter", "kill -USR1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}
}

// TestBannerAgainOnDemand: a line on the input and a signal each show the
// banner again; the end of the input does not stop the signal.
func TestBannerAgainOnDemand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in, typed := io.Pipe()
	again := make(chan os.Signal)
	shown := make(chan struct{})
	done := make(chan struct{})
	go func() {
		repeatOnDemand(ctx, in, again, func() { shown <- struct{}{} })
		close(done)
	}()
	expectShown := func(what string) {
		t.Helper()
		select {
		case <-shown:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not show the banner", what)
		}
	}
	if _, err := typed.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	expectShown("Enter")
	typed.Close() // no terminal any more
	again <- syscall.SIGUSR1
	expectShown("SIGUSR1")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("repeatOnDemand did not stop with its context")
	}
}
