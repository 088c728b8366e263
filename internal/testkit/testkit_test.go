package testkit_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/testkit"
)

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	if got := testkit.NewClock(time.Time{}).Now(); !got.Equal(testkit.Start) {
		t.Errorf("zero start shows %v, want %v", got, testkit.Start)
	}
	c := testkit.NewClock(start)
	if got, again := c.Now(), c.Now(); !got.Equal(start) || !again.Equal(start) {
		t.Fatalf("a clock nobody moved shows %v then %v, want %v", got, again, start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Errorf("after Advance(90s): %v", got)
	}
	c.Set(start.Add(-time.Hour))
	if got := c.Now(); !got.Equal(start.Add(-time.Hour)) {
		t.Errorf("after Set: %v", got)
	}
	c.Set(start)
	c.SetStep(time.Second)
	if first, second := c.Now(), c.Now(); !first.Equal(start.Add(time.Second)) || !second.Equal(start.Add(2*time.Second)) {
		t.Errorf("stepping by 1s shows %v then %v", first, second)
	}
	c.SetStep(0)
	if got, again := c.Now(), c.Now(); !got.Equal(again) {
		t.Errorf("step 0 still moves: %v then %v", got, again)
	}
}

// TestClockConcurrentUse: advances from many goroutines all count (run
// with -race to check the locking too).
func TestClockConcurrentUse(t *testing.T) {
	t.Parallel()
	c := testkit.NewClock(time.Time{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c.Advance(time.Millisecond)
			c.Now()
		})
	}
	wg.Wait()
	if got := c.Now().Sub(testkit.Start); got != 50*time.Millisecond {
		t.Fatalf("50 concurrent advances of 1ms moved the clock %v", got)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	logs := testkit.NewLogs()
	log := logs.Logger()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { log.Info("sync job", "n", i, slog.Group("source", "id", "s1")) })
	}
	wg.Wait()
	log.Debug("detail", "status", 503)
	log.Warn("retrying", "status", "503")

	if n := len(logs.Lines(t)); n != 22 {
		t.Fatalf("%d lines, want 22 (concurrent lines must not interleave):\n%s", n, logs)
	}
	jobs := logs.Find(t, "sync job")
	if len(jobs) != 20 || jobs[0].Level() != "INFO" {
		t.Fatalf("Find(sync job) = %d lines, first %v", len(jobs), jobs[0])
	}
	if id, ok := jobs[0].Attr("source", "id"); !ok || id != "s1" {
		t.Errorf(`Attr("source", "id") = %v, %v`, id, ok)
	}
	if _, ok := jobs[0].Attr("source", "name"); ok {
		t.Error("Attr found an attribute that was never logged")
	}
	if got := logs.FindAttr(t, "status", 503); len(got) != 1 || got[0].Message() != "detail" {
		t.Errorf("FindAttr(status, 503) = %v, want the debug line only", got)
	}
	if got := logs.FindAttr(t, "status", "503"); len(got) != 1 || got[0].Level() != "WARN" {
		t.Errorf(`FindAttr(status, "503") = %v, want the warning only`, got)
	}
	if !logs.Contains(`"retrying"`) || logs.Contains("hub-token") {
		t.Error("Contains does not search the captured text")
	}
	logs.Reset()
	if logs.String() != "" || logs.Lines(t) != nil {
		t.Errorf("after Reset: %q", logs)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if !bytes.Equal(testkit.MasterKey(), testkit.MasterKey()) || len(testkit.MasterKey()) != 32 {
		t.Fatal("MasterKey is not one fixed 32-byte key")
	}
	testkit.MasterKey()[0] = 0 // a copy: changing it changes nothing
	if decoded, err := base64.StdEncoding.DecodeString(testkit.MasterKeyBase64()); err != nil || !bytes.Equal(decoded, testkit.MasterKey()) {
		t.Fatalf("MasterKeyBase64 = %q, not MasterKey", testkit.MasterKeyBase64())
	}
	sealed, err := testkit.Box(t).Seal(t.Context(), "api-key", "source/s1/apiKey")
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := testkit.Box(t).Open(t.Context(), sealed, "source/s1/apiKey"); err != nil || opened != "api-key" {
		t.Fatalf("another Box opens %q, %v", opened, err)
	}
}

func TestUniqueName(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 3 {
		t.Run(strings.Repeat("a very long subtest name/with slashes ", 4), func(t *testing.T) {
			name := testkit.UniqueName(t)
			if seen[name] || len(name) > 60 || strings.ContainsAny(name, "/ ") {
				t.Errorf("UniqueName = %q: repeated, too long or not a valid queue name", name)
			}
			seen[name] = true
		})
	}
}
