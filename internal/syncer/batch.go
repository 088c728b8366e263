package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/source"
)

// group is the jobs of one source in a batch.
type group struct {
	sourceID string
	tasks    []*task
	byKey    map[string]*task
}

// groupResult is what a group did: the messages to give back to SQS, and
// the counters for the stats and metrics.
type groupResult struct {
	failed    []string
	counts    ledger.Counts
	lastError string
	latency   time.Duration
	processed bool // false when the source was missing or disabled
}

// HandleSQS runs a batch of sync jobs and reports, as partial batch
// failures, only the messages that failed transiently: SQS delivers them
// again, and after maxReceiveCount moves them to the dead-letter queue.
// Messages that can never succeed (undecodable, a missing source) and
// permanent failures (written as failed records) are acknowledged.
func (w *Worker) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var order []*group
	groups := make(map[string]*group)
	for _, rec := range ev.Records {
		job, err := jobs.Decode(rec.Body)
		if err != nil {
			// Never retried: a malformed body stays malformed.
			w.log.WarnContext(ctx, "sync job undecodable, acknowledged", "message_id", rec.MessageId, "error", err.Error())
			continue
		}
		g := groups[job.SourceID]
		if g == nil {
			g = &group{sourceID: job.SourceID, byKey: make(map[string]*task)}
			groups[job.SourceID] = g
			order = append(order, g)
		}
		key := "c:" + job.CustomerID
		if job.CustomerID == "" {
			key = "s:" + strconv.FormatInt(job.SubscriberID, 10)
		}
		if t := g.byKey[key]; t != nil {
			// Jobs are level-triggered: one run serves every copy.
			t.messageIDs = append(t.messageIDs, rec.MessageId)
			if job.EnqueuedAt.Before(t.enqueuedAt) {
				t.enqueuedAt = job.EnqueuedAt
			}
			if job.EventAt.After(t.eventAt) {
				t.eventAt = job.EventAt
			}
			continue
		}
		t := &task{customerID: job.CustomerID, subscriberID: job.SubscriberID, jobReason: string(job.Reason),
			messageIDs: []string{rec.MessageId}, enqueuedAt: job.EnqueuedAt, eventAt: job.EventAt}
		g.byKey[key] = t
		g.tasks = append(g.tasks, t)
	}

	results := make([]groupResult, len(order))
	var wg sync.WaitGroup
	for i, g := range order {
		wg.Go(func() { results[i] = w.runGroup(ctx, g) })
	}
	wg.Wait()

	var resp events.SQSEventResponse
	for i, g := range order {
		r := results[i]
		for _, id := range r.failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		if !r.processed {
			continue
		}
		w.metrics(ctx, g.sourceID, r.counts)
		// Counters are written once per source per batch; losing them on an
		// error costs visibility, not data, so jobs are not failed for it.
		stats := ledger.Batch{Counts: r.counts, LastError: r.lastError, ProcessedAt: w.now(), JobLatency: r.latency}
		if err := w.ledger.AddStats(context.WithoutCancel(ctx), g.sourceID, stats); err != nil {
			w.log.ErrorContext(ctx, "write sync stats", "source_id", g.sourceID, "error", err.Error())
		}
	}
	return resp, nil
}

// runGroup reads the source and its connection once and runs its jobs.
func (w *Worker) runGroup(ctx context.Context, g *group) groupResult {
	var res groupResult
	done := func(t *task, r result, start time.Time) {
		w.logJob(ctx, g.sourceID, t, r, w.now().Sub(start))
	}
	src, err := w.sources.GetByID(ctx, g.sourceID)
	if errors.Is(err, configstore.ErrNotFound) || (err == nil && !src.Enabled) {
		reason := "source not found"
		if err == nil {
			reason = "source disabled"
		}
		for _, t := range g.tasks {
			done(t, result{outcome: Ignored, reason: reason}, w.now())
		}
		return res
	}
	res.processed = true
	if err != nil {
		return w.failAll(ctx, g, &res, retryLater("source read failed", err))
	}
	e, err := w.prepare(ctx, src)
	if err != nil {
		if transient(err) || !errors.Is(err, errConfiguration) {
			return w.failAll(ctx, g, &res, retryLater("source setup failed", err))
		}
		// A configuration that cannot work (no connection, bad
		// credentials) fails every job visibly instead of filling the DLQ.
		for _, t := range g.tasks {
			start := w.now()
			var r result
			if t.customerID == "" {
				// A Contactsend-side job names no customer to hold a failed
				// record; it is dropped with a log line, and the
				// reconciliation finds the change again once the source's
				// configuration is fixed.
				r = result{outcome: Failed, reason: "source configuration unusable", err: err}
				w.log.WarnContext(ctx, "subscriber job dropped: the source's configuration is unusable",
					"source_id", src.ID, "subscriber_id", t.subscriberID, "error", err)
			} else {
				r = w.fail(ctx, &env{src: src}, jobRef{t.customerID, jobs.Reason(t.jobReason)}, failure{ledger.Other, err.Error(), "source configuration unusable"})
			}
			w.tally(&res, t, r)
			done(t, r, start)
		}
		return res
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, min(DefaultJobsPerSource, 2*src.Properties.InFlight()))
	for _, t := range g.tasks {
		if w.deadlineNear(ctx) {
			r := retryLater("invocation deadline near; job not started", nil)
			mu.Lock()
			w.tally(&res, t, r)
			mu.Unlock()
			done(t, r, w.now())
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			start := w.now()
			r := w.run(ctx, e, t)
			mu.Lock()
			w.tally(&res, t, r)
			mu.Unlock()
			done(t, r, start)
		})
	}
	wg.Wait()
	return res
}

