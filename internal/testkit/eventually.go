package testkit

import (
	"testing"
	"time"
)

// Eventually polls check until it returns "" (nothing left to wait for)
// and fails the test with check's last answer if within passes first.
func Eventually(t testing.TB, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		problem := check()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %s: %s", within, problem)
		}
		time.Sleep(100 * time.Millisecond) // the polling interval, not synchronisation
	}
}
