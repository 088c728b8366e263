package retry

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

type transient struct{ after time.Duration }

func (transient) Error() string               { return "transient" }
func (transient) Temporary() bool             { return true }
func (t transient) RetryAfter() time.Duration { return t.after }

var errPermanent = errors.New("permanent")

func recordingSleep(waits *[]time.Duration) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return ctx.Err()
	}
}

func TestDo(t *testing.T) {
	tests := []struct {
		name      string
		results   []error
		wantCalls int
		wantErr   error
	}{
		{"success first", []error{nil}, 1, nil},
		{"transient then success", []error{transient{}, transient{}, nil}, 3, nil},
		{"permanent stops at once", []error{errPermanent, nil}, 1, errPermanent},
		{"wrapped permanent stops", []error{errors.Join(errPermanent)}, 1, errPermanent},
		{"attempts exhausted", []error{transient{}, transient{}, transient{}, transient{}, nil}, 4, transient{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var waits []time.Duration
			calls := 0
			p := Policy{Attempts: 4, Base: 10 * time.Millisecond, Max: 80 * time.Millisecond, Sleep: recordingSleep(&waits)}
			err := p.Do(context.Background(), func(context.Context) error {
				err := tt.results[calls]
				calls++
				return err
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if len(waits) != calls-1 {
				t.Errorf("waited %d times for %d calls", len(waits), calls)
			}
			for i, w := range waits {
				ceiling := min(p.Base<<i, p.Max)
				if w <= 0 || w > ceiling {
					t.Errorf("wait %d = %v, want in (0, %v]", i, w, ceiling)
				}
			}
		})
	}
}

func TestDoHonoursRetryAfter(t *testing.T) {
	var waits []time.Duration
	p := Policy{Attempts: 3, Base: time.Millisecond, Max: time.Second, Sleep: recordingSleep(&waits)}
	calls := 0
	_ = p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return transient{after: 2 * time.Second}
		}
		if calls == 2 {
			return transient{after: time.Hour}
		}
		return nil
	})
	want := []time.Duration{2 * time.Second, 4 * time.Second}
	if len(waits) != len(want) || waits[0] != want[0] || waits[1] != want[1] {
		t.Fatalf("waits = %v, want %v (server's wish, clipped at 4×Max)", waits, want)
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Policy{Attempts: 10}.Do(ctx, func(context.Context) error {
		calls++
		cancel()
		return transient{}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !errors.Is(err, transient{}) {
		t.Errorf("err = %v, want the last error kept", err)
	}
	if calls != 1 {
		t.Errorf("calls = %d, want 1", calls)
	}
}

func TestDoStopsBeforeWaitingPastTheDeadline(t *testing.T) {
	tests := []struct {
		name      string
		deadline  time.Duration
		after     time.Duration // the server's Retry-After
		wantCalls int
		outOfTime bool
	}{
		{"wait ends past the deadline", time.Second, 5 * time.Second, 1, true},
		{"wait fits before the deadline", time.Hour, 5 * time.Second, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			var waits []time.Duration
			calls := 0
			err := Policy{Attempts: 3, Max: time.Minute, Sleep: recordingSleep(&waits)}.Do(ctx, func(context.Context) error {
				calls++
				return transient{after: tt.after}
			})
			if calls != tt.wantCalls || len(waits) != calls-1 {
				t.Errorf("calls = %d, waits = %v; want %d calls", calls, waits, tt.wantCalls)
			}
			if got := errors.Is(err, ErrOutOfTime); got != tt.outOfTime {
				t.Errorf("err = %v; ErrOutOfTime = %v, want %v", err, got, tt.outOfTime)
			}
			// The caller still learns what failed and what the server asked.
			if !errors.Is(err, transient{after: tt.after}) || !Temporary(err) || RetryAfter(err) != tt.after {
				t.Errorf("err = %v lost the last error (Temporary %v, RetryAfter %v)", err, Temporary(err), RetryAfter(err))
			}
		})
	}
}

func TestDoRealTimerIsCancellable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Policy{Attempts: 2, Base: time.Hour, Max: time.Hour}.Do(ctx, func(context.Context) error { return transient{} })
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do kept waiting after its context was cancelled")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"2", 2 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := ParseRetryAfter(tt.header, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}
