package syncer

import (
	"context"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

const (
	newsletter = "newsletter"
	webform    = "230004001355"
)

func withNewsletter(s *source.Source) {
	s.Properties.Subscriptions = []source.Subscription{{HubSubscriptionID: newsletter, SendSubscriptionID: 11, WebformCode: webform}}
}

// hubSubscribed reads a customer's subscription flag in the simulator.
func (h *harness) hubSubscribed(customerID, subscriptionID string) (subscribed, present bool) {
	h.t.Helper()
	c, ok := h.hub.Customer(hubWorkspace, customerID)
	if !ok {
		h.t.Fatalf("customer %s not in the simulator", customerID)
	}
	base, _ := c["base"].(map[string]any)
	subs, _ := base["subscriptions"].([]any)
	for _, raw := range subs {
		s, _ := raw.(map[string]any)
		if s["id"] == subscriptionID {
			b, _ := s["subscribed"].(bool)
			return b, true
		}
	}
	return false, false
}

func (h *harness) sendStatus(subscriberID int64) string {
	h.t.Helper()
	s, err := h.send.Subscriber(userDB, subscriberID)
	if err != nil {
		h.t.Fatal(err)
	}
	v, _ := s.Attributes["__cls1"].(string)
	return v
}

// writes counts hubsend's subscription writes on both sides since the last
// call.
func (h *harness) writes() (send, hub int) {
	send = h.send.Calls().Counts()["modifySubscriberSubscriptionStatus"]
	h.send.Calls().Reset()
	counts := h.hub.Calls().Counts()
	h.hub.Calls().Reset()
	return send, counts["subscriptions.create"] + counts["subscriptions.put"]
}

func TestSubscriptionFollowsContacthub(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("anna@example.com", "Anna", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	sub := h.only("anna@example.com")
	if got := h.sendStatus(sub.ID); got != "1" {
		t.Fatalf("__cls1 = %q after a Contacthub subscribe, want 1", got)
	}
	if s, _ := h.writes(); s != 1 {
		t.Fatalf("%d Contactsend subscription writes, want 1", s)
	}
	// The same job again, and a job from the Contactsend side: no writes.
	h.sync(id)
	h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile}))
	if s, hb := h.writes(); s != 0 || hb != 0 {
		t.Fatalf("repeat jobs wrote %d/%d times", s, hb)
	}
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
		t.Fatal(err)
	}
	h.sync(id)
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q after a Contacthub unsubscribe, want -1", got)
	}
	if e := h.entry(id).Subscription(newsletter); !e.Known || e.Subscribed || e.Origin != subscriptions.Hub {
		t.Fatalf("ledger state %+v", e)
	}
}

func TestSubscriptionFollowsContactsend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("bruno@example.com", "Bruno", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	sub := h.only("bruno@example.com")
	h.writes()

	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, -1); err != nil {
		t.Fatal(err)
	}
	if failed := h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook})); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if s, present := h.hubSubscribed(id, newsletter); !present || s {
		t.Fatalf("Contacthub subscribed=%v present=%v after a Contactsend unsubscribe", s, present)
	}
	if s, hb := h.writes(); s != 0 || hb != 1 {
		t.Fatalf("writes send=%d hub=%d, want 0 and 1", s, hb)
	}
	// Contacthub's echo (the customer changed) is dropped.
	h.sync(id)
	if s, hb := h.writes(); s != 0 || hb != 0 {
		t.Fatalf("the echo wrote send=%d hub=%d", s, hb)
	}
	// Pending is not subscribed: it never subscribes in Contacthub.
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, 0); err != nil {
		t.Fatal(err)
	}
	h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile}))
	if s, _ := h.hubSubscribed(id, newsletter); s {
		t.Fatal("pending subscribed the customer in Contacthub")
	}
	// An explicit subscribe does.
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, 1); err != nil {
		t.Fatal(err)
	}
	h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile}))
	if s, _ := h.hubSubscribed(id, newsletter); !s {
		t.Fatal("an explicit Contactsend subscribe did not reach Contacthub")
	}
}

func TestSubscriptionCreatedInContacthubWhenMissing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	id := h.put(h.customer("carla@example.com", "Carla", nil))
	h.sync(id)
	sub := h.only("carla@example.com")
	if _, present := h.hubSubscribed(id, newsletter); present {
		t.Fatal("a pending subscriber created a Contacthub subscription")
	}
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, 1); err != nil {
		t.Fatal(err)
	}
	h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook}))
	if s, present := h.hubSubscribed(id, newsletter); !present || !s {
		t.Fatalf("subscribed=%v present=%v, want a created subscribed subscription", s, present)
	}
}

