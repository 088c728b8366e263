package syncer

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/scheduler"
)

// TestRunCountsMatchTheSimulators runs a backfill through the real
// scheduler and worker and checks that its run records what happened: the
// customers read, their outcomes, and the calls each simulator served for
// the run's jobs.
func TestRunCountsMatchTheSimulators(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, withNewsletter)
	history := runs.New(h.db, h.table)
	h.worker = h.newWorker(func(c *Config) { c.Runs = history })
	queue := &jobQueue{now: time.Now}
	conn, err := h.store.Connection(ctx, workspace)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := scheduler.New(scheduler.Config{
		Sources: h.store,
		Hub: func(configstore.Connection) (scheduler.Hub, error) {
			return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken,
				Retry: retry.Policy{Attempts: 2, Sleep: instant}})
		},
		Checkpoints: checkpoint.New(h.db, h.table),
		Jobs:        queue,
		Send:        h.config.Send.(scheduler.Send),
		Ledger:      h.ledger,
		Logger:      slog.New(slog.DiscardHandler),
		Runs:        history,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Warm the worker's caches (userdb fields, subscription systems) with
	// a job of no run: they are per batch, not per run.
	warm := h.put(h.customer("warm@example.com", "Warm", nil))
	h.sync(warm)

	subscribed := h.customer("gina@example.com", "Gina", nil)
	subscribed["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	h.put(subscribed)
	h.put(h.customer("ugo@example.com", "Ugo", nil))
	// A customer without an email cannot be matched: a failed record.
	noEmail := h.customer("", "Nomail", nil)
	noEmail["base"].(map[string]any)["contacts"] = map[string]any{"mobilePhone": "+393331234567"}
	h.put(noEmail)

	if err := sched.StartBackfill(ctx, h.src.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// The first tick also reads the last minutes of the change feed, which
	// holds these customers' creation: jobs of another run, left aside.
	var batch []jobs.Job
	for queue.len() > 0 {
		if j := queue.take(0); j.Reason == jobs.FromBackfill {
			batch = append(batch, j)
		}
	}
	if len(batch) != 4 || batch[0].RunID == "" {
		t.Fatalf("backfill enqueued %d jobs (run %q), want 4 with a run id", len(batch), batch[0].RunID)
	}
	h.calls()
	h.hub.Calls().Reset()
	if failed := h.handle(h.event(batch...)); failed != nil {
		t.Fatalf("given back %v", failed)
	}
	sendCalls, hubCalls := 0, 0
	for _, n := range h.calls() {
		sendCalls += n
	}
	for _, n := range h.hub.Calls().Counts() {
		hubCalls += n
	}

	page, err := history.List(ctx, h.src.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var run *runs.Run
	for i := range page.Runs {
		if page.Runs[i].ID == batch[0].RunID {
			run = &page.Runs[i]
		}
	}
	if run == nil {
		t.Fatalf("the backfill's run %s is not in the history: %+v", batch[0].RunID, page.Runs)
	}
	want := runs.Outcomes{Changed: 2, Unchanged: 1, Failed: 1, SendCalls: int64(sendCalls), HubCalls: int64(hubCalls)}
	if run.Trigger != runs.Backfill || run.Read != 4 || run.Outcomes != want || run.StartedAt.IsZero() || run.EndedAt.Before(run.StartedAt) {
		t.Fatalf("run %+v\nwant read 4 and %+v", *run, want)
	}
	if sendCalls == 0 || hubCalls == 0 {
		t.Fatalf("the simulators saw %d and %d calls", sendCalls, hubCalls)
	}
}
