package syncer

import (
	"context"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/testkit"
)

// TestUnknownAddKeepsTheClaim: when an add's outcome is unknown and the
// subscriber is not visible yet, no other job may add the customer until
// the claim lapses, so a late-landing add cannot become a duplicate.
func TestUnknownAddKeepsTheClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("unknown@example.com", "Unknown", nil))
	if _, err := h.send.Faults().Add(faults.Rule{Operation: "addSubscriber", Kind: faults.Drop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if failed := h.sync(id); len(failed) != 1 {
		t.Fatalf("the job with an unknown add outcome was not given back: %v", failed)
	}
	if e := h.entry(id); !e.Adding(h.now()) || e.SubscriberID != 0 {
		t.Fatalf("ledger after an unknown add: %+v, want the add claim kept", e)
	}
	calls := h.calls()
	if failed := h.sync(id); len(failed) != 1 {
		t.Fatalf("a second job ran while the claim held: %v", failed)
	}
	if n := h.calls()["addSubscriber"]; n != 0 {
		t.Fatalf("a second job added while the first add's outcome was unknown (%d adds; before: %v)", n, calls)
	}
	if subs := h.subscribers("unknown@example.com"); len(subs) != 0 {
		t.Fatalf("subscribers = %v", subs)
	}
	// Redelivered after the visibility timeout, the job adds exactly one.
	h.skip(6 * time.Minute)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("redelivery after the claim lapsed failed: %v", failed)
	}
	h.only("unknown@example.com")
}

// TestBulkClaimHoldsOffAnUpdate: while the bulk lane holds a linked
// customer's entry (it is writing the subscriber from an older read), a
// per-customer job does not write; it comes back, and writes the newer
// values once the claim is gone.
func TestBulkClaimHoldsOffAnUpdate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("held@example.com", "Held", nil)
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("first sync given back: %v", failed)
	}
	held := h.entry(id)
	held.AddingUntil = h.now().Add(15 * time.Minute)
	if _, err := h.ledger.Put(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	c["base"].(map[string]any)["firstName"] = "Newer"
	h.put(c)
	h.calls()
	if failed := h.sync(id); len(failed) != 1 {
		t.Fatalf("a job ran while the bulk lane held the entry: %v", failed)
	}
	if n := h.calls()["updateSubscriber"]; n != 0 {
		t.Fatalf("%d updates while the bulk lane held the entry", n)
	}
	released := h.entry(id)
	released.AddingUntil = time.Time{}
	if _, err := h.ledger.Put(t.Context(), released); err != nil {
		t.Fatal(err)
	}
	if failed := h.sync(id); failed != nil {
		t.Fatalf("after the claim: given back %v", failed)
	}
	if n := h.calls()["updateSubscriber"]; n != 1 {
		t.Fatalf("%d updates after the claim, want 1", n)
	}
}

// TestNoAddOutlivesItsClaim: a search slower than the add claim leaves the
// claim to lapse mid-job, after which another job may take it. The job
// must not add once its claim has ended; it gives the customer back, its
// claim released, and a later job adds exactly one subscriber.
func TestNoAddOutlivesItsClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const claim = 300 * time.Millisecond
	h.worker = h.newWorker(func(c *Config) { c.AddClaim = claim })
	id := h.put(h.customer("slowsearch@example.com", "Slow", nil))
	if _, err := h.send.Faults().Add(faults.Rule{Operation: "findSubscribersBy", Kind: faults.Latency, Latency: 4 * claim, Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.calls()
	if failed := h.sync(id); len(failed) != 1 {
		t.Fatalf("a job whose claim lapsed during its search was not given back: %v", failed)
	}
	if n := h.calls()["addSubscriber"]; n != 0 {
		t.Fatalf("%d adds after the add claim had lapsed", n)
	}
	if e := h.entry(id); e.Adding(h.now()) {
		t.Fatalf("claim left in place though nothing was added: %+v", e)
	}
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the next job was given back: %v", failed)
	}
	h.only("slowsearch@example.com")
}

// TestUnknownAddProlongsTheClaim: an add cut off with its outcome unknown
// may still land at Contactsend; the claim then runs a whole claim from
// the give-back, not from when it was taken, so that the job taking it
// next reads the late subscriber back instead of adding another.
func TestUnknownAddProlongsTheClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("late@example.com", "Late", nil))
	const inFlight = 500 * time.Millisecond
	for _, rule := range []faults.Rule{
		{Operation: "addSubscriber", Kind: faults.Latency, Latency: inFlight, Count: 1},
		{Operation: "addSubscriber", Kind: faults.Drop, Count: 1},
	} {
		if _, err := h.send.Faults().Add(rule); err != nil {
			t.Fatal(err)
		}
	}
	start := h.now()
	if failed := h.sync(id); len(failed) != 1 {
		t.Fatalf("the job with an unknown add outcome was not given back: %v", failed)
	}
	e := h.entry(id)
	if want := start.Add(inFlight + DefaultAddClaim); e.AddingUntil.Before(want) {
		t.Fatalf("claim ends %v after the job started, want at least %v: a whole claim after the add", e.AddingUntil.Sub(start), want.Sub(start))
	}
}

