package alerts

import (
	"context"
	"fmt"
	"time"
)

// Checker is what the scheduler calls after each tick of a source: it
// observes the source and checks it, reading the counters and the
// backfill only for sources that have alert settings. Its readers are
// functions so that this package depends on no other store.
type Checker struct {
	Monitor *Monitor
	// FailedSince counts a source's failed records since a time (the
	// ledger's hourly counters).
	FailedSince func(ctx context.Context, sourceID string, since time.Time) (int64, error)
	// Backfill says whether a source's backfill is running and when it
	// last advanced.
	Backfill func(ctx context.Context, sourceID string) (running bool, updatedAt time.Time, err error)
	Now      func() time.Time
}

// CheckSource observes and checks one source, given the feed lag the tick
// measured.
func (c Checker) CheckSource(ctx context.Context, sourceID, sourceName string, feedLagSeconds int64) error {
	// Read once: they say whether to observe at all, then what to check.
	settings, found, err := c.Monitor.store.Settings(ctx, sourceID)
	if err != nil || !found {
		return err
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	o := Observation{Now: now, FeedLagSeconds: feedLagSeconds}
	if o.FailedLastHour, err = c.FailedSince(ctx, sourceID, now.Add(-time.Hour)); err != nil {
		return fmt.Errorf("alerts: observe %s: %w", sourceID, err)
	}
	if o.BackfillRunning, o.BackfillUpdatedAt, err = c.Backfill(ctx, sourceID); err != nil {
		return fmt.Errorf("alerts: observe %s: %w", sourceID, err)
	}
	return c.Monitor.check(ctx, settings, sourceID, sourceName, o)
}
