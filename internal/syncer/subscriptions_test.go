package syncer

import (
	"context"
	"testing"

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
