package runs

import (
	"strings"
	"testing"
	"time"
)

func TestRunIDs(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 0, 0, 123e6, time.UTC)
	id := NewID(start, Feed)
	if !strings.HasPrefix(id, "20261130T100000.123Z-feed-") || !ValidID(id) {
		t.Fatalf("NewID = %q", id)
	}
	if later := NewID(start.Add(time.Millisecond), Backfill); later <= id {
		t.Fatalf("ids do not sort by start: %q before %q", later, id)
	}
	for _, bad := range []string{"", "feed", "20261130T100000.123Z", "20261130T100000.123Z-feed-ZZ", "x0261130T100000.123Z-feed-abcdef",
		"20261130T100000.123Z-feed-abcdef#LEDGER", strings.Repeat("a", 65)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