// TestNoSubscriptionWriteOutlivesItsClaim: the claim on a customer's
// subscription rows bounds their writes as the add claim bounds adds. A
// Contactsend write slower than the claim is cut off and the job given
// back, rather than landing after another worker may have written newer
// rows.
func TestNoSubscriptionWriteOutlivesItsClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	const claim = 400 * time.Millisecond
	h.worker = h.newWorker(func(c *Config) { c.SubscriptionClaim = claim })
	c := h.customer("rosa@example.com", "Rosa", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	const slow = 5 * time.Second
	if _, err := h.send.Faults().Add(faults.Rule{Operation: "modifySubscriberSubscriptionStatus", Kind: faults.Latency, Latency: slow, Count: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	failed := h.sync(id)
	if took := time.Since(start); took >= slow {
		t.Fatalf("the job waited %v for a subscription write past its %v claim", took, claim)
	}
	if len(failed) != 1 {
		t.Fatalf("a job whose subscription write was cut off at its claim's end was not given back: %v", failed)
	}
	// The next job writes the row.
	for range 5 {
		if h.sync(id) == nil {
			break
		}
	}
	if got := h.sendStatus(h.only("rosa@example.com").ID); got != "1" {
		t.Fatalf("__cls1 = %q after the retry, want 1", got)
	}
}

// TestAddRacedByTheBulkLaneYieldsToTheLowerID: the bulk lane writes its
// add claims in batches without conditions, so it can take over a claim a
// job holds, and both add the customer. Here the bulk lane adds first and
// reads back before the job's add lands, so only the job can see both: its
// ledger write fails on the bulk lane's version, and it removes its own
// subscriber (the higher id), leaving one.
func TestAddRacedByTheBulkLaneYieldsToTheLowerID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const email = "raced@example.com"
	id := h.put(h.customer(email, "Raced", nil))
	var bulkAdded int64
	h.worker = h.newWorker(func(c *Config) {
		c.Send = &beforeAdd{Send: c.Send, hook: func(ctx context.Context, send Send) {
			if bulkAdded != 0 {
				return
			}
			bulk := ledger.NewBulk(testkit.Emulators(t).DynamoDB(), h.table)
			read, err := bulk.GetMany(ctx, h.src.ID, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			e := read[id]
			until := h.now().Add(15 * time.Minute)
			e.AddingUntil, e.BulkClaimBy, e.BulkClaimUntil = until, "bulk:run:0+1", until
			if err := bulk.PutMany(ctx, []ledger.BulkEntry{e}, 1000); err != nil {
				t.Fatal(err)
			}
			sub, err := send.AddSubscriber(ctx, contactsend.Credentials{APIKey: "test-api-key", UserKey: "test-user-key"}, userDB,
				contactsend.Subscriber{Attributes: []contactsend.Attribute{{Key: "EMAIL", Value: contactsend.StringValue(email)}}})
			if err != nil {
				t.Fatal(err)
			}
			bulkAdded = sub.ID
		}}
	})
	if failed := h.sync(id); len(failed) != 1 {
		t.Fatalf("the job whose claim was taken over was not given back: %v", failed)
	}
	if got := h.only(email); got.ID != bulkAdded {
		t.Fatalf("kept subscriber %d, want the bulk lane's %d (the lower id)", got.ID, bulkAdded)
	}
}

// beforeAdd runs hook before each addSubscriber, with the Contactsend
// client to act as another lane.
type beforeAdd struct {
	Send
	hook func(context.Context, Send)
}

func (b *beforeAdd) AddSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	b.hook(ctx, b.Send)
	return b.Send.AddSubscriber(ctx, cred, db, s)
}

// TestBulkClaimHoldsOffASubscriptionWrite: while the bulk lane holds a
// linked customer's entry, a Contactsend-side unsubscribe is not carried
// over: the bulk lane records the entry whole when it is done, and would
// put back the subscription state it read over the one recorded now. The
// job comes back and carries the unsubscribe once the claim is gone.
func TestBulkClaimHoldsOffASubscriptionWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("held-consent@example.com", "Held", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("first sync given back: %v", failed)
	}
	sub := h.only("held-consent@example.com")
	held := h.entry(id)
	held.AddingUntil = h.now().Add(15 * time.Minute)
	if _, err := h.ledger.Put(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, -1); err != nil {
		t.Fatal(err)
	}
	unsubscribe := h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook, EventAt: h.now()})
	if failed := h.handle(unsubscribe); len(failed) != 1 {
		t.Fatalf("the unsubscribe was carried while the bulk lane held the entry: given back %v", failed)
	}
	if s, _ := h.hubSubscribed(id, newsletter); !s {
		t.Fatal("Contacthub unsubscribed while the bulk lane held the entry")
	}
	released := h.entry(id)
	released.AddingUntil = time.Time{}
	if _, err := h.ledger.Put(t.Context(), released); err != nil {
		t.Fatal(err)
	}
	if failed := h.handle(unsubscribe); failed != nil {
		t.Fatalf("after the claim: given back %v", failed)
	}
	if s, _ := h.hubSubscribed(id, newsletter); s {
		t.Fatal("the unsubscribe did not reach Contacthub once the claim was gone")
	}
}
