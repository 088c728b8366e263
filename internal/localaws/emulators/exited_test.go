package emulators

import (
	"strings"
	"testing"
	"time"
)

// TestExitedNamesTheEmulatorThatStopped: an emulator that dies under a
// test is reported with how it ended, so the test's "connection refused"
// comes with its cause; one stopped by Close is not.
func TestExitedNamesTheEmulatorThatStopped(t *testing.T) {
	stack := StartT(t)
	if err := stack.Exited(); err != nil {
		t.Fatalf("Exited while both run: %v", err)
	}
	if err := stack.dynamo.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stack.dynamo.done:
	case <-time.After(10 * time.Second):
		t.Fatal("dynalite still running 10s after SIGKILL")
	}
	err := stack.Exited()
	if err == nil || !strings.Contains(err.Error(), "dynalite exited (signal: killed)") || strings.Contains(err.Error(), "fauxqs") {
		t.Fatalf("Exited after dynalite was killed = %v, want dynalite named with its signal", err)
	}
	stack.Close()
	if err := stack.Exited(); err != nil {
		t.Fatalf("Exited after Close = %v, want nil", err)
	}
}
