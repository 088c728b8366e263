package testkit

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hubsend/hubsend/internal/localaws/emulators"
)

// shared is the test binary's one emulator stack. Package state is the
// point here: every test of a binary shares one stack, started by the first
// test that asks for it, so a binary whose tests never ask starts nothing.
//
// Nothing stops the stack: the emulators are children of the test binary
// started with Pdeathsig (see emulators' process_linux.go), so the kernel
// kills them when the binary exits, however it exits. That is what lets a
// package drop its TestMain. Pdeathsig fires when the OS thread that
// started a child ends; emulators keeps that thread to the goroutine that
// waits for the child, so no other goroutine can end it. On
// other Unix systems there is no Pdeathsig and the emulators outlive the
// binary; the module's tests run on Linux.
var shared struct {
	once  sync.Once
	stack *emulators.Stack
	err   error
	// missing says why the emulators cannot run on this machine at all:
	// Node or the npm packages are not installed.
	missing string
	// names numbers the resources of UniqueName.
	names atomic.Int64
	// watched holds the running tests that check, as they end, that the
	// emulators outlived them.
	watched sync.Map
}

// Emulators returns the test binary's DynamoDB and SQS emulators, starting
// them on first use. Give each test its own table and queues (Table,
// Queues) so that tests can run in parallel on the one stack.
//
// When Node or the emulators' npm packages are missing, the test is
// skipped with what to install, unless CI=true, where it fails: CI must
// run every integration test. Any other failure to start fails the test.
func Emulators(t testing.TB) *emulators.Stack {
	t.Helper()
	shared.once.Do(startShared)
	if shared.missing != "" {
		msg := "this test needs the local AWS emulators (dynalite, fauxqs): " + shared.missing
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (required in CI)")
		}
		t.Skip(msg)
	}
	if shared.err != nil {
		t.Fatalf("start the local AWS emulators (dynalite, fauxqs): %v", shared.err)
	}
	if err := shared.stack.Exited(); err != nil {
		t.Fatalf("the local AWS emulators stopped before this test: %v", err)
	}
	if _, seen := shared.watched.LoadOrStore(t, true); !seen {
		// An emulator that dies during a test makes its calls fail with
		// "connection refused"; say why, once, beside them.
		t.Cleanup(func() {
			shared.watched.Delete(t)
			if err := shared.stack.Exited(); err != nil {
				t.Errorf("the local AWS emulators stopped during this test: %v", err)
			}
		})
	}
	return shared.stack
}

func startShared() {
	if _, err := exec.LookPath("node"); err != nil {
		shared.missing = "Node is not installed (no node on PATH)"
		return
	}
	// Not the test's context: the stack outlives the test that starts it.
	shared.stack, shared.err = emulators.Start(context.Background(), emulators.Options{})
	if errors.Is(shared.err, emulators.ErrNodeModules) || errors.Is(shared.err, exec.ErrNotFound) {
		shared.missing, shared.err = shared.err.Error(), nil
	}
}

// Table creates a table from template.yaml on the shared emulators, unique
// to the test and deleted when it ends, and returns its name.
func Table(t testing.TB) string {
	t.Helper()
	return emulators.NewTableT(t, Emulators(t))
}

// Queues creates the template's sync queue and dead-letter queue on the
// shared emulators, unique to the test and deleted when it ends.
func Queues(t testing.TB) emulators.Queues {
	t.Helper()
	return emulators.NewQueuesT(t, Emulators(t))
}

// UniqueName returns a name no other call in this test binary returns,
// derived from the test's name, for resources a test creates itself on the
// shared emulators (a queue with its own attributes). It is valid as a
// DynamoDB table name and leaves room for a 20-character suffix within an
// SQS queue name's 80.
func UniqueName(t testing.TB) string {
	var b strings.Builder
	for _, r := range t.Name() {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return "u-" + strings.Trim(b.String(), "-") + "-" + strconv.FormatInt(shared.names.Add(1), 10)
}
