package syncer

import (
	"context"
	"sync"
	"testing"

	"github.com/hubsend/hubsend/internal/contactsend"
)

// TestConflictRerunWritesTheNewerValues: two jobs update one customer at
// once. The first read the customer before it changed again; while its
// updateSubscriber is on the wire, the second job reads the newer values,
// writes them and records them. The first job's older values then land in
// Contactsend after the newer ones, and its ledger write fails. Its re-run
// must read the customer again and write the newer values back, although
// the ledger already holds their hash.
func TestConflictRerunWritesTheNewerValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("race@example.com", "First", nil)
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("first sync given back: %v", failed)
	}
	c["base"].(map[string]any)["firstName"] = "Older"
	h.put(c)
	plain := h.worker // the overtaking job's, which is not held up
	overtaken := &overtakeOnce{Send: h.config.Send, overtake: func() {
		c["base"].(map[string]any)["firstName"] = "Newer"
		h.put(c)
		slow := h.worker
		h.worker = plain
		defer func() { h.worker = slow }()
		if failed := h.sync(id); failed != nil {
			t.Errorf("the overtaking job was given back: %v", failed)
		}
	}}
	h.worker = h.newWorker(func(cfg *Config) { cfg.Send = overtaken })
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the overtaken job was given back: %v", failed)
	}
	if got := h.only("race@example.com").Attributes["FIRST_NAME"]; got != "Newer" {
		t.Fatalf("FIRST_NAME = %v after the race, want Newer", got)
	}
}

// overtakeOnce runs overtake during its first updateSubscriber, before the
// update reaches Contactsend, as a slower connection would let another
// worker's whole job pass it.
type overtakeOnce struct {
	Send
	once     sync.Once
	overtake func()
}

func (o *overtakeOnce) UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	o.once.Do(o.overtake)
	return o.Send.UpdateSubscriber(ctx, cred, db, s)
}

// TestRevertDuringASlowWriteIsNotLost: a customer changes and changes
// back while the job carrying the first change is still writing. The job
// of the revert finds the ledger holding the reverted values and writes
// nothing to Contactsend; the slow job's values then land. The revert's
// job must still leave its mark on the entry, so that the slow job's
// ledger write fails and its re-run writes the reverted values back.
func TestRevertDuringASlowWriteIsNotLost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("revert@example.com", "First", nil)
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("first sync given back: %v", failed)
	}
	c["base"].(map[string]any)["firstName"] = "Middle"
	h.put(c)
	plain := h.worker
	overtaken := &overtakeOnce{Send: h.config.Send, overtake: func() {
		c["base"].(map[string]any)["firstName"] = "First"
		h.put(c)
		slow := h.worker
		h.worker = plain
		defer func() { h.worker = slow }()
		h.calls()
		if failed := h.sync(id); failed != nil {
			t.Errorf("the revert's job was given back: %v", failed)
		}
		if calls := h.calls(); len(calls) != 0 {
			t.Errorf("the revert's job called Contactsend %v; the ledger already holds its values", calls)
		}
	}}
	h.worker = h.newWorker(func(cfg *Config) { cfg.Send = overtaken })
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the slow job was given back: %v", failed)
	}
	if got := h.only("revert@example.com").Attributes["FIRST_NAME"]; got != "First" {
		t.Fatalf("FIRST_NAME = %v after the revert, want First", got)
	}
}
