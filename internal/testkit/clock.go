package testkit

import (
	"sync"
	"time"
)

// Start is the time a Clock made by NewClock(time.Time{}) shows: a fixed
// instant, so test output is the same from run to run.
var Start = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// Clock is a manual clock: it shows the same time until told to move. Pass
// its Now method wherever code takes a func() time.Time. It is safe for
// concurrent use.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

// NewClock returns a clock showing start, or Start when start is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Start
	}
	return &Clock{now: start}
}

// Now returns the clock's time. With a step set (SetStep), it first moves
// the clock by the step, so that every reading is later than the last.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// Set moves the clock to t, forward or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d (back if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// SetStep makes every later call of Now move the clock by d before reading
// it, for code that needs distinct, increasing times (a simulator stamping
// each write) without the test moving the clock by hand. Zero stops it.
func (c *Clock) SetStep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = d
}
