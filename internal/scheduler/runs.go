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
