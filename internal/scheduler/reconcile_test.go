package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/bench"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
	"github.com/hubsend/hubsend/internal/testkit"
)

var (
	measureSubscribers = flag.Int("reconcile.measure", 0, "measure a full reconciliation pass over this many subscribers (see docs/subscriptions.md)")
	measureLatency     = flag.Duration("reconcile.latency", 0, "latency of every Contactsend call while measuring (the wire)")
)

const reconcileWebform = "230004001355"

// reconcileWorld is a harness whose source syncs a newsletter against a
// Contactsend simulator of n subscribers, the first linked of them in the
// ledger with the given synced states.
type reconcileWorld struct {
	*harness
	send   *sendsim.Server
	ledger *ledger.Store
	// dynamo counts the DynamoDB requests of the ledger, the checkpoints
	// and the configuration store.
	dynamo      *bench.CountingDynamoDB
	ledgerTable string
}

func newReconcileWorld(t *testing.T, n int, pages int, linked func(id int64) (subscribed, known bool)) *reconcileWorld {
	t.Helper()
	seed := sendsim.Seed{
		Accounts: []sendsim.Account{{APIKey: "api-key-ws1", UserKey: "user-key", UserDBs: []int64{1}}},
		UserDBs: []sendsim.UserDB{{
			ID: 1, Name: "Newsletter", Fields: []sendsim.Field{{Name: "EMAIL", Type: "STRING", EmailField: true}},
			Subscriptions: []sendsim.Subscription{
				{ID: 11, Name: "Newsletter", RegistrationField: "__cls1", WebformCode: reconcileWebform},
				{ID: 12, Name: "Unmapped", RegistrationField: "__cls2", WebformCode: "999"},
			},
		}},
	}
	for i := range n {
		seed.UserDBs[0].Subscribers = append(seed.UserDBs[0].Subscribers, sendsim.Subscriber{
			ID: int64(i + 1), Attributes: map[string]any{"EMAIL": fmt.Sprintf("s%d@example.com", i+1), "__cls1": []int{1, -1, 0}[i%3], "__cls2": 1},
		})
	}
	send := sendsim.New(sendsim.Options{Seed: seed})
	server := httptest.NewServer(send)
	t.Cleanup(server.Close)
	client, err := contactsend.New(contactsend.Config{Endpoint: server.URL + sendsim.ServicePath, Retry: retry.Policy{Attempts: 2, Sleep: instant}})
	if err != nil {
		t.Fatal(err)
	}
	dynamo := &bench.CountingDynamoDB{Client: testkit.Emulators(t).DynamoDB()}
	ledgerTable := testkit.Table(t)
	w := &reconcileWorld{send: send, dynamo: dynamo, ledgerTable: ledgerTable}
	// The ledger keeps the scheduler's time.
	store := ledger.New(dynamo, ledgerTable, ledger.WithClock(func() time.Time { return w.clock.Now() }))
	w.ledger = store
	w.harness = newHarness(t, options{dynamo: dynamo, configure: func(c *scheduler.Config) {
		c.Send, c.Ledger, c.MaxReconcilePages = client, store, pages
	}})
	_, err = w.store.Create(context.Background(), source.Source{
		ID: "news", WorkspaceID: "ws1", Name: "News", Nodes: []string{"italy"}, Enabled: true,
		Properties: source.Properties{
			UserKey: "user-key", APIKey: "api-key-ws1", UserDBID: 1,
			FieldMapping:  []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
			Subscriptions: []source.Subscription{{HubSubscriptionID: "newsletter", SendSubscriptionID: 11, WebformCode: reconcileWebform}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	limit := make(chan struct{}, 32)
	for i := range n {
		id := int64(i + 1)
		subscribed, known := linked(id)
		if !known {
			continue
		}
		limit <- struct{}{}
		wg.Go(func() {
			defer func() { <-limit }()
			e := ledger.Entry{SourceID: "news", CustomerID: fmt.Sprintf("c%d", id), SubscriberID: id}
			e.SetSubscription("newsletter", subscriptions.Synced{Known: true, Subscribed: subscribed, Origin: subscriptions.Hub})
			if _, err := store.Put(context.Background(), e); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return w
}

func TestReconcileEnqueuesDifferencesAcrossTicks(t *testing.T) {
	t.Parallel()
	// 450 subscribers are three pages; 300 are linked, all synced as
	// subscribed, so the linked ones at -1 or 0 differ.
	w := newReconcileWorld(t, 450, 2, func(id int64) (bool, bool) { return true, id <= 300 })
	w.tick() // first tick: the feed starts; the walk reads two pages
	r := w.tick()
	cp, found, err := w.checkpoints.Reconcile(context.Background(), "news")
	if err != nil || !found || cp.Passes != 1 || cp.NextPage != 1 {
		t.Fatalf("after two ticks of two pages: %+v, %v, %v (report %+v)", cp, found, err, r)
	}
	got := w.reconcileJobs()
	if want := reconcileWant(); !slices.Equal(got, want) {
		t.Fatalf("reconciliation enqueued %d subscribers, want %d (%v...)", len(got), len(want), got[:min(5, len(got))])
	}
	// The next pass finds the same differences of the linked subscribers
	// (the jobs were not run), but hands no unlinked opt-out over twice.
	w.tick()
	w.tick()
	got = w.reconcileJobs()
	if want := linkedWant(); !slices.Equal(got, want) {
		t.Fatalf("the second pass enqueued %d subscribers, want the %d linked ones only (%v...)", len(got), len(want), got[:min(5, len(got))])
	}
}

// linkedWant is what a pass of newReconcileWorld(450, …) finds among its
// 300 linked subscribers, all synced as subscribed: those at -1 or 0.
func linkedWant() []int64 {
	var want []int64
	for id := int64(1); id <= 300; id++ {
		if id%3 != 1 { // __cls1 is -1 or 0: not subscribed
			want = append(want, id)
		}
	}
	return want
}

// reconcileWant is what the first pass finds: the linked differences,
// and the opt-outs (__cls1 -1) of the 150 unlinked subscribers, whose
// customer the worker looks for.
func reconcileWant() []int64 {
	want := linkedWant()
	for id := int64(301); id <= 450; id++ {
		if id%3 == 2 {
			want = append(want, id)
		}
	}
	return want
}

func TestReconcileSkipsDisabledAndUnmapped(t *testing.T) {
	t.Parallel()
	w := newReconcileWorld(t, 30, 5, func(id int64) (bool, bool) { return id%3 == 1, true })
	w.tick()
	for _, j := range w.drain() {
		if j.Reason == jobs.FromReconcile {
			t.Fatalf("a synced userdb made a job: %+v (the unmapped __cls2 differs everywhere)", j)
		}
	}
	src, err := w.store.GetByID(context.Background(), "news")
	if err != nil {
		t.Fatal(err)
	}
	src.Enabled = false
	if _, err := w.store.Replace(context.Background(), src, src.Version); err != nil {
		t.Fatal(err)
	}
	if err := w.send.SetSubscriptionStatus(1, 1, reconcileWebform, -1); err != nil {
		t.Fatal(err)
	}
	w.tick()
	if jobs := w.drain(); len(jobs) != 0 {
		t.Fatalf("a disabled source made jobs: %+v", jobs)
	}
}

// TestReconcileThroughput measures a full pass in the steady state (every
// subscriber linked and in step, so no job is enqueued): run it with
// -reconcile.measure=N; see docs/subscriptions.md.
func TestReconcileThroughput(t *testing.T) {
	n := *measureSubscribers
	if n <= 0 {
		t.Skip("run with -reconcile.measure=N to measure a pass over N subscribers")
	}
	w := newReconcileWorld(t, n, 1<<20, func(id int64) (bool, bool) { return id%3 == 1, true })
	// Warm up: the feed starts, and the one-time read of the ledger that
	// indexes older entries (none here) ends; then the pass starts over.
	warm := w.config
	warm.MaxReconcilePages = 1
	warmUp := newScheduler(t, warm)
	ctx := context.Background()
	for {
		tickWith(t, warmUp, ctx)
		cp, _, err := w.checkpoints.Reconcile(ctx, "news")
		if err != nil {
			t.Fatal(err)
		}
		if cp.LedgerIndexed {
			cp.NextPage = 1
			if _, err := w.checkpoints.SaveReconcile(ctx, "news", cp); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if *measureLatency > 0 {
		if _, err := w.send.Faults().Add(faults.Rule{Kind: faults.Latency, Latency: *measureLatency, Rate: 1}); err != nil {
			t.Fatal(err)
		}
	}
	before := w.dynamo.Counts()
	start := time.Now()
	w.tick()
	took := time.Since(start)
	requests := bench.Delta(before, w.dynamo.Counts())
	cp, _, err := w.checkpoints.Reconcile(ctx, "news")
	if err != nil || cp.Passes != 1 || cp.Scanned != int64(n) {
		t.Fatalf("the pass did not finish in one tick: %+v, %v", cp, err)
	}
	pages := (n + scheduler.ReconcilePageSize - 1) / scheduler.ReconcilePageSize
	perSecond := float64(pages) / took.Seconds()
	perTick := float64(scheduler.DefaultMaxReconcilePages)
	t.Logf("Contactsend latency %s", *measureLatency)
	t.Logf("%d subscribers, %d pages of %d in %s: %.1f pages/s (%.0f subscribers/s)", n, pages, scheduler.ReconcilePageSize, took.Round(time.Millisecond), perSecond, perSecond*scheduler.ReconcilePageSize)
	t.Logf("DynamoDB requests: %v, %.4f per subscriber", requests, float64(bench.Sum(requests))/float64(n))
	t.Logf("a tick of %d pages takes %.1f s; a pass over 1,000,000 subscribers is %d ticks, %.1f h at one tick a minute",
		scheduler.DefaultMaxReconcilePages, perTick/perSecond, 1_000_000/(scheduler.DefaultMaxReconcilePages*scheduler.ReconcilePageSize),
		float64(1_000_000/(scheduler.DefaultMaxReconcilePages*scheduler.ReconcilePageSize))/60)
}

// TestEachPartReportsItsOutcome: a tick whose change-feed read worked but
// whose Contactsend reconciliation failed says so part by part, in its
// report and its log line, instead of calling the whole tick failed.
func TestEachPartReportsItsOutcome(t *testing.T) {
	t.Parallel()
	w := newReconcileWorld(t, 3, 1, func(int64) (bool, bool) { return false, false })
	var logs bytes.Buffer
	cfg := w.config
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	sched := newScheduler(t, cfg)
	tickWith(t, sched, context.Background()) // the feed starts
	w.change("it-1", "Giulia 2")
	if _, err := w.send.Faults().Add(faults.Rule{Operation: "findSubscribersBy", Kind: faults.Status, Status: 500, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	rep := report(t, tickWith(t, sched, context.Background()), "news")
	if rep.Feed != scheduler.Worked || rep.FeedEnqueued != 1 || rep.Reconcile != scheduler.Failed || rep.Outcome != scheduler.Partial {
		t.Fatalf("report = %+v; want feed worked (1 enqueued), reconcile failed, outcome partial", rep)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if line["outcome"] != "partial" || line["feed"] != "worked" || line["reconcile"] != "failed" {
		t.Fatalf("log line = %s", logs.String())
	}
}

// reconcileJobs drains the queue and returns the subscribers of its
// reconciliation jobs, sorted.
func (w *reconcileWorld) reconcileJobs() []int64 {
	w.t.Helper()
	var got []int64
	for _, j := range w.drain() {
		if j.Reason == jobs.FromReconcile {
			got = append(got, j.SubscriberID)
		}
	}
	slices.Sort(got)
	return got
}

// TestReconcileReadsTheLedgerARangeAPage: a page of subscribers is compared
// with the ledger with one range read, not one lookup per subscriber, so a
// pass costs at most 0.02 DynamoDB requests per subscriber, everything of
// the tick included (the source, the lease, the checkpoints).
func TestReconcileReadsTheLedgerARangeAPage(t *testing.T) {
	t.Parallel()
	const n = 2000
	// Every subscriber is linked and in step except those whose id is a
	// multiple of 97, synced the other way round.
	w := newReconcileWorld(t, n, 50, func(id int64) (bool, bool) { return (id%3 == 1) != (id%97 == 0), true })
	w.tick() // the feed starts, the ledger is found indexed, a pass is made
	if got, want := len(w.reconcileJobs()), n/97; got != want {
		t.Fatalf("first pass enqueued %d subscribers, want %d", got, want)
	}
	before := w.dynamo.Counts()
	w.tick()
	requests := bench.Delta(before, w.dynamo.Counts())
	cp, _, err := w.checkpoints.Reconcile(context.Background(), "news")
	if err != nil || cp.Passes != 2 || !cp.LedgerIndexed {
		t.Fatalf("after two ticks: %+v, %v; want two passes over an indexed ledger", cp, err)
	}
	var want []int64
	for id := int64(97); id <= n; id += 97 {
		want = append(want, id)
	}
	if got := w.reconcileJobs(); !slices.Equal(got, want) {
		t.Fatalf("second pass enqueued %v, want %v", got, want)
	}
	perSubscriber := float64(bench.Sum(requests)) / n
	t.Logf("a tick reconciling %d subscribers: DynamoDB %v, %.4f requests per subscriber", n, requests, perSubscriber)
	if perSubscriber > 0.02 {
		t.Fatalf("%.4f DynamoDB requests per reconciled subscriber (%v), want at most 0.02", perSubscriber, requests)
	}
}

// unindexed is the ledger as the release before the subscriber range index
// left it: entries written then carry no index keys, so they are missing
// from the index until the reconciliation adds them.
func (w *reconcileWorld) unindex(ids ...int64) {
	w.t.Helper()
	for _, id := range ids {
		_, err := testkit.Emulators(w.t).DynamoDB().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName: aws.String(w.ledgerTable),
			Key: map[string]dynamotypes.AttributeValue{
				"pk": &dynamotypes.AttributeValueMemberS{Value: "LEDGER#news"},
				"sk": &dynamotypes.AttributeValueMemberS{Value: fmt.Sprintf("CUSTOMER#c%d", id)},
			},
			UpdateExpression: aws.String("REMOVE gsi3pk, gsi3sk"),
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

// noIndexing is the ledger with the indexing of older entries failing, so
// the reconciliation must find them one by one.
type noIndexing struct{ *ledger.Store }

func (noIndexing) IndexSubscribers(context.Context, string, string, int) (ledger.IndexProgress, error) {
	return ledger.IndexProgress{}, fmt.Errorf("throttled (test)")
}

// TestReconcileFindsEntriesWrittenBeforeTheIndex: ledger entries written
// before the subscriber range index existed are still compared, whether
// the reconciliation has indexed them (the first tick does) or not yet
// (each one the range does not find is looked up by itself).
func TestReconcileFindsEntriesWrittenBeforeTheIndex(t *testing.T) {
	t.Parallel()
	want := reconcileWant()
	older := make([]int64, 0, 200)
	for id := int64(1); id <= 200; id++ {
		older = append(older, id)
	}
	tests := []struct {
		name    string
		indexed bool
	}{{"indexed by the reconciliation", true}, {"index unavailable", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// 450 subscribers, 300 linked, all synced as subscribed; the
			// first 200 entries were written by the previous release.
			w := newReconcileWorld(t, 450, 5, func(id int64) (bool, bool) { return true, id <= 300 })
			w.unindex(older...)
			if !tt.indexed {
				w.config.Ledger = noIndexing{w.ledger}
				w.sched = newScheduler(t, w.config)
			}
			w.tick()
			if got := w.reconcileJobs(); !slices.Equal(got, want) {
				t.Fatalf("reconciliation enqueued %d subscribers, want %d (%v...)", len(got), len(want), got[:min(5, len(got))])
			}
			cp, _, err := w.checkpoints.Reconcile(context.Background(), "news")
			if err != nil || cp.LedgerIndexed != tt.indexed || cp.Passes != 1 {
				t.Fatalf("checkpoint %+v, %v; want one pass, indexed %v", cp, err, tt.indexed)
			}
			if !tt.indexed {
				return
			}
			linked, err := w.ledger.LinkedRange(context.Background(), "news", 1, 450)
			if err != nil || len(linked) != 300 {
				t.Fatalf("the index holds %d entries (%v), want all 300", len(linked), err)
			}
		})
	}
}

// TestReconcileHandsEachUnlinkedOptOutOverOnce: an unsubscribe through a
// subscriber no customer is linked to (a duplicate imported twice) reaches
// the worker, which finds the customer through Contacthub: once, and once
// more ten minutes later, in case Contacthub's search did not hold a new
// customer yet; passes that find it unchanged hand nothing else over, a
// subscribe again is noted without a job, and a new unsubscribe after it
// is handed over again.
func TestReconcileHandsEachUnlinkedOptOutOverOnce(t *testing.T) {
	t.Parallel()
	// Subscriber 1 is linked and subscribed; 2 is unlinked at -1, 3 is
	// unlinked and pending.
	w := newReconcileWorld(t, 3, 5, func(id int64) (bool, bool) { return true, id == 1 })
	pass := func() []int64 {
		t.Helper()
		w.tick()
		return w.reconcileJobs()
	}
	if got := pass(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("first pass handed over %v, want the unlinked opt-out 2", got)
	}
	if got := pass(); len(got) != 0 {
		t.Fatalf("a pass over unchanged subscribers handed over %v", got)
	}
	// Once more, later (Contacthub's search may not have held a new
	// customer the first time), and then no more.
	w.clock.Advance(11 * time.Minute)
	if got := pass(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("a pass 11 minutes later handed over %v, want 2 a second time", got)
	}
	w.clock.Advance(11 * time.Minute)
	if got := pass(); len(got) != 0 {
		t.Fatalf("a third pass handed over %v", got)
	}
	if err := w.send.SetSubscriptionStatus(1, 2, reconcileWebform, 1); err != nil {
		t.Fatal(err)
	}
	if got := pass(); len(got) != 0 {
		t.Fatalf("a subscribe through an unlinked subscriber handed over %v", got)
	}
	if err := w.send.SetSubscriptionStatus(1, 2, reconcileWebform, -1); err != nil {
		t.Fatal(err)
	}
	if got := pass(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("a new unsubscribe through the unlinked subscriber handed over %v, want 2", got)
	}
}
