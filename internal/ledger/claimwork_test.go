package ledger

import (
	"testing"
	"time"
)

func TestClaimWorkLeavesTimeToProlong(t *testing.T) {
	for _, tt := range []struct {
		claim, want time.Duration
	}{
		{2 * time.Minute, 110 * time.Second},
		{15 * time.Minute, 15*time.Minute - 10*time.Second},
		{time.Second, 750 * time.Millisecond},
		{20 * time.Second, 15 * time.Second},
	} {
		t.Run(tt.claim.String(), func(t *testing.T) {
			if got := ClaimWork(tt.claim); got != tt.want {
				t.Errorf("ClaimWork(%s) = %s, want %s", tt.claim, got, tt.want)
			}
		})
	}
}
