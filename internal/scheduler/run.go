package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/source"
)

// run is the state of one tick shared by its sources.
type run struct {
	s     *Scheduler
	owner string // lease owner id, unique per tick

	mu   sync.Mutex
	hubs map[string]*hubEntry // by workspace
}

// hubEntry is a workspace's client for this tick, or why there is none.
type hubEntry struct {
	once sync.Once
	hub  Hub
	err  error
}

// hub returns the workspace's Contacthub client, built once per tick. Once
// Contacthub has refused the workspace's token, the other sources of the
// workspace are not tried again in this tick.
func (r *run) hub(ctx context.Context, workspace string) (Hub, error) {
	r.mu.Lock()
	e := r.hubs[workspace]
	if e == nil {
		e = &hubEntry{}
		r.hubs[workspace] = e
	}
	r.mu.Unlock()
	e.once.Do(func() {
		conn, err := r.s.cfg.Sources.Connection(ctx, workspace)
		if err != nil {
			e.err = fmt.Errorf("read the Contacthub connection of workspace %s: %w", workspace, err)
			return
		}
		e.hub, e.err = r.s.cfg.Hub(conn)
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return e.hub, e.err
}

// tokenRefused remembers that the workspace's token was refused.
func (r *run) tokenRefused(workspace string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.hubs[workspace]; e != nil {
		e.err = err
	}
}

// reading bounds a read from Contacthub or Contactsend, retries included,
// so that what it returns can still be sent and checkpointed: it ends half
// the margin before ctx's deadline. Sends and checkpoint writes use ctx.
func (r *run) reading(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-r.s.cfg.DeadlineMargin/2))
}

// inTime reports whether a new Contacthub read may start.
func (r *run) inTime(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > r.s.cfg.DeadlineMargin
}

// source works on one source under its lease.
func (r *run) source(ctx context.Context, id string) SourceReport {
	rep := SourceReport{SourceID: id}
	defer r.logOutcome(ctx, &rep)
	if !r.inTime(ctx) {
		rep.Outcome = Deferred
		return rep
	}
	src, err := r.s.cfg.Sources.GetByID(ctx, id)
	if errors.Is(err, configstore.ErrNotFound) {
		rep.Outcome = Skipped
		return rep
	}
	if err != nil {
		rep.Outcome, rep.Err = Failed, fmt.Errorf("read source: %w", err)
		return rep
	}
	if !src.Enabled {
		// The enabled index is eventually consistent; the item is not.
		rep.Outcome = Skipped
		return rep
	}
	lease, err := r.s.cfg.Checkpoints.AcquireLease(ctx, id, r.owner, r.s.cfg.Now(), r.s.cfg.Lease)
	if errors.Is(err, checkpoint.ErrLeaseHeld) {
		rep.Outcome = Busy
		return rep
	}
	if err != nil {
		rep.Outcome, rep.Err = Failed, err
		return rep
	}
	defer func() {
		// Released even when ctx has ended, so the next tick need not wait.
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.s.cfg.Checkpoints.ReleaseLease(releaseCtx, lease); err != nil {
			r.s.log.WarnContext(ctx, "lease not released", "source", id, "error", err)
		}
	}()

	rep.Feed = Worked
	if err := r.recordRun(ctx, src.ID, runs.Feed, &rep.FeedEnqueued, func(ctx context.Context) error { return r.feed(ctx, src, &rep) }); err != nil {
		rep.Feed, rep.Err = outcome(err), fmt.Errorf("feed: %w", err)
		if rep.Feed == Superseded || errors.Is(err, errTokenRefused) {
			// A newer run owns the source; or the backfill would meet the
			// same refusal.
			rep.Outcome = rep.Feed
			return rep
		}
	}
	// The backfill and the reconciliation set their part to Worked once
	// they have something to do.
	if err := r.recordRun(ctx, src.ID, runs.Backfill, &rep.BackfillEnqueued, func(ctx context.Context) error { return r.backfill(ctx, src, &rep) }); err != nil {
		rep.Backfill = outcome(err)
		rep.Err = errors.Join(rep.Err, fmt.Errorf("backfill: %w", err))
	}
	if err := r.recordRun(ctx, src.ID, runs.Reconcile, &rep.ReconcileEnqueued, func(ctx context.Context) error { return r.reconcile(ctx, src, &rep) }); err != nil {
		rep.Reconcile = outcome(err)
		rep.Err = errors.Join(rep.Err, fmt.Errorf("reconcile: %w", err))
	}
	rep.Outcome = overall(rep.Feed, rep.Backfill, rep.Reconcile)
	r.checkAlerts(ctx, src.ID, src.Name, rep.LagSeconds)
	return rep
}

