package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
)

func TestFirstTickStartsAtTheLastOffset(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.change("it-1", "Giulia Maria")
	h.change("es-1", "Lucía María")
	wantOffset, err := h.client.LastOffset(context.Background(), "italy", "CUSTOMER")
	if err != nil {
		t.Fatal(err)
	}

	rep := report(t, h.tick(), "s1")
	if rep.Outcome != scheduler.Worked || rep.FeedEnqueued != 0 {
		t.Fatalf("first tick = %+v, want worked with nothing enqueued", rep)
	}
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("first tick enqueued %v; existing customers are the backfill's", got)
	}
	if f := h.feed("s1"); f.Offset != wantOffset || !f.Started || f.NodeID != "italy" {
		t.Fatalf("feed checkpoint = %+v, want started at %d", f, wantOffset)
	}
}

func TestFeedEnqueuesEachChangedCustomerOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()

	created := h.create("italy", "nuovo@example.it")
	h.change(created, "Nuovo 2")
	h.change("it-1", "Giulia 2")
	h.change("it-1", "Giulia 3")
	h.change("es-1", "Lucía 2") // another node
	h.clock.Advance(time.Second)
	if err := h.hub.DeleteCustomer(hubWorkspace, "it-2"); err != nil {
		t.Fatal(err)
	}

	rep := report(t, h.tick(), "s1")
	want := []string{created, "it-1", "it-2"}
	slices.Sort(want)
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, want) {
		t.Fatalf("jobs for %v, want one each for %v", got, want)
	}
	if rep.FeedEnqueued != 3 || rep.LagSeconds != 0 {
		t.Errorf("report = %+v", rep)
	}
	f := h.feed("s1")
	if f.LastEnqueued != 3 || f.LastError != "" || !f.LastPolledAt.Equal(h.clock.Now()) {
		t.Errorf("feed checkpoint = %+v", f)
	}

	if rep := report(t, h.tick(), "s1"); rep.FeedEnqueued != 0 {
		t.Fatalf("a tick without changes enqueued %d", rep.FeedEnqueued)
	}
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("a tick without changes enqueued %v", got)
	}
}

func TestAggregateNodeReadsItsMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "europe", true)
	h.tick()
	h.change("it-3", "Sara 2")
	h.change("es-2", "Pablo 2")

	h.tick()
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, []string{"es-2", "it-3"}) {
		t.Fatalf("aggregate source jobs = %v, want both members' changes", got)
	}
}

func TestOffsetAdvancesOnlyAfterTheSend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	before := h.feed("s1").Offset
	h.change("it-1", "Giulia 2")

	h.sender.failOnce()
	rep := report(t, h.tick(), "s1")
	if rep.Outcome != scheduler.Failed || rep.Err == nil {
		t.Fatalf("tick with a failing send = %+v", rep)
	}
	f := h.feed("s1")
	if f.Offset != before || f.LastError == "" {
		t.Fatalf("after a failed send the checkpoint is %+v; want offset %d kept and the error recorded", f, before)
	}
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("failed send left %v in the queue", got)
	}

	h.tick()
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, []string{"it-1"}) {
		t.Fatalf("next tick enqueued %v, want the change again", got)
	}
	if f := h.feed("s1"); f.Offset <= before || f.LastError != "" {
		t.Fatalf("after a good tick the checkpoint is %+v", f)
	}
}

func TestOverlappingTicksEnqueueOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	for i := range 5 {
		h.change("it-1", fmt.Sprint("Giulia ", i))
		h.change("it-3", fmt.Sprint("Sara ", i))
	}

	other := newScheduler(t, h.config)
	reports := make(chan scheduler.Report, 2)
	for _, s := range []*scheduler.Scheduler{h.sched, other} {
		go func() {
			r, err := s.Tick(context.Background())
			if err != nil {
				t.Error(err)
			}
			reports <- r
		}()
	}
	worked := 0
	for range 2 {
		rep := report(t, <-reports, "s1")
		if rep.Outcome == scheduler.Worked && rep.FeedEnqueued > 0 {
			worked++
		}
	}
	if worked != 1 {
		t.Fatalf("%d runs enqueued, want exactly 1", worked)
	}
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, []string{"it-1", "it-3"}) {
		t.Fatalf("overlapping ticks enqueued %v, want it-1 and it-3 once", got)
	}
}

func TestLeaseHeldByAnotherRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	before := h.feed("s1")
	h.change("it-1", "Giulia 2")

	// A run that crashed while holding the lease.
	if _, err := h.checkpoints.AcquireLease(ctx, "s1", "crashed-run", h.clock.Now(), scheduler.DefaultLease); err != nil {
		t.Fatal(err)
	}
	if rep := report(t, h.tick(), "s1"); rep.Outcome != scheduler.Busy {
		t.Fatalf("tick while the lease is held = %+v, want busy", rep)
	}
	if got := h.drain(); len(got) != 0 || h.feed("s1").Version != before.Version {
		t.Fatalf("a busy source was worked on: jobs %v", got)
	}
	if st, err := h.sched.Status(ctx, "s1"); err != nil || !st.Running {
		t.Fatalf("Status while held = %+v, %v", st, err)
	}

	h.clock.Advance(scheduler.DefaultLease + time.Second)
	if rep := report(t, h.tick(), "s1"); rep.Outcome != scheduler.Worked || rep.FeedEnqueued != 1 {
		t.Fatalf("tick after the lease expired = %+v, want it taken over", rep)
	}
	if st, err := h.sched.Status(ctx, "s1"); err != nil || st.Running {
		t.Fatalf("Status after the tick released the lease = %+v, %v", st, err)
	}
}

func TestSlowRunCannotOverwriteANewerCheckpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	h.change("it-1", "Giulia 2")

	// The second scheduler sends straight to the queue; the first one
	// stalls in its send until its lease has expired and the second has
	// read further and stored a newer offset.
	fast := h.config
	fast.Jobs = h.sender.queue
	newer := newScheduler(t, fast)
	var newerReport scheduler.Report
	h.sender.beforeNext(func() {
		h.clock.Advance(scheduler.DefaultLease + time.Minute)
		h.change("it-3", "Sara 2")
		newerReport = tickWith(t, newer, context.Background())
	})

	rep := report(t, h.tick(), "s1")
	if rep.Outcome != scheduler.Superseded || !errors.Is(rep.Err, checkpoint.ErrConflict) {
		t.Fatalf("slow run = %+v, want superseded", rep)
	}
	newerRep := report(t, newerReport, "s1")
	if newerRep.Outcome != scheduler.Worked {
		t.Fatalf("newer run = %+v", newerRep)
	}
	last, err := h.client.LastOffset(context.Background(), "italy", "CUSTOMER")
	if err != nil {
		t.Fatal(err)
	}
	if f := h.feed("s1"); f.Offset != last || f.Offset != newerRep.Offset {
		t.Fatalf("checkpoint offset %d, want the newer run's %d", f.Offset, last)
	}
	// Both runs enqueued it-1: a harmless duplicate. Nothing is lost.
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, []string{"it-1", "it-1", "it-3"}) {
		t.Fatalf("jobs = %v", got)
	}
}

