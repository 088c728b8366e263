package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// stats returns the source's counters of the last hour.
func (h *harness) stats() ledger.Counts {
	h.t.Helper()
	st, err := h.ledger.Stats(context.Background(), h.src.ID, h.now().Add(-time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Counts
}

// TestDeletePolicies deletes a subscribed customer in Contacthub under each
// policy: the default unsubscribes the kept subscriber from every mapped
// subscription, and each policy's effect has its own counter.
func TestDeletePolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy     source.DeletePolicy
		status     string // __cls1 afterwards; "" when the subscriber is gone
		want       ledger.Counts
		modifyCall int
	}{
		{policy: "", status: "-1", want: ledger.Counts{Unsubscribed: 1}, modifyCall: 1},
		{policy: source.UnsubscribeSubscriber, status: "-1", want: ledger.Counts{Unsubscribed: 1}, modifyCall: 1},
		{policy: source.KeepSubscriber, status: "1", want: ledger.Counts{Kept: 1}},
		{policy: source.RemoveSubscriber, want: ledger.Counts{Removed: 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("policy %q", tt.policy), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withNewsletter, func(s *source.Source) { s.Properties.OnCustomerDeleted = tt.policy })
			c := h.customer("erased@example.com", "Erased", nil)
			c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
			id := h.put(c)
			h.sync(id)
			sub := h.only("erased@example.com")
			if got := h.sendStatus(sub.ID); got != "1" {
				t.Fatalf("__cls1 = %s before the deletion", got)
			}
			before := h.stats()
			if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
				t.Fatal(err)
			}
			h.calls()
			if failed := h.sync(id); failed != nil {
				t.Fatalf("failed %v", failed)
			}
			calls := h.calls()
			if tt.status == "" {
				if len(h.subscribers("erased@example.com")) != 0 {
					t.Fatal("the subscriber was not removed")
				}
			} else if got := h.sendStatus(h.only("erased@example.com").ID); got != tt.status {
				t.Fatalf("__cls1 = %s after the deletion, want %s", got, tt.status)
			}
			if calls["modifySubscriberSubscriptionStatus"] != tt.modifyCall {
				t.Fatalf("Contactsend calls %v, want %d subscription writes", calls, tt.modifyCall)
			}
			after := h.stats()
			got := ledger.Counts{Removed: after.Removed - before.Removed, Kept: after.Kept - before.Kept, Unsubscribed: after.Unsubscribed - before.Unsubscribed}
			if got != tt.want {
				t.Fatalf("delete counters %+v, want %+v", got, tt.want)
			}
			if e := h.entry(id); !e.Deleted {
				t.Fatalf("entry not marked deleted: %+v", e)
			} else if tt.policy != source.KeepSubscriber && tt.policy != source.RemoveSubscriber {
				if s := e.Subscription(newsletter); !s.Known || s.Subscribed || s.Origin != subscriptions.Hub {
					t.Fatalf("ledger subscription state %+v, want unsubscribed by hubsend", s)
				}
			}
			// Handled once: a redelivery, and the reconciliation, write nothing.
			h.sync(id)
			if tt.status != "" {
				h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile}))
			}
			if s, hb := h.writes(); s != 0 || hb != 0 {
				t.Fatalf("a second run wrote send=%d hub=%d", s, hb)
			}
		})
	}
}

// TestUnmatchableCustomers syncs a customer without an email (the match
// field) under both policies: a failed record, or a skip counted with its
// reason; switching to skip clears the failed record.
func TestUnmatchableCustomers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("", "Sms", nil)
	delete(c["base"].(map[string]any), "contacts")
	id := h.put(c)
	ctx := context.Background()

	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	f, err := h.ledger.Failure(ctx, h.src.ID, id)
	if err != nil || f.Kind != ledger.Coercion || !strings.Contains(f.Reason, "match field EMAIL has no value") {
		t.Fatalf("by default a failed record: %+v, %v", f, err)
	}

	h.replaceSource(func(s *source.Source) { s.Properties.OnUnmatchable = source.SkipUnmatchable })
	before := h.stats()
	h.calls()
	if failed := h.handle(h.event(jobs.Job{CustomerID: id, Reason: jobs.FromRetry})); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if calls := h.calls(); len(calls) != 0 {
		t.Fatalf("a skipped customer cost Contactsend calls %v", calls)
	}
	if got := h.lastOutcome(id); got != string(Skipped) {
		t.Fatalf("outcome %q, want skipped", got)
	}
	after := h.stats()
	if after.Skipped-before.Skipped != 1 || after.Unmatchable-before.Unmatchable != 1 || after.Failed != before.Failed {
		t.Fatalf("counters before %+v after %+v: want one more skipped and unmatchable", before, after)
	}
	if _, err := h.ledger.Failure(ctx, h.src.ID, id); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the failed record stays after the source chose to skip: %v", err)
	}
	if e := h.entry(id); e.Failed {
		t.Fatalf("entry still failed: %+v", e)
	}
	var logged bool
	for _, line := range h.logs.Lines(t, "sync job") {
		if line["customer_id"] == id && line["outcome"] == "skipped" && line["reason"] == "match value missing" {
			logged = true
		}
	}
	if !logged {
		t.Fatal("the skip's reason is not logged")
	}
	p, err := h.worker.Preview(ctx, h.src, id)
	if err != nil || p.Action != ActionSkip || !strings.Contains(p.Note, "match field EMAIL has no value") {
		t.Fatalf("preview %+v, %v: want a skip naming the field", p, err)
	}
}
