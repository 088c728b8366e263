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

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

var measureSubscribers = flag.Int("reconcile.measure", 0, "measure a full reconciliation pass over this many subscribers (see docs/subscriptions.md)")

const reconcileWebform = "230004001355"

// reconcileWorld is a harness whose source syncs a newsletter against a
// Contactsend simulator of n subscribers, the first linked of them in the
// ledger with the given synced states.
type reconcileWorld struct {
	*harness
	send   *sendsim.Server
	ledger *ledger.Store
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
	store := ledger.New(stack.DynamoDB(), emulators.NewTableT(t, stack))
	w := &reconcileWorld{send: send, ledger: store}
	w.harness = newHarness(t, options{configure: func(c *scheduler.Config) {
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
	var got []int64
	for _, j := range w.drain() {
		if j.Reason == jobs.FromReconcile {
			got = append(got, j.SubscriberID)
		}
	}
	slices.Sort(got)
	var want []int64
	for id := int64(1); id <= 300; id++ {
		if id%3 != 1 { // __cls1 is -1 or 0: not subscribed
			want = append(want, id)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("reconciliation enqueued %d subscribers, want %d (%v...)", len(got), len(want), got[:min(5, len(got))])
	}
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
	w.config.MaxReconcilePages = 1 << 20
	start := time.Now()
	w.tick()
	took := time.Since(start)
	cp, _, err := w.checkpoints.Reconcile(context.Background(), "news")
	if err != nil || cp.Passes != 1 {
		t.Fatalf("the pass did not finish in one tick: %+v, %v", cp, err)
	}
	pages := (n + scheduler.ReconcilePageSize - 1) / scheduler.ReconcilePageSize
	perSecond := float64(pages) / took.Seconds()
	perTick := float64(scheduler.DefaultMaxReconcilePages)
	t.Logf("%d subscribers, %d pages of %d in %s: %.1f pages/s (%.0f subscribers/s)", n, pages, scheduler.ReconcilePageSize, took.Round(time.Millisecond), perSecond, perSecond*scheduler.ReconcilePageSize)
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
