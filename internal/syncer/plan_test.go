package syncer

import (
	"context"
	"testing"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// lastOutcome returns the outcome of the last job the worker logged for a
// customer.
func (h *harness) lastOutcome(customerID string) string {
	h.t.Helper()
	outcome := ""
	for _, line := range h.logs.Lines(h.t, "sync job") {
		if line["customer_id"] == customerID {
			outcome, _ = line["outcome"].(string)
		}
	}
	return outcome
}

// TestPreviewAndWorkerAgree previews a customer, then runs the job on the
// same state and checks the worker did what the preview said: the same
// outcome, the same Contactsend data writes and the same subscription
// writes on each side.
func TestPreviewAndWorkerAgree(t *testing.T) {
	t.Parallel()
	subscribed := func(h *harness, c map[string]any, on bool) {
		c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": on}}
	}
	tests := []struct {
		name      string
		configure func(*source.Source)
		// setup brings the world to the state under test and returns the
		// customer and the job to run.
		setup func(h *harness) (string, jobs.Job)
		want  Action
		// wantSend and wantHub are the subscription writes the preview
		// announces on each side.
		wantSend, wantHub int
	}{
		{name: "new customer", want: ActionAdd, setup: func(h *harness) (string, jobs.Job) {
			id := h.put(h.customer("new@example.com", "New", nil))
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "unchanged customer", want: ActionNone, setup: func(h *harness) (string, jobs.Job) {
			id := h.put(h.customer("same@example.com", "Same", nil))
			h.sync(id)
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "changed customer", want: ActionUpdate, setup: func(h *harness) (string, jobs.Job) {
			c := h.customer("changed@example.com", "Before", nil)
			id := h.put(c)
			h.sync(id)
			c["base"].(map[string]any)["firstName"] = "After"
			h.put(c)
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "existing subscriber found by email", want: ActionUpdate, setup: func(h *harness) (string, jobs.Job) {
			id := h.put(h.customer("existing.person@example.com", "Newname", nil))
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "customer of another node", want: ActionSkip, setup: func(h *harness) (string, jobs.Job) {
			c := h.customer("elsewhere@example.com", "Else", nil)
			c["nodeId"] = h.other
			id := h.put(c)
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "value that cannot be coerced", want: ActionFail,
			configure: func(s *source.Source) {
				s.Properties.FieldMapping = append(s.Properties.FieldMapping[:3:3], source.FieldMapping{HubField: "extended.favouriteShop", SendField: "BIRTH_DATE"})
			},
			setup: func(h *harness) (string, jobs.Job) {
				id := h.put(h.customer("coerce@example.com", "Coerce", nil))
				return id, jobs.Job{CustomerID: id}
			}},
		{name: "no value in the match field", want: ActionFail, setup: func(h *harness) (string, jobs.Job) {
			c := h.customer("", "Nomail", nil)
			delete(c["base"].(map[string]any), "contacts")
			id := h.put(c)
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "deleted customer, subscriber kept", want: ActionKeep, setup: func(h *harness) (string, jobs.Job) {
			id := h.put(h.customer("kept@example.com", "Kept", nil))
			h.sync(id)
			if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
				h.t.Fatal(err)
			}
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "deleted customer, subscriber removed", want: ActionRemove,
			configure: func(s *source.Source) { s.Properties.OnCustomerDeleted = source.RemoveSubscriber },
			setup: func(h *harness) (string, jobs.Job) {
				id := h.put(h.customer("removed@example.com", "Removed", nil))
				h.sync(id)
				if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
					h.t.Fatal(err)
				}
				return id, jobs.Job{CustomerID: id}
			}},
		{name: "deleted customer, subscriber unsubscribed", want: ActionUnsubscribe, wantSend: 1, configure: withNewsletter,
			setup: func(h *harness) (string, jobs.Job) {
				c := h.customer("erased@example.com", "Erased", nil)
				subscribed(h, c, true)
				id := h.put(c)
				h.sync(id)
				if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
					h.t.Fatal(err)
				}
				return id, jobs.Job{CustomerID: id}
			}},
		{name: "no value in the match field, source skips", want: ActionSkip,
			configure: func(s *source.Source) { s.Properties.OnUnmatchable = source.SkipUnmatchable },
			setup: func(h *harness) (string, jobs.Job) {
				c := h.customer("", "Sms", nil)
				delete(c["base"].(map[string]any), "contacts")
				id := h.put(c)
				return id, jobs.Job{CustomerID: id}
			}},
		{name: "deleted customer never synced", want: ActionSkip, setup: func(h *harness) (string, jobs.Job) {
			id := h.put(h.customer("never@example.com", "Never", nil))
			if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
				h.t.Fatal(err)
			}
			return id, jobs.Job{CustomerID: id}
		}},
		{name: "unsubscribed in Contacthub", want: ActionNone, wantSend: 1, configure: withNewsletter,
			setup: func(h *harness) (string, jobs.Job) {
				c := h.customer("hubunsub@example.com", "Hub", nil)
				subscribed(h, c, true)
				id := h.put(c)
				h.sync(id)
				if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
					h.t.Fatal(err)
				}
				return id, jobs.Job{CustomerID: id}
			}},
		{name: "unsubscribed in Contactsend", want: ActionNone, wantHub: 1, configure: withNewsletter,
			setup: func(h *harness) (string, jobs.Job) {
				c := h.customer("sendunsub@example.com", "Send", nil)
				subscribed(h, c, true)
				id := h.put(c)
				h.sync(id)
				sub := h.only("sendunsub@example.com")
				if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, -1); err != nil {
					h.t.Fatal(err)
				}
				return id, jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var configure []func(*source.Source)
			if tt.configure != nil {
				configure = append(configure, tt.configure)
			}
			h := newHarness(t, configure...)
			id, job := tt.setup(h)

			p, err := h.worker.Preview(context.Background(), h.src, id)
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			if p.Action != tt.want {
				t.Fatalf("preview action %s (%s), want %s", p.Action, p.Note, tt.want)
			}
			previewSend, previewHub := 0, 0
			for _, s := range p.Subscriptions {
				switch s.Action {
				case subscriptions.WriteSend:
					previewSend++
				case subscriptions.WriteHub:
					previewHub++
				}
			}
			if previewSend != tt.wantSend || previewHub != tt.wantHub {
				t.Fatalf("preview subscription writes send=%d hub=%d, want %d and %d: %+v", previewSend, previewHub, tt.wantSend, tt.wantHub, p.Subscriptions)
			}

			h.calls()
			h.hub.Calls().Reset()
			if failed := h.handle(h.event(job)); failed != nil {
				t.Fatalf("the job was given back: %v", failed)
			}
			calls := h.calls()
			hubCalls := h.hub.Calls().Counts()
			outcome := h.lastOutcome(id)
			data := calls["addSubscriber"] + calls["updateSubscriber"] + calls["removeSubscriber"]
			var agree bool
			switch p.Action {
			case ActionAdd:
				agree = outcome == string(Added) && calls["addSubscriber"] == 1 && data == 1
			case ActionUpdate:
				agree = outcome == string(Updated) && calls["updateSubscriber"] == 1 && data == 1
			case ActionNone:
				// Found equal and linked counts as updated: only the ledger learns it.
				agree = (outcome == string(Unchanged) || outcome == string(Updated)) && data == 0
			case ActionSkip:
				agree = outcome == string(Skipped) && data == 0
			case ActionFail:
				agree = outcome == string(Failed) && data == 0
			case ActionKeep:
				agree = outcome == string(Deleted) && data == 0
			case ActionUnsubscribe:
				agree = outcome == string(Deleted) && data == 0
			case ActionRemove:
				agree = outcome == string(Deleted) && calls["removeSubscriber"] == 1 && data == 1
			}
			if !agree {
				t.Fatalf("preview said %s; the worker's outcome was %q with Contactsend calls %v", p.Action, outcome, calls)
			}
			if p.Action == ActionUpdate && p.SubscriberID == 0 {
				t.Fatal("an update preview names no subscriber")
			}
			if got := calls["modifySubscriberSubscriptionStatus"]; got != previewSend {
				t.Fatalf("worker wrote %d Contactsend subscription changes, the preview announced %d", got, previewSend)
			}
			if got := hubCalls["subscriptions.create"] + hubCalls["subscriptions.put"]; got != previewHub {
				t.Fatalf("worker wrote %d Contacthub subscription changes, the preview announced %d", got, previewHub)
			}
		})
	}
}