// errConfiguration marks setup errors that no retry can fix.
var errConfiguration = errors.New("source configuration unusable")

// prepare builds what a source's jobs share.
func (w *Worker) prepare(ctx context.Context, src source.Source) (*env, error) {
	conn, err := w.connection(ctx, src.WorkspaceID)
	if errors.Is(err, configstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: workspace %s has no Contacthub connection", errConfiguration, src.WorkspaceID)
	}
	if err != nil {
		return nil, fmt.Errorf("read connection of workspace %s: %w", src.WorkspaceID, err)
	}
	hub, err := w.hub(conn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfiguration, err)
	}
	send := limitedSend{send: w.send, l: w.limiter(src)}
	fields, err := w.userDBFields(ctx, src, send)
	if err != nil {
		if transient(err) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errConfiguration, err)
	}
	e := &env{src: src, hub: hub, send: send, cred: credentials(src), mapper: mapping.NewMapper(rules(src), fields)}
	for _, m := range src.MatchFields() {
		e.match = append(e.match, m.SendField)
	}
	return e, nil
}

func (w *Worker) failAll(ctx context.Context, g *group, res *groupResult, r result) groupResult {
	for _, t := range g.tasks {
		w.tally(res, t, r)
		w.logJob(ctx, g.sourceID, t, r, 0)
	}
	return *res
}

// deadlineNear reports whether too little of the invocation is left to
// start a job.
func (w *Worker) deadlineNear(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && deadline.Sub(w.now()) < w.margin
}

// tally adds a job's result to its group's; the caller holds the lock.
func (w *Worker) tally(res *groupResult, t *task, r result) {
	switch r.outcome {
	case Added, Updated:
		res.counts.Synced++
	case Unchanged:
		res.counts.Unchanged++
	case Failed:
		res.counts.Failed++
		res.lastError = r.reason
	case Deleted, Skipped:
		r.count(&res.counts)
	case Retry:
		res.counts.Retried++
		res.failed = append(res.failed, t.messageIDs...)
		res.lastError = r.reason
		if r.err != nil {
			res.lastError += ": " + r.err.Error()
		}
	}
	if !t.enqueuedAt.IsZero() {
		res.latency = max(res.latency, w.now().Sub(t.enqueuedAt))
	}
}

// logJob writes the one line per job outcome. It names ids only: reasons
// are written to be free of customer data.
func (w *Worker) logJob(ctx context.Context, sourceID string, t *task, r result, took time.Duration) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("source_id", sourceID),
		slog.String("customer_id", firstNonEmpty(t.customerID, r.customerID)),
		slog.Any("message_ids", t.messageIDs),
		slog.String("job_reason", t.jobReason),
		slog.String("outcome", string(r.outcome)),
		slog.Int64("duration_ms", took.Milliseconds()),
	}
	if t.subscriberID != 0 || r.subscriber != 0 {
		attrs = append(attrs, slog.Int64("subscriber_id", max(t.subscriberID, r.subscriber)))
	}
	if r.reason != "" {
		attrs = append(attrs, slog.String("reason", r.reason))
	}
	switch r.outcome {
	case Retry:
		level = slog.LevelWarn
		if r.err != nil {
			attrs = append(attrs, slog.String("error", r.err.Error()))
		}
	case Failed:
		level = slog.LevelWarn
	}
	w.log.LogAttrs(ctx, level, "sync job", attrs...)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// metrics writes one CloudWatch embedded-metric-format line per source and
// batch.
func (w *Worker) metrics(ctx context.Context, sourceID string, c ledger.Counts) {
	w.log.LogAttrs(ctx, slog.LevelInfo, "sync metrics",
		slog.Any("_aws", map[string]any{
			"Timestamp": w.now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "hubsend",
				"Dimensions": [][]string{{"SourceId"}},
				"Metrics": []any{
					map[string]any{"Name": "Synced", "Unit": "Count"},
					map[string]any{"Name": "Unchanged", "Unit": "Count"},
					map[string]any{"Name": "Failed", "Unit": "Count"},
					map[string]any{"Name": "Retried", "Unit": "Count"},
				},
			}},
		}),
		slog.String("SourceId", sourceID),
		slog.Int64("Synced", c.Synced),
		slog.Int64("Unchanged", c.Unchanged),
		slog.Int64("Failed", c.Failed),
		slog.Int64("Retried", c.Retried),
	)
}
