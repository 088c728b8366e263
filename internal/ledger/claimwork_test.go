package ledger

import (
	"testing"
	"time"
)

func TestClaimWorkLeavesTimeToProlong(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name         string
		claim, spent time.Duration // spent: since the claim was taken
		want         time.Duration
	}{
		{"per-customer claim", 2 * time.Minute, 0, 110 * time.Second},
		{"bulk claim", 15 * time.Minute, 0, 15*time.Minute - 10*time.Second},
		{"short claim", time.Second, 0, 750 * time.Millisecond},
		{"a slow claim write counts", 2 * time.Minute, 30 * time.Second, 80 * time.Second},
		{"nothing left", 20 * time.Second, 18 * time.Second, -3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			taken := now.Add(-tt.spent)
			if got := ClaimWork(taken.Add(tt.claim), now, tt.claim); got != tt.want {
				t.Errorf("ClaimWork = %s, want %s", got, tt.want)
			}
		})
	}
}
