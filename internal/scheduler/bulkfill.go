package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
)

// BulkQueue is the bulk lane's queue (*jobs.BulkQueue).
type BulkQueue interface {
	SendBulk(ctx context.Context, bulk ...jobs.BulkJob) error
	Depth(ctx context.Context) (int, error)
}

// BulkLane makes backfills (first loads, resyncs) feed the bulk lane: jobs
// of PagesPerJob customer pages on their own queue, added only while the
// queue holds fewer than MaxDepth messages, so a backfill of millions
// never sits in front of live changes and never fills a queue faster than
// the bulk workers drain it.
type BulkLane struct {
	Queue BulkQueue
	// PagesPerJob defaults to DefaultBulkPagesPerJob.
	PagesPerJob int
	// MaxDepth defaults to DefaultBulkMaxDepth.
	MaxDepth int
}

// Defaults of BulkLane.
const (
	// DefaultBulkPagesPerJob makes a job of 1,000 customers: two
	// addSubscribers pages of Contactsend's guidance for a bulk call, and
	// few enough jobs that their fixed costs (reading the source, the
	// counters) stay under a request per 200 customers.
	DefaultBulkPagesPerJob = 20
	// DefaultBulkMaxDepth keeps about two jobs per bulk worker of the
	// template (ten) waiting.
	DefaultBulkMaxDepth = 20
)

// bulkBackfill advances a running backfill by bulk jobs: the node's page
// count from one Contacthub read, then jobs from the checkpoint's page
// while the bulk queue is below its bound.
func (r *run) bulkBackfill(ctx context.Context, src source.Source, b checkpoint.Backfill, hub Hub, rep *SourceReport) error {
	cfg := r.s.cfg
	lane := cfg.Bulk
	per, bound := lane.PagesPerJob, lane.MaxDepth
	if per <= 0 {
		per = DefaultBulkPagesPerJob
	}
	if bound <= 0 {
		bound = DefaultBulkMaxDepth
	}
	depth, err := lane.Queue.Depth(ctx)
	if err != nil {
		return r.backfillFailed(ctx, src, b, err)
	}
	rep.Backfill = Worked
	if depth >= bound {
		return nil
	}
	readCtx, cancel := r.reading(ctx)
	page, err := hub.Customers(readCtx, contacthub.ListQuery{NodeID: src.Node(), Page: 0, Size: 1, Sort: backfillSort})
	cancel()
	if err != nil {
		return r.backfillFailed(ctx, src, b, err)
	}
	total := page.Page.TotalElements
	pages := int((total + BackfillPageSize - 1) / BackfillPageSize)
	now := cfg.Now()
	var batch []jobs.BulkJob
	next := b
	// Customers deleted since the last jobs were made moved later customers
	// onto pages those jobs covered. The first job made now carries the
	// node's count of then, so that its loader, finding the node smaller,
	// reads back as far as it shrank (see package bulk); the others were
	// made with the same pages as it.
	since := total
	if b.NextPage > 0 && b.Total > total {
		since = b.Total
	}
	for next.NextPage < pages && depth+len(batch) < bound {
		n := min(per, pages-next.NextPage)
		batch = append(batch, jobs.BulkJob{Kind: jobs.FromBulk, SourceID: src.ID, RunID: b.RunID, Pass: jobs.RunOf(ctx), FirstPage: next.NextPage,
			Pages: n, Size: BackfillPageSize, Total: since, EnqueuedAt: now})
		since = total
		customers := min(int64(n*BackfillPageSize), total-int64(next.NextPage*BackfillPageSize))
		next.Enqueued += customers
		next.NextPage += n
	}
	if len(batch) > 0 {
		if err := lane.Queue.SendBulk(ctx, batch...); err != nil {
			return r.backfillFailed(ctx, src, b, fmt.Errorf("enqueue %d bulk jobs: %w", len(batch), err))
		}
	}
	next.Total, next.UpdatedAt, next.UpdatedBy = total, now, r.owner
	next.LastError, next.LastErrorAt = "", time.Time{}
	if next.NextPage >= pages {
		next.Status, next.FinishedAt = checkpoint.BackfillDone, now
	}
	if _, err := cfg.Checkpoints.SaveBackfill(ctx, src.ID, next); err != nil {
		return err
	}
	rep.BackfillEnqueued += int(next.Enqueued - b.Enqueued)
	return nil
}
