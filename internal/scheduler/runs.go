package scheduler

import (
	"context"
	"time"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/runs"
)

// recordRun runs one pass of a source (feed, backfill or reconciliation)
// as a run: its jobs carry the run's id, and a pass that enqueued jobs or
// failed is recorded when it ends. Losing the record costs history, not
// sync, so a failure to write it is logged only.
func (r *run) recordRun(ctx context.Context, sourceID, trigger string, enqueued *int, pass func(context.Context) error) error {
	recorder := r.s.cfg.Runs
	if recorder == nil {
		return pass(ctx)
	}
	start := r.s.cfg.Now()
	id := runs.NewID(start, trigger)
	before := *enqueued
	err := pass(jobs.WithRun(ctx, id))
	read := *enqueued - before
	if read == 0 && err == nil {
		return nil
	}
	rec := runs.Run{SourceID: sourceID, ID: id, Trigger: trigger, StartedAt: start, EndedAt: r.s.cfg.Now(), Read: int64(read)}
	if err != nil {
		rec.Error = describe(err)
	}
	writeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if werr := recorder.Record(writeCtx, rec); werr != nil {
		r.s.log.WarnContext(ctx, "run not recorded", "source", sourceID, "trigger", trigger, "error", werr)
	}
	return err
}

// checkAlerts checks the source's alert thresholds. An alert that cannot
// be checked is logged: the next tick checks again.
func (r *run) checkAlerts(ctx context.Context, sourceID, sourceName string, lagSeconds int64) {
	if r.s.cfg.Alerts == nil {
		return
	}
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := r.s.cfg.Alerts.CheckSource(checkCtx, sourceID, sourceName, lagSeconds); err != nil {
		r.s.log.WarnContext(ctx, "alerts not checked", "source", sourceID, "error", err)
	}
}
