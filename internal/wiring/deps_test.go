package wiring_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestFunctionsLinkOnlyWhatTheyUse keeps each Lambda binary to its own
// function's packages (one builder per function is what makes that
// possible), and keeps what plays AWS or Contactlab locally, and the test
// kit, out of all of them.
func TestFunctionsLinkOnlyWhatTheyUse(t *testing.T) {
	const module = "github.com/hubsend/hubsend/"
	everywhere := []string{"internal/localaws/", "internal/simulators/", "internal/bench", "internal/testkit"}
	for _, tc := range []struct {
		function  string
		forbidden []string
	}{
		{"webhook", []string{"internal/ledger", "internal/subscriptions", "internal/syncer", "internal/scheduler", "internal/checkpoint", "internal/configapi", "internal/console"}},
		{"syncworker", []string{"internal/scheduler", "internal/checkpoint", "internal/webhook", "internal/configapi", "internal/console"}},
		// The bulk worker takes its jobs' leases where the scheduler keeps its own (checkpoint).
		{"bulkworker", []string{"internal/scheduler", "internal/webhook", "internal/configapi", "internal/console"}},
		{"scheduler", []string{"internal/syncer", "internal/bulk", "internal/webhook", "internal/configapi", "internal/console"}},
		{"sourcetick", []string{"internal/syncer", "internal/webhook", "internal/configapi", "internal/console"}},
		{"configapi", []string{"internal/webhook"}},
	} {
		t.Run(tc.function, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", module+"functions/"+tc.function).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			for dep := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
				path, ok := strings.CutPrefix(dep, module)
				if !ok {
					continue
				}
				if slices.ContainsFunc(append(tc.forbidden, everywhere...), func(p string) bool { return path == p || strings.HasPrefix(path, p) }) {
					t.Errorf("functions/%s links %s", tc.function, path)
				}
			}
		})
	}
}