// overall sums up the outcomes of the parts that ran.
func overall(parts ...Outcome) Outcome {
	worked, failed := false, false
	for _, p := range parts {
		switch p {
		case "":
		case Worked:
			worked = true
		case Superseded:
			return Superseded
		default:
			failed = true
		}
	}
	switch {
	case failed && worked:
		return Partial
	case failed:
		return Failed
	}
	return Worked
}

func outcome(err error) Outcome {
	if errors.Is(err, checkpoint.ErrConflict) {
		return Superseded
	}
	return Failed
}

// feed reads the source's change feed from its checkpoint and enqueues the
// changed customers, storing each new offset only after its jobs are sent.
func (r *run) feed(ctx context.Context, src source.Source, rep *SourceReport) error {
	cfg := r.s.cfg
	cp, found, err := cfg.Checkpoints.Feed(ctx, src.ID)
	if err != nil {
		return err
	}
	rep.Offset, rep.LagSeconds = cp.Offset, cp.LagSeconds
	hub, err := r.hub(ctx, src.WorkspaceID)
	if err != nil {
		return r.feedFailed(ctx, src, cp, err)
	}
	node := src.Node()
	if !found || !cp.Started || cp.NodeID != node {
		// A new source (or one moved to another node) starts from now: the
		// customers it already has are the backfill's job.
		readCtx, cancel := r.reading(ctx)
		last, err := hub.LastOffset(readCtx, node, contacthub.EntityCustomer)
		cancel()
		if err != nil {
			return r.feedFailed(ctx, src, cp, err)
		}
		now := cfg.Now()
		cp = checkpoint.Feed{
			NodeID: node, Offset: last, Started: true, LastPolledAt: now,
			UpdatedAt: now, UpdatedBy: r.owner, Version: cp.Version,
		}
		if cp, err = cfg.Checkpoints.SaveFeed(ctx, src.ID, cp); err != nil {
			return err
		}
		rep.Offset, rep.LagSeconds = cp.Offset, 0
		return nil
	}

	budget := cfg.MaxUpdates
	enqueued := 0
	for budget > 0 && r.inTime(ctx) {
		size := min(budget, contacthub.MaxUpdatesSize)
		offset := cp.Offset
		readCtx, cancel := r.reading(ctx)
		page, err := hub.Updates(readCtx, contacthub.UpdatesQuery{
			Offset: &offset, Size: size, NodeID: node, Entity: contacthub.EntityCustomer,
		})
		cancel()
		if err != nil {
			return r.feedFailed(ctx, src, cp, err)
		}
		now := cfg.Now()
		batch, oldest := coalesce(src.ID, page.Updates, now)
		if len(batch) > 0 {
			if err := cfg.Jobs.Send(ctx, batch...); err != nil {
				return r.feedFailed(ctx, src, cp, fmt.Errorf("enqueue %d jobs: %w", len(batch), err))
			}
		}
		enqueued += len(batch)
		budget -= len(page.Updates)
		caughtUp := len(page.Updates) < size

		next := cp
		// A reader is never sent back: a nextOffset below the offset asked
		// for would re-read what is already enqueued.
		next.Offset = max(page.NextOffset, cp.Offset)
		next.LastPolledAt, next.UpdatedAt, next.UpdatedBy = now, now, r.owner
		next.LastEnqueued = enqueued
		next.LastError, next.LastErrorAt = "", time.Time{}
		switch {
		case caughtUp:
			next.LagSeconds = 0
		case budget <= 0 || !r.inTime(ctx):
			next.LagSeconds = r.lag(ctx, hub, node, next.Offset, now, oldest)
		}
		if cp, err = cfg.Checkpoints.SaveFeed(ctx, src.ID, next); err != nil {
			// ErrConflict: a newer run moved the checkpoint; it owns the
			// feed now and the jobs just sent are harmless duplicates.
			return err
		}
		rep.FeedEnqueued, rep.Offset, rep.LagSeconds = enqueued, cp.Offset, cp.LagSeconds
		if caughtUp {
			break
		}
	}
	return nil
}