func TestBackfillPagesThroughAcrossTicks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, options{extraItalians: 117, configure: func(c *scheduler.Config) { c.MaxBackfillPages = 1 }})
	h.addSource("s1", "ws1", "italy", true)
	const italians = 120

	if done, err := h.sched.HasBackfilled(ctx, "s1"); err != nil || done {
		t.Fatalf("HasBackfilled before any = %v, %v", done, err)
	}
	if err := h.sched.StartBackfill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if done, err := h.sched.HasBackfilled(ctx, "s1"); err != nil || !done {
		t.Fatalf("HasBackfilled after start = %v, %v", done, err)
	}

	seen := map[string]int{}
	collect := func() {
		for _, id := range customers(t, h.drain(), "s1", jobs.FromBackfill) {
			seen[id]++
		}
	}
	pages := []struct {
		failSend bool
		wantPage int
		wantDone bool
	}{
		{wantPage: 1},
		{failSend: true, wantPage: 1}, // a crash before the checkpoint: the page is not skipped
		{wantPage: 2},
		{wantPage: 3, wantDone: true},
	}
	for i, p := range pages {
		if p.failSend {
			h.sender.failOnce()
		}
		rep := report(t, h.tick(), "s1")
		collect()
		b := h.backfill("s1")
		if b.NextPage != p.wantPage || (b.Status == checkpoint.BackfillDone) != p.wantDone {
			t.Fatalf("after tick %d backfill = %+v (report %+v)", i, b, rep)
		}
		if p.failSend && b.LastError == "" {
			t.Errorf("failed send not recorded: %+v", b)
		}
	}
	if len(seen) != italians {
		t.Fatalf("backfill enqueued %d distinct customers, want %d", len(seen), italians)
	}
	for id := range seen {
		if id[:2] != "it" {
			t.Errorf("backfill enqueued %s from another node", id)
		}
	}
	b := h.backfill("s1")
	if b.Enqueued != italians || b.FinishedAt.IsZero() || b.LastError != "" {
		t.Errorf("finished backfill = %+v", b)
	}
	if rep := report(t, h.tick(), "s1"); rep.BackfillEnqueued != 0 {
		t.Fatalf("a finished backfill enqueued %d more", rep.BackfillEnqueued)
	}

	// A resync starts over from page 0 with a new run.
	if err := h.sched.StartBackfill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	restarted := h.backfill("s1")
	if restarted.RunID == b.RunID || restarted.NextPage != 0 || restarted.Status != checkpoint.BackfillRunning {
		t.Fatalf("restarted backfill = %+v, previous run %s", restarted, b.RunID)
	}
	if rep := report(t, h.tick(), "s1"); rep.BackfillEnqueued != scheduler.BackfillPageSize {
		t.Fatalf("first tick of the new run = %+v", rep)
	}
	st, err := h.sched.Status(ctx, "s1")
	if err != nil || st.Backfill == nil || st.Backfill.NextPage != 1 || st.Feed == nil || !st.Feed.Started {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

func TestBackfillStepsBackWhenCustomersAreDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, options{extraItalians: 117, configure: func(c *scheduler.Config) { c.MaxBackfillPages = 1 }})
	h.addSource("s1", "ws1", "italy", true)
	if err := h.sched.StartBackfill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	h.tick()
	for _, j := range h.drain() {
		seen[j.CustomerID] = true
	}
	// Deleting page 0's customers moves page 1's first ones onto page 0.
	for _, id := range []string{"it-1", "it-2", "it-3"} {
		if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		h.tick()
		for _, j := range h.drain() {
			seen[j.CustomerID] = true
		}
		if h.backfill("s1").Status == checkpoint.BackfillDone {
			break
		}
	}
	for _, c := range h.hub.Customers(hubWorkspace) {
		if id := c["id"].(string); c["nodeId"] == "italy" && !seen[id] {
			t.Errorf("customer %s was never enqueued", id)
		}
	}
}

func TestDisabledSourceIsUntouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.addSource("s2", "ws1", "spain", false)
	if err := h.sched.StartBackfill(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	h.change("es-1", "Lucía 2")

	r := h.tick()
	if _, listed := r.Source("s2"); listed {
		t.Fatalf("disabled source was worked on: %+v", r)
	}
	if _, found, _ := h.checkpoints.Feed(ctx, "s2"); found {
		t.Fatal("disabled source got a feed checkpoint")
	}
	if b := h.backfill("s2"); b.NextPage != 0 {
		t.Fatalf("disabled source's backfill advanced: %+v", b)
	}
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("jobs for a disabled source: %v", got)
	}
}

func TestHubErrorsAreRecordedPerSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	// ws2 is served by a second simulator that works.
	healthy, healthyURL := newHub(t, h.clock, 0)
	h.connect("ws2", healthyURL, hubToken)
	h.addSource("s1", "ws1", "italy", true)
	h.addSource("s2", "ws2", "spain", true)
	h.tick()
	before := h.feed("s1").Offset
	h.change("it-1", "Giulia 2")
	h.clock.Advance(time.Second)
	if _, err := healthy.PutCustomer(hubWorkspace, map[string]any{"id": "es-1", "nodeId": "spain", "base": map[string]any{"firstName": "Lucía 2"}}); err != nil {
		t.Fatal(err)
	}

	if _, err := h.hub.Faults().Add(faults.Rule{Operation: "updates.get", Kind: faults.Status, Status: 500, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	r := h.tick()
	if rep := report(t, r, "s1"); rep.Outcome != scheduler.Failed {
		t.Fatalf("s1 during a 500 storm = %+v", rep)
	}
	f := h.feed("s1")
	if f.Offset != before || f.LastError == "" || f.LastErrorAt.IsZero() {
		t.Fatalf("s1 checkpoint during a 500 storm = %+v", f)
	}
	if rep := report(t, r, "s2"); rep.Outcome != scheduler.Worked || rep.FeedEnqueued != 1 {
		t.Fatalf("s2 beside a failing source = %+v", rep)
	}
	if got := customers(t, h.drain(), "s2", jobs.FromFeed); !slices.Equal(got, []string{"es-1"}) {
		t.Fatalf("jobs = %v", got)
	}

	h.hub.Faults().Reset()
	h.tick()
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, []string{"it-1"}) {
		t.Fatalf("after the storm s1 enqueued %v", got)
	}
	if f := h.feed("s1"); f.LastError != "" {
		t.Fatalf("error not cleared after recovery: %+v", f)
	}
}

func TestRefusedTokenIsNotRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// One source at a time, so the second meets the first one's refusal.
	h := newHarness(t, options{configure: func(c *scheduler.Config) { c.Concurrency = 1 }})
	h.addSource("s1", "ws1", "italy", true)
	h.addSource("s2", "ws1", "spain", true)
	if err := h.sched.StartBackfill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	h.connect("ws1", h.hubURL, "revoked-token")
	h.hub.Calls().Reset()

	r := h.tick()
	for _, id := range []string{"s1", "s2"} {
		if rep := report(t, r, id); rep.Outcome != scheduler.Failed {
			t.Errorf("%s with a refused token = %+v", id, rep)
		}
		f, _, err := h.checkpoints.Feed(ctx, id)
		if err != nil || f.LastError != "token refused" || f.Started {
			t.Errorf("%s feed checkpoint = %+v, %v; want lastError \"token refused\"", id, f, err)
		}
	}
	// One refused call per workspace and tick: no retries, no other source
	// of the workspace tried, no backfill attempt.
	total := 0
	for _, n := range h.hub.Calls().Counts() {
		total += n
	}
	if total != 1 {
		t.Fatalf("calls with a refused token = %v, want 1", h.hub.Calls().Counts())
	}
}

func TestBudgetAndDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{configure: func(c *scheduler.Config) { c.MaxUpdates = 3 }})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	var created []string
	for i := range 7 {
		created = append(created, h.create("italy", fmt.Sprintf("budget%d@example.it", i)))
	}
	h.clock.Advance(time.Minute)

	for i, want := range []struct {
		enqueued int
		lagged   bool
	}{{3, true}, {3, true}, {1, false}} {
		rep := report(t, h.tick(), "s1")
		if rep.FeedEnqueued != want.enqueued || (rep.LagSeconds > 0) != want.lagged {
			t.Fatalf("tick %d = %+v, want %d enqueued, lagging %v", i, rep, want.enqueued, want.lagged)
		}
		if want.lagged && rep.LagSeconds < 60 {
			t.Errorf("tick %d lag %ds, want at least the minute the changes waited", i, rep.LagSeconds)
		}
	}
	got := customers(t, h.drain(), "s1", jobs.FromFeed)
	slices.Sort(created)
	if !slices.Equal(got, created) {
		t.Fatalf("jobs %v, want %v", got, created)
	}

	// Within the deadline margin nothing starts.
	h.change("it-1", "Giulia 2")
	calls := h.hub.Calls().Counts()["updates.get"]
	ctx, cancel := context.WithTimeout(context.Background(), scheduler.DefaultDeadlineMargin/2)
	defer cancel()
	if rep := report(t, tickWith(t, h.sched, ctx), "s1"); rep.Outcome != scheduler.Deferred {
		t.Fatalf("tick past its deadline = %+v, want deferred", rep)
	}
	if h.hub.Calls().Counts()["updates.get"] != calls {
		t.Fatal("a deferred tick read the feed")
	}
}

