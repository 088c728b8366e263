package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunServesAndSavesStateOnShutdown(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	seed := filepath.Join("..", "..", "internal", "simulators", "sendsim", "testdata", "seed.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-seed", seed, "-state", state}, func(addr string) { addrc <- addr })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("simulator did not start")
	}

	resp, err := http.Get("http://" + addr + "/soap/services?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "findSubscribersBy") {
		t.Fatalf("WSDL: status %d, body %.200s", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + addr + "/_sim/userdbs/101/subscribers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin list: status %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("simulator did not shut down")
	}
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("state not saved: %v", err)
	}
	if !strings.Contains(string(saved), "mario.rossi@example.com") || !strings.Contains(string(saved), "2147483748") {
		t.Fatalf("state misses the seeded data: %.300s", saved)
	}
}

func TestRunRejectsABadSeed(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"userDbs":[{"id":1,"name":"x","fields":[{"name":"A","type":"NOPE"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-seed", bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "unknown type") {
		t.Fatalf("run with a bad seed: %v", err)
	}
}
