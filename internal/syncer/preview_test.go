package syncer

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestPreviewWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	c := h.customer("preview@example.com", "Pre", nil)
	id := h.put(c)
	other := h.customer("outside@example.com", "Out", nil)
	other["nodeId"] = h.other
	outsideID := h.put(other)
	bad := h.customer("bad@example.com", "Bad", nil)
	bad["extended"].(map[string]any)["lastPurchaseAt"] = nil
	badID := h.put(bad)

	check := func(customerID string, want Action, changed ...string) Preview {
		t.Helper()
		h.db.Take()
		h.calls()
		p, err := h.worker.Preview(ctx, h.src, customerID)
		if err != nil {
			t.Fatalf("Preview(%s): %v", customerID, err)
		}
		if p.Action != want || (changed != nil && !slices.Equal(p.Changed, changed)) {
			t.Fatalf("Preview(%s) = %+v, want %s changing %v", customerID, p, want, changed)
		}
		for k := range h.db.Take() {
			if !strings.HasPrefix(k, "GetItem") {
				t.Fatalf("Preview made DynamoDB request %s", k)
			}
		}
		for op := range h.calls() {
			if op != "getSubscriberSource" && op != "findSubscribersBy" && op != "getSubscriber" {
				t.Fatalf("Preview called Contactsend %s", op)
			}
		}
		return p
	}
	p := check(id, ActionAdd, "BIRTH_DATE", "EMAIL", "FIRST_NAME", "LAST_NAME", "LOYALTY_POINTS", "REGISTERED_AT", "SHOP", "VIP")
	if v, ok := p.Attributes.Get("LOYALTY_POINTS"); !ok || v.Text != "120" {
		t.Fatalf("attributes = %+v", p.Attributes)
	}
	check(outsideID, ActionSkip)
	check(badID, ActionAdd) // a null is left out, not a problem

	h.sync(id)
	check(id, ActionNone)
	c["base"].(map[string]any)["firstName"] = "Post"
	h.put(c)
	if p := check(id, ActionUpdate, "FIRST_NAME"); p.SubscriberID == 0 {
		t.Fatal("no subscriber id in an update preview")
	}

	h.hub.DeleteCustomer(hubWorkspace, id)
	check(id, ActionKeep)
	if h.only("preview@example.com").Attributes["FIRST_NAME"] != "Pre" {
		t.Fatal("preview wrote to Contactsend")
	}
}