// TestSlowReadLeavesTimeToCheckpoint: a feed read that hangs past the
// deadline margin is cut off in time for the tick to record the failure in
// the checkpoint and return before the invocation's deadline.
func TestSlowReadLeavesTimeToCheckpoint(t *testing.T) {
	t.Parallel()
	// The margin is what the tick has to record the failure in: a few
	// DynamoDB writes, which the package's parallel tests on two cores can
	// slow to seconds. A margin of 2 s was missed by 97 ms once.
	const margin = 4 * time.Second
	h := newHarness(t, options{configure: func(c *scheduler.Config) { c.DeadlineMargin = margin }})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	h.change("it-1", "Giulia 2")
	if _, err := h.hub.Faults().Add(faults.Rule{Operation: "updates.get", Kind: faults.Latency, Latency: 20 * time.Second, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), margin+2*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	rep := report(t, tickWith(t, h.sched, ctx), "s1")
	if now := time.Now(); !now.Before(deadline) {
		t.Fatalf("tick returned %v after its deadline", now.Sub(deadline))
	}
	if rep.Outcome != scheduler.Failed {
		t.Errorf("s1 with a hanging feed = %+v, want failed", rep)
	}
	if f := h.feed("s1"); f.LastError == "" {
		t.Errorf("the cut-off read was not recorded: %+v", f)
	}
}

// TestFeedThroughput logs how long a tick takes per 1,000 changes:
//
//	go test ./internal/scheduler -run TestFeedThroughput -v
func TestFeedThroughput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()
	const changes = 1000
	for i := range changes {
		if _, err := h.hub.PutCustomer(hubWorkspace, map[string]any{
			"nodeId": "italy", "base": map[string]any{"firstName": "Cliente", "contacts": map[string]any{"email": fmt.Sprintf("load%04d@example.it", i)}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	rep := report(t, h.tick(), "s1")
	elapsed := time.Since(start)
	if rep.FeedEnqueued != changes {
		t.Fatalf("tick = %+v, want %d enqueued", rep, changes)
	}
	t.Logf("one tick read and enqueued %d changes in %v", changes, elapsed)
	if got := h.drain(); len(got) != changes {
		t.Fatalf("queue holds %d jobs, want %d", len(got), changes)
	}
}

func TestOutcomeLineIsAnEmbeddedMetric(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := newHarness(t, options{configure: func(c *scheduler.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}})
	h.addSource("s1", "ws1", "italy", true)
	h.tick()

	var line struct {
		Source       string `json:"source"`
		Outcome      string `json:"outcome"`
		FeedEnqueued *int   `json:"feedEnqueued"`
		AWS          struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if line.Source != "s1" || line.Outcome != "worked" || line.FeedEnqueued == nil ||
		len(line.AWS.CloudWatchMetrics) != 1 || len(line.AWS.CloudWatchMetrics[0].Metrics) != 3 {
		t.Fatalf("log line = %s", logs.String())
	}
	if strings.Contains(logs.String(), hubToken) {
		t.Fatal("the log holds the Contacthub token")
	}
}

// A scheduler missing a dependency would skip work silently (the
// reconciliation, without Send or Ledger) or fail every tick: New refuses
// it, naming what is missing.
func TestNewNamesMissingDependencies(t *testing.T) {
	t.Parallel()
	full := newHarness(t, options{}).config
	for _, tc := range []struct {
		name   string
		remove func(*scheduler.Config)
	}{
		{"Sources", func(c *scheduler.Config) { c.Sources = nil }},
		{"Hub", func(c *scheduler.Config) { c.Hub = nil }},
		{"Checkpoints", func(c *scheduler.Config) { c.Checkpoints = nil }},
		{"Jobs", func(c *scheduler.Config) { c.Jobs = nil }},
		{"Send", func(c *scheduler.Config) { c.Send = nil }},
		{"Ledger", func(c *scheduler.Config) { c.Ledger = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := full
			tc.remove(&cfg)
			s, err := scheduler.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("New without %s = %v, %v; want an error naming it", tc.name, s, err)
			}
		})
	}
	if _, err := scheduler.New(scheduler.Config{}); err == nil || !strings.Contains(err.Error(), "Sources, Hub, Checkpoints, Jobs, Send, Ledger") {
		t.Fatalf("New of an empty Config = %v, want every dependency named", err)
	}
}