func TestSubscriptionsOfAggregateNodeAreNotTouched(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	h.src.Nodes = nil
	h.replaceSource(func(s *source.Source) { s.Nodes = []string{h.agg} })
	c := h.customer("dario@example.com", "Dario", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	sub := h.only("dario@example.com")
	if got := h.sendStatus(sub.ID); got != "0" {
		t.Fatalf("__cls1 = %q for an aggregate node's customer, want untouched 0", got)
	}
}

func TestPreviewShowsSubscriptionDecisions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("elena@example.com", "Elena", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	h.writes()
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
		t.Fatal(err)
	}
	p, err := h.worker.Preview(context.Background(), h.src, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Subscriptions) != 1 || p.Subscriptions[0].Action != subscriptions.WriteSend || p.Subscriptions[0].Subscribed {
		t.Fatalf("preview subscriptions = %+v", p.Subscriptions)
	}
	if s, hb := h.writes(); s != 0 || hb != 0 {
		t.Fatal("preview wrote")
	}
}

func TestRacingJobsWriteOneChangeOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("fabio@example.com", "Fabio", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	sub := h.only("fabio@example.com")
	h.writes()
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
		t.Fatal(err)
	}
	// The change seen by the feed, a webhook and the reconciliation at once.
	h.handle(h.event(
		jobs.Job{CustomerID: id, Reason: jobs.FromFeed},
		jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile},
		jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook},
	))
	for range 3 {
		h.sync(id) // redeliveries of whatever was given back
	}
	if s, hb := h.writes(); s != 1 || hb != 0 {
		t.Fatalf("writes send=%d hub=%d for one change, want 1 and 0", s, hb)
	}
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q", got)
	}
}

// TestFirstLoadWritesExplicitUnsubscribes loads a node whose customers said
// yes, said no, or were never asked: a no is -1 in Contactsend (pending
// would count them as awaiting confirmation), never asked stays as
// Contactsend holds it, and nothing is created in Contacthub.
func TestFirstLoadWritesExplicitUnsubscribes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	withState := func(email string, state any) string {
		c := h.customer(email, "First", nil)
		if state != nil {
			c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": state}}
		}
		return h.put(c)
	}
	want := map[string]string{
		"yes@example.com": "1", "no@example.com": "-1", "no.too@example.com": "-1", "never.asked@example.com": "0",
		// The seed holds this subscriber at 1: two explicit states that
		// differ unsubscribe.
		"existing.person@example.com": "-1",
	}
	ids := map[string]string{
		"yes@example.com": withState("yes@example.com", true), "no@example.com": withState("no@example.com", false),
		"no.too@example.com": withState("no.too@example.com", false), "never.asked@example.com": withState("never.asked@example.com", nil),
		"existing.person@example.com": withState("existing.person@example.com", false),
	}
	var js []jobs.Job
	for _, id := range ids {
		js = append(js, jobs.Job{CustomerID: id, Reason: jobs.FromBackfill})
	}
	if failed := h.handle(h.event(js...)); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	for email, status := range want {
		if got := h.sendStatus(h.only(email).ID); got != status {
			t.Errorf("%s: __cls1 = %s after the first load, want %s", email, got, status)
		}
	}
	if _, present := h.hubSubscribed(ids["never.asked@example.com"], newsletter); present {
		t.Error("a customer never asked got a Contacthub subscription")
	}
	if s, hb := h.writes(); s != 4 || hb != 0 {
		t.Errorf("first load wrote send=%d hub=%d, want 4 and 0", s, hb)
	}
	// Loaded again, and reconciled from the Contactsend side: nothing more.
	for _, id := range ids {
		h.sync(id)
	}
	for email := range want {
		h.handle(h.event(jobs.Job{SubscriberID: h.only(email).ID, Reason: jobs.FromReconcile}))
	}
	if s, hb := h.writes(); s != 0 || hb != 0 {
		t.Errorf("a second load wrote send=%d hub=%d", s, hb)
	}
}

