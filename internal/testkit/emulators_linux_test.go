package testkit_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/testkit"
)

// TestEmulatorsDieWithTheTestBinary runs a test binary that starts the
// shared emulators and exits without stopping them, as every binary using
// the kit does, and checks that the kernel takes the emulators down with it.
func TestEmulatorsDieWithTheTestBinary(t *testing.T) {
	if os.Getenv(helperEnv) == "emulators" {
		testkit.Emulators(t)
		for _, pid := range emulatorChildren(t, os.Getpid()) {
			t.Logf("emulator-pid %d", pid)
		}
		return
	}
	t.Parallel()
	// The helper is a test binary that uses the emulators and, like every
	// package using the kit, has no TestMain to stop them.
	out, err := runHelper(t, "TestEmulatorsDieWithTheTestBinary", "emulators")
	if err != nil {
		t.Fatalf("helper binary: %v\n%s", err, out)
	}
	var pids []int
	for line := range strings.SplitSeq(out, "\n") {
		if _, pid, ok := strings.Cut(line, "emulator-pid "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(pid))
			if err != nil {
				t.Fatalf("helper output %q: %v", line, err)
			}
			pids = append(pids, n)
		}
	}
	if len(pids) == 0 {
		if strings.Contains(out, "--- SKIP") {
			t.Skipf("the helper skipped:\n%s", out)
		}
		t.Fatalf("the helper started no emulator processes:\n%s", out)
	}
	if len(pids) != 2 {
		t.Fatalf("the helper started %d emulator processes, want 2 (dynalite, fauxqs):\n%s", len(pids), out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for isEmulator(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("emulator %d outlived its test binary", pid)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
}

// emulatorChildren lists the dynalite and fauxqs processes whose parent is
// pid.
func emulatorChildren(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, stat := range stats {
		data, err := os.ReadFile(stat)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(data[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
		if err == nil && isEmulator(child) {
			out = append(out, child)
		}
	}
	return out
}

// isEmulator reports whether pid is a live (not zombie) dynalite or fauxqs.
func isEmulator(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !(bytes.Contains(cmdline, []byte("dynalite")) || bytes.Contains(cmdline, []byte("fauxqs"))) {
		return false
	}
	status, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	defer status.Close()
	scanner := bufio.NewScanner(status)
	for scanner.Scan() {
		if state, ok := strings.CutPrefix(scanner.Text(), "State:"); ok {
			return !strings.HasPrefix(strings.TrimSpace(state), "Z")
		}
	}
	return true
}
