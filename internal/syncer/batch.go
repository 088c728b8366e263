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
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
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
	failed []givenBack
	// finished are the tasks that came to an end (not given back).
	finished []*task
	counts   ledger.Counts
	// runs is what the batch made of each scheduler run's jobs.
	runs      map[string]*runs.Outcomes
	lastError string
	latency   time.Duration
	processed bool // false when the source was missing or disabled
}

// HandleSQS runs a batch of sync jobs and reports, as partial batch
// failures, only the messages that failed transiently: SQS delivers them
// again, and after maxReceiveCount moves them to the dead-letter queue.
// Messages that can never succeed (undecodable, a missing source) and
// permanent failures (written as failed records) are acknowledged.
//
// The jobs run on a context that ends DeadlineMargin before the
// invocation's: a job cut off by it is given back like any transient
// failure, and the margin is left to postpone the messages given back
// (Config.Queue), write the counters and answer before Lambda's timeout,
// which would give back the whole batch.
func (w *Worker) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	jobCtx, cancelJobs := w.jobContext(ctx)
	defer cancelJobs()
	var order []*group
	groups := make(map[string]*group)
	messages := make(map[string]delivered, len(ev.Records))
	for _, rec := range ev.Records {
		job, err := jobs.Decode(rec.Body)
		if err != nil {
			// Never retried: a malformed body stays malformed.
			w.log.WarnContext(ctx, "sync job undecodable, acknowledged", "message_id", rec.MessageId, "error", err.Error())
			continue
		}
		messages[rec.MessageId] = delivered{record: rec, job: job}
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
		if runs.ValidID(job.RunID) {
			t.runID = job.RunID
		}
		g.byKey[key] = t
		g.tasks = append(g.tasks, t)
	}

	results := w.runGroups(ctx, jobCtx, order)
	cancelJobs()

	// What follows must end before the invocation does, whatever the jobs
	// left of the time: it runs on its own bounded context.
	finishCtx, cancelFinish := w.finishContext(ctx)
	defer cancelFinish()
	var backs []givenBack
	for i := range results {
		for j, b := range results[i].failed {
			results[i].failed[j].delay = b.delayAfter(messages[b.messageID].receives())
		}
		backs = append(backs, results[i].failed...)
	}
	backs = w.sendAgain(finishCtx, messages, backs)
	var resp events.SQSEventResponse
	for _, b := range backs {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: b.messageID})
	}
	w.postpone(finishCtx, messages, backs)
	var wg sync.WaitGroup
	for i, g := range order {
		r := results[i]
		if !r.processed {
			continue
		}
		w.metrics(ctx, g.sourceID, r.counts)
		wg.Go(func() {
			w.trackWaiting(finishCtx, g.sourceID, messages, r)
			// Counters are written once per source per batch; losing them on
			// an error costs visibility, not data, so jobs are not failed for it.
			stats := ledger.Batch{Counts: r.counts, LastError: r.lastError, ProcessedAt: w.now(), JobLatency: r.latency}
			if err := w.ledger.AddStats(finishCtx, g.sourceID, stats); err != nil {
				w.log.ErrorContext(ctx, "write sync stats", "source_id", g.sourceID, "error", err.Error())
			}
			if w.runs == nil {
				return
			}
			for id, o := range r.runs {
				if err := w.runs.AddOutcomes(finishCtx, g.sourceID, id, *o); err != nil {
					w.log.ErrorContext(ctx, "write run outcomes", "source_id", g.sourceID, "run_id", id, "error", err.Error())
				}
			}
		})
	}
	wg.Wait()
	return resp, nil
}

