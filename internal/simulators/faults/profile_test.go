package faults

import (
	"slices"
	"testing"
	"time"
)

func TestServiceTime(t *testing.T) {
	i := New(1)
	if d := i.ServiceTime("addSubscribers", 500); d != 0 {
		t.Fatalf("without a profile: %v, want 0", d)
	}
	i.SetProfile(ContactsendProfile())
	const n = 2000
	draw := func(op string, items int) []time.Duration {
		out := make([]time.Duration, n)
		for k := range out {
			out[k] = i.ServiceTime(op, items)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		op     string
		items  int
		median time.Duration
	}{
		{"addSubscriber", 0, 90 * time.Millisecond},
		{"addSubscribers", 500, 150*time.Millisecond + 500*4*time.Millisecond},
		{"notListed", 0, 60 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			d := draw(tt.op, tt.items)
			if med := d[n/2]; med < tt.median*9/10 || med > tt.median*11/10 {
				t.Errorf("median %v, want about %v", med, tt.median)
			}
			if p99 := d[n*99/100]; p99 < tt.median*3/2 || p99 > tt.median*3 {
				t.Errorf("p99 %v, want between 1.5× and 3× the median %v (jitter)", p99, tt.median)
			}
			if d[0] <= 0 {
				t.Errorf("a service time of %v", d[0])
			}
		})
	}
	i.SetProfile(nil)
	if d := i.ServiceTime("addSubscriber", 0); d != 0 {
		t.Fatalf("after removing the profile: %v", d)
	}
}
