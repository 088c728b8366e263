package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hubsend/hubsend/internal/ticks"
)

// TickSender puts ticks on the fan-out queue (*ticks.Queue).
type TickSender interface {
	Send(ctx context.Context, ticks ...ticks.Tick) error
}

// ErrNoTickQueue is Dispatch on a scheduler without Config.Ticks.
var ErrNoTickQueue = errors.New("scheduler: no tick queue to fan out to")

// Dispatch is the scheduled tick when it fans out: it lists the enabled
// sources and sends one tick per source, stamped at (the scheduled time),
// to the tick queue, whose consumer runs each with RunSource. It returns
// how many ticks it sent; a send that failed for some sources names them,
// and the others' ticks are sent all the same.
func (s *Scheduler) Dispatch(ctx context.Context, at time.Time) (int, error) {
	if s.cfg.Ticks == nil {
		return 0, ErrNoTickQueue
	}
	if at.IsZero() {
		at = s.cfg.Now()
	}
	ids, err := s.cfg.Sources.EnabledSources(ctx)
	if err != nil {
		return 0, fmt.Errorf("scheduler: list enabled sources: %w", err)
	}
	batch := make([]ticks.Tick, len(ids))
	for i, id := range ids {
		batch[i] = ticks.Tick{SourceID: id, At: at.UTC()}
	}
	if err := s.cfg.Ticks.Send(ctx, batch...); err != nil {
		return len(ids), fmt.Errorf("scheduler: send %d ticks: %w", len(ids), err)
	}
	return len(ids), nil
}

// FansOut reports whether the scheduler has a tick queue to Dispatch to.
func (s *Scheduler) FansOut() bool { return s.cfg.Ticks != nil }

// RunSource works on one source for one tick, under the source's lease and
// within ctx's deadline (the invocation's own), as Tick does for each
// source. A tick already covered by a run that read the source's change
// feed after the tick was sent is not run again: ticks that queued up
// behind a slow run cost one checkpoint read each.
func (s *Scheduler) RunSource(ctx context.Context, t ticks.Tick) SourceReport {
	r := &run{s: s, owner: "source-" + randomID(), hubs: map[string]*hubEntry{}}
	feed, found, err := s.cfg.Checkpoints.Feed(ctx, t.SourceID)
	if err == nil && found && feed.LastPolledAt.After(t.At) {
		rep := SourceReport{SourceID: t.SourceID, Outcome: Covered, Offset: feed.Offset, LagSeconds: feed.LagSeconds}
		r.logOutcome(ctx, &rep)
		return rep
	}
	return r.source(ctx, t.SourceID)
}
