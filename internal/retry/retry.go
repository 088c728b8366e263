// Package retry runs an operation again after transient failures, with
// full-jitter exponential backoff that honours a server's Retry-After.
//
// Whether an error is worth retrying is decided by the error itself: it (or an
// error it wraps) reports Temporary() == true. Everything else stops at once,
// so a permanent failure is never repeated.
//
// A context deadline bounds the whole budget: no wait is started that would
// end past it, so a caller with little time left gets the last error back
// at once (wrapped in ErrOutOfTime) instead of a sleep cut short.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Policy says how often and how patiently to retry.
type Policy struct {
	// Attempts is the total number of calls, the first included.
	Attempts int
	// Base is the backoff ceiling before the second attempt; it doubles per attempt.
	Base time.Duration
	// Max caps the computed backoff. A server's Retry-After may exceed it up to
	// four times, beyond which the server's wish is clipped so one call cannot
	// stall a job for minutes.
	Max time.Duration
	// Sleep waits for d or until ctx ends. Nil means a real timer; tests pass
	// an instant one.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Default suits a call made inside a queued job: a few quick tries, then the
// queue's own redelivery takes over.
var Default = Policy{Attempts: 4, Base: 100 * time.Millisecond, Max: 5 * time.Second}

// ErrOutOfTime wraps the last error when the context's deadline leaves no
// room for the wait before another attempt. The last error stays in the
// chain, so Temporary and RetryAfter still answer for it.
var ErrOutOfTime = errors.New("no time left for another attempt")

// Do calls fn until it succeeds, returns an error that is not temporary, the
// attempts run out, the next wait would end past ctx's deadline, or ctx
// ends. It returns the last error from fn (wrapped in ErrOutOfTime when the
// deadline stopped it), or ctx's error wrapped with the last one when the
// context ended first.
func (p Policy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	p = p.withDefaults()
	var err error
	for attempt := 0; attempt < p.Attempts; attempt++ {
		if attempt > 0 {
			d := p.delay(attempt, err)
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
				return fmt.Errorf("%w (wait %s, deadline in %s): %w", ErrOutOfTime, d.Round(time.Millisecond), time.Until(deadline).Round(time.Millisecond), err)
			}
			if serr := p.Sleep(ctx, d); serr != nil {
				return fmt.Errorf("%w (last error: %w)", serr, err)
			}
		}
		err = fn(ctx)
		if err == nil || !Temporary(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
	}
	return err
}

// Temporary reports whether err, or an error it wraps, says it is worth retrying.
func Temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// RetryAfter returns the wait a server asked for through err, or zero.
func RetryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

// ParseRetryAfter reads a Retry-After header value, delay-seconds or an HTTP
// date (measured from now), as a wait; zero when absent, unreadable or past.
func ParseRetryAfter(header string, now time.Time) time.Duration {
	if header == "" {
		return 0
	}
	if secs, err := strconv.Atoi(header); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(header); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (p Policy) withDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = Default.Attempts
	}
	if p.Base <= 0 {
		p.Base = Default.Base
	}
	if p.Max <= 0 {
		p.Max = Default.Max
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// delay is the wait before the given attempt (1 = the second call).
func (p Policy) delay(attempt int, err error) time.Duration {
	if d := RetryAfter(err); d > 0 {
		return min(d, 4*p.Max)
	}
	ceiling := p.Base << min(attempt-1, 30)
	if ceiling <= 0 || ceiling > p.Max {
		ceiling = p.Max
	}
	// Full jitter spreads a crowd of retrying workers across the whole window.
	return rand.N(ceiling) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