// lag is how old the oldest unread change is, read with a one-entry peek.
// When the peek fails, the age of the newest change read stands in: the
// oldest unread one is younger than it.
func (r *run) lag(ctx context.Context, hub Hub, node string, offset int64, now, fallback time.Time) int64 {
	readCtx, cancel := r.reading(ctx)
	page, err := hub.Updates(readCtx, contacthub.UpdatesQuery{Offset: &offset, Size: 1, NodeID: node, Entity: contacthub.EntityCustomer})
	cancel()
	at := fallback
	if err == nil && len(page.Updates) > 0 {
		if ref, ok := decodeRef(page.Updates[0]); ok && !ref.UpdatedAt.IsZero() {
			at = ref.UpdatedAt.Time
		}
	}
	if at.IsZero() || !now.After(at) {
		return 0
	}
	return int64(now.Sub(at) / time.Second)
}

// feedFailed records err as the feed's last error, keeping the offset, and
// returns it.
func (r *run) feedFailed(ctx context.Context, src source.Source, cp checkpoint.Feed, err error) error {
	err = refused(err)
	if errors.Is(err, errTokenRefused) {
		r.tokenRefused(src.WorkspaceID, err)
	}
	now := r.s.cfg.Now()
	cp.LastError, cp.LastErrorAt, cp.UpdatedAt, cp.UpdatedBy = describe(err), now, now, r.owner
	if cp.NodeID == "" {
		cp.NodeID = src.Node()
	}
	if _, serr := r.s.cfg.Checkpoints.SaveFeed(ctx, src.ID, cp); serr != nil && !errors.Is(serr, checkpoint.ErrConflict) {
		r.s.log.WarnContext(ctx, "feed error not recorded", "source", src.ID, "error", serr)
	}
	return err
}

// backfill advances a running backfill by up to the page budget.
func (r *run) backfill(ctx context.Context, src source.Source, rep *SourceReport) error {
	cfg := r.s.cfg
	b, found, err := cfg.Checkpoints.Backfill(ctx, src.ID)
	if err != nil || !found || b.Status != checkpoint.BackfillRunning {
		return err
	}
	hub, err := r.hub(ctx, src.WorkspaceID)
	if err != nil {
		return r.backfillFailed(ctx, src, b, err)
	}
	if cfg.Bulk != nil {
		return r.bulkBackfill(ctx, src, b, hub, rep)
	}
	rep.Backfill = Worked
	for pages := 0; pages < cfg.MaxBackfillPages && r.inTime(ctx); pages++ {
		readCtx, cancel := r.reading(ctx)
		page, err := hub.Customers(readCtx, contacthub.ListQuery{
			NodeID: src.Node(), Page: b.NextPage, Size: BackfillPageSize, Sort: backfillSort,
		})
		cancel()
		if err != nil {
			return r.backfillFailed(ctx, src, b, err)
		}
		now := cfg.Now()
		next := b
		next.UpdatedAt, next.UpdatedBy = now, r.owner
		next.LastError, next.LastErrorAt = "", time.Time{}
		total := page.Page.TotalElements
		if shrunk := b.Total - total; shrunk > 0 && b.NextPage > 0 {
			// Customers deleted since the last page moved later customers
			// onto pages already enqueued: step back far enough to cover
			// them rather than skip anyone.
			back := int((shrunk + BackfillPageSize - 1) / BackfillPageSize)
			next.NextPage, next.Total = max(0, b.NextPage-back), total
			if b, err = cfg.Checkpoints.SaveBackfill(ctx, src.ID, next); err != nil {
				return err
			}
			continue
		}
		batch := make([]jobs.Job, 0, len(page.Elements))
		for _, c := range page.Elements {
			if c.ID != "" {
				batch = append(batch, jobs.Job{SourceID: src.ID, CustomerID: c.ID, Reason: jobs.FromBackfill, EnqueuedAt: now})
			}
		}
		if len(batch) > 0 {
			if err := cfg.Jobs.Send(ctx, batch...); err != nil {
				return r.backfillFailed(ctx, src, b, fmt.Errorf("enqueue %d jobs: %w", len(batch), err))
			}
		}
		next.NextPage++
		next.Enqueued += int64(len(batch))
		next.Total = total
		done := len(page.Elements) < BackfillPageSize || next.NextPage >= page.Page.TotalPages
		if done {
			next.Status, next.FinishedAt = checkpoint.BackfillDone, now
		}
		if b, err = cfg.Checkpoints.SaveBackfill(ctx, src.ID, next); err != nil {
			// ErrConflict: restarted or taken over meanwhile; the new owner
			// of the checkpoint carries on.
			return err
		}
		rep.BackfillEnqueued += len(batch)
		if done {
			break
		}
	}
	return nil
}