// runGroups runs every group's jobs and returns their results. Jobs end
// with jobCtx; should one of them not (a dependency that ignores its
// context), the batch does not wait for it past half the margin before
// the invocation's deadline: its group's messages are all given back,
// which repeats nothing harmful (jobs are level-triggered) and still beats
// a Lambda timeout, which gives back the whole batch and counts an error.
func (w *Worker) runGroups(ctx, jobCtx context.Context, order []*group) []groupResult {
	results := make([]groupResult, len(order))
	done := make([]chan struct{}, len(order))
	for i, g := range order {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			results[i] = w.runGroup(jobCtx, g)
		}()
	}
	var giveUp <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		timer := time.NewTimer(time.Until(deadline.Add(-w.margin / 2)))
		defer timer.Stop()
		giveUp = timer.C
	}
	final := make([]groupResult, len(order))
	late := false
	for i, g := range order {
		if !late {
			select {
			case <-done[i]:
				final[i] = results[i]
				continue
			case <-giveUp:
				late = true
			}
		}
		select {
		case <-done[i]:
			final[i] = results[i]
			continue
		default:
		}
		w.log.ErrorContext(ctx, "sync jobs outlived their deadline; their messages are given back", "source_id", g.sourceID, "jobs", len(g.tasks))
		final[i].processed = true
		r := retryLater("jobs outlived the invocation's deadline", errNotStarted)
		for _, t := range g.tasks {
			w.tally(&final[i], t, r)
		}
	}
	return final
}

// jobContext is the context jobs run on: it ends DeadlineMargin before
// ctx's deadline. Without a deadline (tests, tools) it is ctx's.
func (w *Worker) jobContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-w.margin))
}

// finishContext bounds the work after the jobs (postponing messages,
// writing counters): it is not cancelled with the jobs but ends a quarter
// of the margin before the invocation's deadline, leaving that to answer;
// without a deadline, after one margin.
func (w *Worker) finishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(detached, w.margin)
	}
	return context.WithDeadline(detached, deadline.Add(-w.margin/4))
}

// cleanupContext bounds a write that undoes a job's half-done state (an add
// claim nobody acted on) after the job's own context may have ended.
func (w *Worker) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), w.margin/4)
}

// runGroup reads the source and its connection once and runs its jobs.
func (w *Worker) runGroup(ctx context.Context, g *group) groupResult {
	var res groupResult
	done := func(t *task, r result, start time.Time) {
		w.logJob(ctx, g.sourceID, t, r, w.now().Sub(start))
	}
	if w.deadlineNear(ctx) {
		return w.failAll(ctx, g, &groupResult{processed: true}, retryLater("invocation deadline near; job not started", errNotStarted))
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
				r = w.fail(ctx, &env{src: src}, jobRef{customerID: t.customerID, reason: jobs.Reason(t.jobReason)}, failure{ledger.Other, err.Error(), "source configuration unusable"})
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
			r := retryLater("invocation deadline near; job not started", errNotStarted)
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
			r := w.run(withCalls(ctx, &t.calls), e, t)
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
	if _, ok := hub.(SubscriptionHub); ok {
		hub = countedHub{hub} // a client without them is not counted
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

// errNotStarted is the cause of a job given back untried for lack of time.
var errNotStarted = errors.New("job not started")

// deadlineNear reports whether too little of the jobs' time is left to
// start a job: less than the margin. Deadlines are real time, so this reads
// the real clock, not Config.Clock.
func (w *Worker) deadlineNear(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < w.margin
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
		after := retry.RetryAfter(r.err)
		held, claimed := errors.AsType[heldClaim](r.err)
		for _, id := range t.messageIDs {
			res.failed = append(res.failed, givenBack{messageID: id, key: t.key(), after: after, othersClaim: claimed && !held.own})
		}
		res.lastError = r.reason
		if r.err != nil {
			res.lastError += ": " + r.err.Error()
		}
	}
	if r.outcome != Retry {
		res.finished = append(res.finished, t)
	}
	if t.runID != "" {
		if res.runs == nil {
			res.runs = make(map[string]*runs.Outcomes)
		}
		o := res.runs[t.runID]
		if o == nil {
			o = &runs.Outcomes{}
			res.runs[t.runID] = o
		}
		switch r.outcome {
		case Added, Updated, Deleted:
			o.Changed++
		case Unchanged:
			o.Unchanged++
		case Failed:
			o.Failed++
		case Skipped, Ignored:
			o.Skipped++
		case Retry:
			o.Retried++
		}
		o.SendCalls += t.calls.send.Load()
		o.HubCalls += t.calls.hub.Load()
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