// TestUndatedConflictWaitsForTheEvent: Contactsend unsubscribes, then
// Contacthub re-subscribes, and the Contacthub side's job runs first. It
// cannot tell which change is later, so it waits (back to SQS) for the
// Contactsend event, whose own date settles it for Contacthub; a job
// enqueued longer ago than the wait decides at once, by when it saw the
// change.
func TestUndatedConflictWaitsForTheEvent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		enqueued time.Duration // before now
		waits    bool
	}{
		{name: "young job waits", enqueued: 0, waits: true},
		{name: "old job decides", enqueued: 10 * time.Minute, waits: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withNewsletter)
			c := h.customer("conflict@example.com", "Conflict", nil)
			c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
			id := h.put(c)
			h.sync(id)
			sub := h.only("conflict@example.com")
			h.writes()
			unsubscribedAt := h.now().Add(-10 * time.Second)
			if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, -1); err != nil {
				t.Fatal(err)
			}
			for _, v := range []bool{false, true} { // re-subscribed: updatedAt moves
				if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, v); err != nil {
					t.Fatal(err)
				}
			}
			failed := h.handle(h.event(jobs.Job{CustomerID: id, Reason: jobs.FromFeed, EnqueuedAt: h.now().Add(-tt.enqueued)}))
			if !tt.waits {
				if failed != nil {
					t.Fatalf("an old job was given back: %v", failed)
				}
				// Dated when seen, the Contactsend unsubscribe is no earlier
				// than the Contacthub change: unsubscribed wins.
				if s, _ := h.hubSubscribed(id, newsletter); s {
					t.Fatal("an old job did not decide the conflict")
				}
				return
			}
			if len(failed) != 1 {
				t.Fatalf("the Contacthub side's job was not given back to wait: %v", failed)
			}
			if s, hb := h.writes(); s != 0 || hb != 0 {
				t.Fatalf("a waiting job wrote send=%d hub=%d", s, hb)
			}
			if failed := h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook, EventAt: unsubscribedAt})); failed != nil {
				t.Fatalf("the dated job was given back: %v", failed)
			}
			if got := h.sendStatus(sub.ID); got != "1" {
				t.Fatalf("__cls1 = %s: the earlier Contactsend unsubscribe beat the later Contacthub subscribe", got)
			}
			if s, _ := h.hubSubscribed(id, newsletter); !s {
				t.Fatal("Contacthub lost its later subscribe")
			}
			h.writes()
			if failed := h.handle(h.event(jobs.Job{CustomerID: id, Reason: jobs.FromFeed, EnqueuedAt: h.now()})); failed != nil {
				t.Fatalf("the redelivered job was given back again: %v", failed)
			}
			if s, hb := h.writes(); s != 0 || hb != 0 {
				t.Fatalf("the redelivered job wrote send=%d hub=%d", s, hb)
			}
		})
	}
}

// TestContactsendEventWaitsForContacthubSearch: a Contactsend change of a
// subscriber the ledger does not know yet is matched to its customer by
// email through Contacthub's search, which lags new customers. A young job
// waits for the index (it is given back), and syncs once the customer is
// found; an old one gives up rather than retry for ever.
func TestContactsendEventWaitsForContacthubSearch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	h.hub.SetSearchIndexDelay(time.Minute)
	id := h.put(h.customer("dora@example.com", "Dora", nil))
	sub, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "dora@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 1); err != nil {
		t.Fatal(err)
	}
	job := jobs.Job{SubscriberID: sub, Reason: jobs.FromSendWebhook, EnqueuedAt: h.now()}
	if failed := h.handle(h.event(job)); len(failed) != 1 {
		t.Fatalf("given back %v, want the job waiting for Contacthub's search", failed)
	}
	if _, present := h.hubSubscribed(id, newsletter); present {
		t.Fatal("the customer was written before it was found")
	}
	h.hub.SetSearchIndexDelay(0)
	if failed := h.handle(h.event(job)); failed != nil {
		t.Fatalf("given back %v once the customer is searchable", failed)
	}
	if s, present := h.hubSubscribed(id, newsletter); !present || !s {
		t.Fatalf("subscribed=%v present=%v, want the Contactsend subscribe in Contacthub", s, present)
	}

	// A subscriber nobody in Contacthub holds: an old job is skipped.
	stranger, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	old := jobs.Job{SubscriberID: stranger, Reason: jobs.FromSendWebhook, EnqueuedAt: h.now().Add(-DefaultEventWait - time.Second)}
	if failed := h.handle(h.event(old)); failed != nil {
		t.Fatalf("an old job for an unknown customer was given back: %v", failed)
	}
}