// backfillFailed records err as the backfill's last error, keeping its
// page, and returns it.
func (r *run) backfillFailed(ctx context.Context, src source.Source, b checkpoint.Backfill, err error) error {
	err = refused(err)
	if errors.Is(err, errTokenRefused) {
		r.tokenRefused(src.WorkspaceID, err)
	}
	now := r.s.cfg.Now()
	b.LastError, b.LastErrorAt, b.UpdatedAt, b.UpdatedBy = describe(err), now, now, r.owner
	if _, serr := r.s.cfg.Checkpoints.SaveBackfill(ctx, src.ID, b); serr != nil && !errors.Is(serr, checkpoint.ErrConflict) {
		r.s.log.WarnContext(ctx, "backfill error not recorded", "source", src.ID, "error", serr)
	}
	return err
}

// customerRef is what the scheduler needs of a changed customer.
type customerRef struct {
	ID        string          `json:"id"`
	UpdatedAt contacthub.Time `json:"updatedAt"`
}

func decodeRef(u contacthub.Update) (customerRef, bool) {
	var ref customerRef
	if u.Entity.Type != contacthub.EntityCustomer || json.Unmarshal(u.Entity.Data, &ref) != nil || ref.ID == "" {
		return customerRef{}, false
	}
	return ref, true
}

// coalesce makes one job per customer of a feed page, in order of first
// appearance, and returns the newest change time seen. Deletions make jobs
// too: the worker finds the customer gone and applies the source's policy.
// Coalescing within one page is safe because every change of the page
// happened before the jobs are sent, so each job sees the latest of them.
func coalesce(sourceID string, updates []contacthub.Update, now time.Time) ([]jobs.Job, time.Time) {
	seen := make(map[string]bool, len(updates))
	batch := make([]jobs.Job, 0, len(updates))
	var newest time.Time
	for _, u := range updates {
		ref, ok := decodeRef(u)
		if !ok {
			continue
		}
		if ref.UpdatedAt.After(newest) {
			newest = ref.UpdatedAt.Time
		}
		if seen[ref.ID] {
			continue
		}
		seen[ref.ID] = true
		batch = append(batch, jobs.Job{SourceID: sourceID, CustomerID: ref.ID, Reason: jobs.FromFeed, EnqueuedAt: now})
	}
	return batch, newest
}

// logOutcome writes one line per source and tick, which is also a
// CloudWatch embedded-metric-format record of the counts and the lag.
func (r *run) logOutcome(ctx context.Context, rep *SourceReport) {
	level := slog.LevelInfo
	attrs := []any{
		"source", rep.SourceID, "outcome", string(rep.Outcome)}
	for _, part := range []struct {
		name    string
		outcome Outcome
	}{{"feed", rep.Feed}, {"backfill", rep.Backfill}, {"reconcile", rep.Reconcile}} {
		if part.outcome != "" {
			attrs = append(attrs, part.name, string(part.outcome))
		}
	}
	attrs = append(attrs, "offset", rep.Offset,
		"feedEnqueued", rep.FeedEnqueued, "backfillEnqueued", rep.BackfillEnqueued, "reconcileEnqueued", rep.ReconcileEnqueued,
		"lagSeconds", rep.LagSeconds,
	)
	if rep.Err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, "error", rep.Err.Error())
	}
	if rep.Outcome == Worked || rep.Outcome == Failed || rep.Outcome == Partial || rep.Outcome == Superseded {
		attrs = append(attrs, slog.Group("_aws",
			"Timestamp", r.s.cfg.Now().UnixMilli(),
			"CloudWatchMetrics", []map[string]any{{
				"Namespace":  "hubsend",
				"Dimensions": [][]string{{"source"}},
				"Metrics": []map[string]string{
					{"Name": "feedEnqueued", "Unit": "Count"},
					{"Name": "backfillEnqueued", "Unit": "Count"},
					{"Name": "lagSeconds", "Unit": "Seconds"},
				},
			}},
		))
	}
	r.s.log.Log(ctx, level, "scheduler source", attrs...)
}
