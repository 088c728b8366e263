package syncer

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"pgregory.net/rapid"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/testkit"
)

// Defaults of the property test in a plain `go test`; -rapid.checks=N and
// -rapid.seed=S override them (see docs/subscriptions.md).
const (
	propertyChecks = 6
	propertySeed   = 20261127
)

// setRapidDefaults bounds the property test unless the flags were given.
func setRapidDefaults(t *testing.T) {
	t.Helper()
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, value := range map[string]string{"rapid.checks": fmt.Sprint(propertyChecks), "rapid.seed": fmt.Sprint(propertySeed)} {
		if !given[name] {
			if err := flag.Set(name, value); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// jobQueue stands in for SQS: jobs wait in it until the test delivers
// them, in any order, any number of times.
type jobQueue struct {
	mu   sync.Mutex
	now  func() time.Time
	jobs []jobs.Job
}

// Send stamps jobs with their enqueue time and run, as jobs.Queue does.
func (q *jobQueue) Send(ctx context.Context, js ...jobs.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range js {
		if j.EnqueuedAt.IsZero() {
			j.EnqueuedAt = q.now()
		}
		if j.RunID == "" {
			j.RunID = jobs.RunOf(ctx)
		}
		q.jobs = append(q.jobs, j)
	}
	return nil
}

func (q *jobQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

// take removes and returns the job at i.
func (q *jobQueue) take(i int) jobs.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[i]
	q.jobs = append(q.jobs[:i], q.jobs[i+1:]...)
	return j
}

const (
	promo        = "promo"        // a Contacthub subscription no row maps
	promoWebform = "230004009999" // a Contactsend system no row maps
)

// world is one property case: the harness's simulators, table and source,
// plus a scheduler and a worker that the test restarts.
type world struct {
	h         *harness
	clock     *testkit.Clock // shared by the worker, the scheduler and both simulators
	queue     *jobQueue
	scheduler *scheduler.Scheduler
	worker    *Worker
	customers []string
	subs      []int64
	promos    []any // the untouched Contacthub subscription of each customer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	h := newHarness(t, withNewsletter)
	seed, err := sendsim.LoadSeed(filepath.Join("testdata", "sendsim.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed.UserDBs[0].Subscriptions = append(seed.UserDBs[0].Subscriptions,
		sendsim.Subscription{ID: 12, Name: "Promotions", RegistrationField: "__cls2", WebformCode: promoWebform})
	if err := h.send.Load(seed); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	w := &world{h: h, clock: clock, queue: &jobQueue{now: clock.Now}}
	h.hub.SetClock(w.clock.Now)
	h.send.SetClock(w.clock.Now)
	conn, err := h.store.Connection(context.Background(), workspace)
	if err != nil {
		t.Fatal(err)
	}
	hubClient := func() (*contacthub.Client, error) {
		return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken,
			Retry: retry.Policy{Attempts: 2, Sleep: instant}, Timeout: 5 * time.Second})
	}
	send := w.sendClient(t)
	w.scheduler, err = scheduler.New(scheduler.Config{
		Sources: h.store,
		Hub: func(configstore.Connection) (scheduler.Hub, error) {
			return hubClient()
		},
		Checkpoints: checkpoint.New(testkit.Emulators(t).DynamoDB(), h.table),
		Jobs:        w.queue,
		Send:        send,
		Ledger:      h.ledger,
		Now:         w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.restart(t)
	return w
}

func (w *world) sendClient(t *testing.T) *contactsend.Client {
	t.Helper()
	c, err := contactsend.New(contactsend.Config{Endpoint: w.h.sendURL, Retry: retry.Policy{Attempts: 2, Sleep: instant}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restart replaces the worker, as a new Lambda instance would: nothing but
// the ledger carries over.
func (w *world) restart(t *testing.T) {
	t.Helper()
	worker, err := New(Config{
		Sources: w.h.store,
		Ledger:  w.h.ledger,
		Hub: func(conn configstore.Connection) (Hub, error) {
			return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken,
				Retry: retry.Policy{Attempts: 2, Sleep: instant}, Timeout: 5 * time.Second})
		},
		Send:    w.sendClient(t),
		History: w.h.trail,
		Clock:   w.clock.Now,
		Logger:  slog.New(slog.DiscardHandler),
		// Longer than any job waits in a round (12 steps of at most 8 s),
		// so an undated job always waits for a dated one.
		EventWait: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.worker = worker
}

// replay folds a customer's consent trail, oldest first, into each
// side's subscribed state: every decision's after-state, Contactsend's
// only where the decision read or wrote it.
func (w *world) replay(t *testing.T, i int) (hub, send bool) {
	t.Helper()
	all, err := w.h.trail.All(context.Background(), w.h.src.ID, w.customers[i])
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(all)
	for _, e := range all {
		if e.Kind != history.Subscription || e.SubscriptionID != newsletter {
			continue
		}
		hub = e.HubAfter == history.StateSubscribed
		if e.SendAfter != "" {
			send = e.SendAfter == history.StateSubscribed
		}
	}
	return hub, send
}

// deliver runs a batch of the given queued jobs; jobs SQS would get back
// (partial batch failures) return to the queue.
func (w *world) deliver(t *testing.T, batch []jobs.Job) {
	t.Helper()
	var ev events.SQSEvent
	byID := map[string]jobs.Job{}
	for i, j := range batch {
		body, err := j.Encode()
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("m%d", i)
		byID[id] = j
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: body})
	}
	resp, err := w.worker.HandleSQS(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.BatchItemFailures {
		w.queue.Send(context.Background(), byID[f.ItemIdentifier])
	}
}

func (w *world) tick(t *testing.T) {
	t.Helper()
	if _, err := w.scheduler.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// quiesce clears the faults and runs ticks and the queued jobs until a
// tick finds nothing more to do. Each round delivers what is queued once,
// so a job held off by a claim waits for the clock to move.
func (w *world) quiesce(t *testing.T) {
	t.Helper()
	w.h.send.Faults().Reset()
	w.h.hub.Faults().Reset()
	for round := 0; round < 60; round++ {
		w.clock.Advance(3 * time.Second)
		w.tick(t)
		queued := w.queue.len()
		if queued == 0 {
			return
		}
		for queued > 0 {
			n := min(queued, 10)
			batch := make([]jobs.Job, 0, n)
			for range n {
				batch = append(batch, w.queue.take(0))
			}
			queued -= n
			w.deliver(t, batch)
		}
	}
	t.Fatalf("no quiescence after 60 rounds; %d jobs queued", w.queue.len())
}

// state reads both sides of a customer's newsletter subscription.
func (w *world) state(t *testing.T, i int) (hub bool, send string) {
	t.Helper()
	hub, _ = w.h.hubSubscribed(w.customers[i], newsletter)
	s, err := w.h.send.Subscriber(userDB, w.subs[i])
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Attributes["__cls1"].(string)
	return hub, v
}

func (w *world) promoOf(t *testing.T, i int) any {
	t.Helper()
	c, _ := w.h.hub.Customer(hubWorkspace, w.customers[i])
	base, _ := c["base"].(map[string]any)
	subs, _ := base["subscriptions"].([]any)
	for _, raw := range subs {
		if s, _ := raw.(map[string]any); s["id"] == promo {
			return s
		}
	}
	return nil
}

// writeOps are the calls that change a subscription on either side.
var writeOps = map[string]bool{"modifySubscriberSubscriptionStatus": true, "subscriptions.put": true, "subscriptions.create": true}

// writeCalls counts the subscription write calls both simulators served.
func (w *world) writeCalls() int {
	n := 0
	for op, c := range w.h.send.Calls().Counts() {
		if writeOps[op] {
			n += c
		}
	}
	for op, c := range w.h.hub.Calls().Counts() {
		if writeOps[op] {
			n += c
		}
	}
	return n
}

// faultedWrites counts the write calls a fault answered instead of the
// simulator: the injected counts less what the rules have left.
func (w *world) faultedWrites(injected map[string]int) int {
	remaining := map[string]int{}
	for _, r := range append(w.h.send.Faults().Rules(), w.h.hub.Faults().Rules()...) {
		remaining[r.Operation] += r.Count
	}
	n := 0
	for op, c := range injected {
		if writeOps[op] {
			n += c - remaining[op]
		}
	}
	return n
}

// TestSubscriptionSyncProperty drives random interleavings of subscription
// changes on both simulators with duplicated, reordered and delayed jobs,
// the Contactsend webhook's jobs racing the reconciliation and the change
// feed, injected faults and worker restarts. After each round reaches
// quiescence, both sides agree on each customer's newsletter and hold its
// latest change, hubsend made at most one write per real change, and
// nothing unmapped was touched.
//
// Within a round a customer changes on one side, on both, or not at all.
// A customer changing on both sides makes at most one Contactsend change a
// round, always reported by the Contactsend webhook with its event date
// (the webhook's job may still run after the jobs of a later Contacthub
// change, or never before the reconciliation's): hubsend must order the
// two by when they happened, not by when it saw them.
func TestSubscriptionSyncProperty(t *testing.T) {
	setRapidDefaults(t)
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t)
		ctx := context.Background()
		const customers = 3
		for i := range customers {
			c := w.h.customer(fmt.Sprintf("p%d@example.com", i), fmt.Sprintf("P%d", i), nil)
			subs := []any{map[string]any{"id": promo, "subscribed": true}}
			if rapid.Bool().Draw(rt, fmt.Sprintf("initial%d", i)) {
				subs = append(subs, map[string]any{"id": newsletter, "subscribed": true})
			}
			c["base"].(map[string]any)["subscriptions"] = subs
			id := w.h.put(c)
			w.customers = append(w.customers, id)
			w.queue.Send(ctx, jobs.Job{SourceID: w.h.src.ID, CustomerID: id, Reason: jobs.FromBackfill})
		}
		w.quiesce(t)
		for i := range customers {
			w.subs = append(w.subs, w.h.only(fmt.Sprintf("p%d@example.com", i)).ID)
			w.promos = append(w.promos, w.promoOf(t, i))
		}

		rounds := rapid.IntRange(1, 3).Draw(rt, "rounds")
		for round := range rounds {
			w.h.send.Calls().Reset()
			w.h.hub.Calls().Reset()
			injected := map[string]int{}
			side := make([]string, customers)
			for i := range side {
				side[i] = rapid.SampledFrom([]string{"hub", "send", "both", "none"}).Draw(rt, fmt.Sprintf("r%d side%d", round, i))
			}
			want := make([]bool, customers)
			// explicitNo marks a customer whose latest change is a
			// Contacthub unsubscribe: Contactsend must end at -1.
			explicitNo := make([]bool, customers)
			// sendChanged marks a "both" customer's one Contactsend change.
			sendChanged := make([]bool, customers)
			for i := range customers {
				hub, _ := w.state(t, i)
				want[i] = hub
			}
			changes := 0
			steps := rapid.IntRange(1, 12).Draw(rt, fmt.Sprintf("r%d steps", round))
			for step := range steps {
				label := fmt.Sprintf("r%d s%d", round, step)
				w.clock.Advance(time.Duration(rapid.IntRange(3, 8).Draw(rt, label+" wait")) * time.Second)
				switch rapid.IntRange(0, 6).Draw(rt, label+" action") {
				case 0, 1: // a person changes a subscription
					i := rapid.IntRange(0, customers-1).Draw(rt, label+" customer")
					which := side[i]
					if which == "both" {
						which = "hub"
						if !sendChanged[i] && rapid.Bool().Draw(rt, label+" on Contactsend") {
							which, sendChanged[i] = "send", true
						}
					}
					switch which {
					case "hub":
						v := rapid.Bool().Draw(rt, label+" subscribed")
						before, sendBefore := w.state(t, i)
						_, present := w.h.hubSubscribed(w.customers[i], newsletter)
						if err := w.h.hub.SetSubscribed(hubWorkspace, w.customers[i], newsletter, v); err != nil {
							t.Fatal(err)
						}
						// An explicit no must end as -1, so it is a change
						// wherever Contactsend does not hold -1 yet.
						if before != v || !v && sendBefore != "-1" {
							changes++
						}
						// Setting the flag it holds is no change in
						// Contacthub (updatedAt stays).
						if !present || before != v {
							want[i], explicitNo[i] = v, !v
						}
						if rapid.Bool().Draw(rt, label+" webhook") {
							w.queue.Send(ctx, jobs.Job{SourceID: w.h.src.ID, CustomerID: w.customers[i], Reason: jobs.FromWebhook})
						}
					case "send":
						_, before := w.state(t, i)
						statuses := []int{-1, 0, 1}
						if side[i] == "both" {
							// Across sides a change must flip subscribed:
							// -1 and 0 both read as not subscribed.
							statuses = []int{1}
							if before == "1" {
								statuses = []int{-1, 0}
							}
						}
						v := rapid.SampledFrom(statuses).Draw(rt, label+" status")
						if err := w.h.send.SetSubscriptionStatus(userDB, w.subs[i], webform, v); err != nil {
							t.Fatal(err)
						}
						if before != fmt.Sprint(v) {
							changes++
						}
						want[i], explicitNo[i] = v == 1, false
						if side[i] == "both" || rapid.Bool().Draw(rt, label+" webhook") {
							w.queue.Send(ctx, jobs.Job{SourceID: w.h.src.ID, SubscriberID: w.subs[i], Reason: jobs.FromSendWebhook, EventAt: w.clock.Now()})
						}
					}
				case 2: // SQS delivers some jobs, in any order, some twice
					if w.queue.len() == 0 {
						continue
					}
					n := rapid.IntRange(1, min(3, w.queue.len())).Draw(rt, label+" batch")
					var batch []jobs.Job
					for range n {
						j := w.queue.take(rapid.IntRange(0, w.queue.len()-1).Draw(rt, label+" pick"))
						batch = append(batch, j)
						if rapid.IntRange(0, 3).Draw(rt, label+" duplicate") == 0 {
							w.queue.Send(ctx, j)
						}
					}
					w.deliver(t, batch)
				case 3: // the scheduler: change feed and reconciliation
					w.tick(t)
				case 4: // a fault on one operation
					op := rapid.SampledFrom([]string{"modifySubscriberSubscriptionStatus", "getSubscriber", "findSubscribersBy", "customers.get", "subscriptions.put", "subscriptions.create"}).Draw(rt, label+" fault op")
					count := rapid.IntRange(1, 3).Draw(rt, label+" fault count")
					status := rapid.SampledFrom([]int{429, 500, 503}).Draw(rt, label+" fault status")
					rule := faults.Rule{Operation: op, Kind: faults.Status, Status: status, Count: count}
					target := w.h.hub.Faults()
					if op == "modifySubscriberSubscriptionStatus" || op == "getSubscriber" || op == "findSubscribersBy" {
						target = w.h.send.Faults()
					}
					if _, err := target.Add(rule); err != nil {
						t.Fatal(err)
					}
					injected[op] += count
				case 5: // a new worker instance
					w.restart(t)
				case 6: // a late duplicate of an old job
					w.queue.Send(ctx, jobs.Job{SourceID: w.h.src.ID, CustomerID: w.customers[rapid.IntRange(0, customers-1).Draw(rt, label+" old")], Reason: jobs.FromFeed})
				}
			}
			faulted := w.faultedWrites(injected)
			w.quiesce(t)
			written := w.writeCalls() - faulted
			for i := range customers {
				hub, send := w.state(t, i)
				sendSubscribed := send == "1"
				if hub != sendSubscribed {
					t.Fatalf("round %d customer %d: Contacthub subscribed=%v, Contactsend __cls1=%s: the sides disagree", round, i, hub, send)
				}
				if hub != want[i] {
					t.Fatalf("round %d customer %d: subscribed=%v, want the latest change %v", round, i, hub, want[i])
				}
				if explicitNo[i] && send != "-1" {
					t.Fatalf("round %d customer %d: Contacthub unsubscribed explicitly, Contactsend __cls1=%s, want -1", round, i, send)
				}
				e := w.h.entry(w.customers[i]).Subscription(newsletter)
				if !e.Known || e.Subscribed != hub {
					t.Fatalf("round %d customer %d: ledger %+v, sides %v", round, i, e, hub)
				}
				if replayHub, replaySend := w.replay(t, i); replayHub != hub || replaySend != sendSubscribed {
					t.Fatalf("round %d customer %d: the trail replayed says Contacthub subscribed=%v, Contactsend subscribed=%v; the sides hold %v and __cls1=%s",
						round, i, replayHub, replaySend, hub, send)
				}
				sub, err := w.h.send.Subscriber(userDB, w.subs[i])
				if err != nil {
					t.Fatal(err)
				}
				if got := sub.Attributes["__cls2"]; got != "0" {
					t.Fatalf("customer %d: the unmapped subscription system holds %v", i, got)
				}
				if got := w.promoOf(t, i); !reflect.DeepEqual(got, w.promos[i]) {
					t.Fatalf("customer %d: the unmapped Contacthub subscription changed: %v, was %v", i, got, w.promos[i])
				}
			}
			if written > changes {
				t.Fatalf("round %d: hubsend wrote %d times for %d real changes (send %v, hub %v)", round, written, changes,
					w.h.send.Calls().Counts(), w.h.hub.Calls().Counts())
			}
		}
	})
}
