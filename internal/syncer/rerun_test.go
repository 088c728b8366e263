package syncer

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/source"
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
	c, id := h.synced("race@example.com", "First")
	h.rename(c, "Older")
	plain := h.worker // the overtaking job's, which is not held up
	h.worker = h.overtakenAt("updateSubscriber", func() {
		h.rename(c, "Newer")
		if failed := h.syncOn(plain, id); failed != nil {
			t.Errorf("the overtaking job was given back: %v", failed)
		}
	})
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the overtaken job was given back: %v", failed)
	}
	if got := h.only("race@example.com").Attributes["FIRST_NAME"]; got != "Newer" {
		t.Fatalf("FIRST_NAME = %v after the race, want Newer", got)
	}
}

// TestForcedRewriteSurvivesAFailedRerun: as in the test above, the first
// job's older values land after the second job's newer ones and its ledger
// write fails; but its re-run does not write the newer values back: it
// cannot read the customer (Contacthub answers 503) and the job goes back
// to SQS, or Contactsend refuses the rewrite and the job ends as a failed
// record. Either way the job's next run finds the ledger holding the newer
// values, as Contacthub does: it must still write them, for Contactsend
// holds the older ones.
func TestForcedRewriteSurvivesAFailedRerun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		givenUp  bool // the job goes back to SQS
		failRead bool // Contacthub fails the re-run's read; else Contactsend refuses its write
	}{
		{"re-run cannot read the customer", true, true},
		{"re-run's write refused", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c, id := h.synced("rerun@example.com", "First")
			h.rename(c, "Older")
			plain := h.worker
			w := &secondUpdate{fullSend: h.config.Send.(fullSend)}
			w.first = func() {
				h.rename(c, "Newer")
				if failed := h.syncOn(plain, id); failed != nil {
					t.Errorf("the overtaking job was given back: %v", failed)
				}
				if tt.failRead {
					if _, err := h.hub.Faults().Add(faults.Rule{Operation: "customers.get", Kind: faults.Status, Status: 503, Rate: 1}); err != nil {
						t.Error(err)
					}
				}
			}
			w.second = func() {
				if _, err := h.send.Faults().Add(faults.Rule{Operation: "updateSubscriber", Kind: faults.SOAPFault, Count: 1,
					Message: "Invalid value for field FIRST_NAME of type STRING"}); err != nil {
					t.Error(err)
				}
			}
			h.worker = h.newWorker(func(cfg *Config) { cfg.Send = w })
			if failed := h.sync(id); (len(failed) == 1) != tt.givenUp {
				t.Fatalf("the overtaken job gave back %v, want given back: %v", failed, tt.givenUp)
			}
			if got := h.only("rerun@example.com").Attributes["FIRST_NAME"]; got != "Older" {
				t.Fatalf("FIRST_NAME = %v after the race, want Older (the set-up went wrong)", got)
			}
			h.hub.Faults().Reset()
			h.send.Faults().Reset()
			if failed := h.syncOn(plain, id); failed != nil {
				t.Fatalf("the job's next run was given back: %v", failed)
			}
			if got := h.only("rerun@example.com").Attributes["FIRST_NAME"]; got != "Newer" {
				t.Fatalf("FIRST_NAME = %v after the job's next run, want Newer", got)
			}
		})
	}
}

// secondUpdate runs first before the first updateSubscriber it passes on,
// and second before the second.
type secondUpdate struct {
	fullSend
	calls         atomic.Int32
	first, second func()
}

func (s *secondUpdate) UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, sub contactsend.Subscriber) (contactsend.Subscriber, error) {
	switch s.calls.Add(1) {
	case 1:
		s.first()
	case 2:
		s.second()
	}
	return s.fullSend.UpdateSubscriber(ctx, cred, db, sub)
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
	c, id := h.synced("revert@example.com", "First")
	h.rename(c, "Middle")
	plain := h.worker
	h.worker = h.overtakenAt("updateSubscriber", func() {
		h.rename(c, "First")
		h.calls()
		if failed := h.syncOn(plain, id); failed != nil {
			t.Errorf("the revert's job was given back: %v", failed)
		}
		if calls := h.calls(); len(calls) != 0 {
			t.Errorf("the revert's job called Contactsend %v; the ledger already holds its values", calls)
		}
	})
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the slow job was given back: %v", failed)
	}
	if got := h.only("revert@example.com").Attributes["FIRST_NAME"]; got != "First" {
		t.Fatalf("FIRST_NAME = %v after the revert, want First", got)
	}
}

// TestOlderReadDoesNotOverwriteANewerSync: a job reads the customer, and
// before it reads the ledger the customer changes and another job syncs
// the change whole. The first job's values are older than the ledger's:
// it must not write them, but read the customer again and decide from
// that read (its subscriptions too), not drop the job.
func TestOlderReadDoesNotOverwriteANewerSync(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, id := h.synced("stale@example.com", "First")
	h.rename(c, "Older")
	plain := h.worker
	var reads *atomic.Int32
	h.worker, reads = h.overtakenAtRead(func() {
		h.rename(c, "Newer")
		if failed := h.syncOn(plain, id); failed != nil {
			t.Errorf("the overtaking job was given back: %v", failed)
		}
	})
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the overtaken job was given back: %v", failed)
	}
	if got := h.only("stale@example.com").Attributes["FIRST_NAME"]; got != "Newer" {
		t.Fatalf("FIRST_NAME = %v after the race, want Newer", got)
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("the overtaken job read the customer %d times, want 2 (its read, then once more after the ledger's newer one)", n)
	}
}

// TestAReadFromBeforeADeletionBringsNothingBack: a job reads the customer;
// before it reads the ledger, the customer is deleted in Contacthub and
// the deletion's job runs whole. The first job's read is from before the
// deletion: written, it would add the erased customer's subscriber again
// (the source removes them) or write a subscriber for a customer never
// synced. It must read the customer again, and find it gone.
func TestAReadFromBeforeADeletionBringsNothingBack(t *testing.T) {
	t.Parallel()
	for _, synced := range []bool{true, false} {
		name := "synced customer"
		if !synced {
			name = "customer never synced"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(s *source.Source) { s.Properties.OnCustomerDeleted = source.RemoveSubscriber })
			const email = "erased@example.com"
			var id string
			if synced {
				_, id = h.synced(email, "Erased")
			} else {
				id = h.put(h.customer(email, "Erased", nil))
			}
			plain := h.worker
			var reads *atomic.Int32
			h.worker, reads = h.overtakenAtRead(func() {
				if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
					t.Error(err)
				}
				if failed := h.syncOn(plain, id); failed != nil {
					t.Errorf("the deletion's job was given back: %v", failed)
				}
			})
			if failed := h.sync(id); failed != nil {
				t.Fatalf("the job with the older read was given back: %v", failed)
			}
			if subs := h.subscribers(email); len(subs) != 0 {
				t.Errorf("subscribers of the erased customer after the race: %+v, want none", subs)
			}
			if e := h.entry(id); !e.Deleted || e.SubscriberID != 0 {
				t.Errorf("entry %+v, want deleted with no subscriber", e)
			}
			if n := reads.Load(); n != 2 {
				t.Errorf("the job read the customer %d times, want 2 (its read, then once more after the deletion)", n)
			}
		})
	}
}

// overtakenAtRead returns a worker whose first customer read is followed,
// before the worker sees it, by overtake, and the count of its reads.
func (h *harness) overtakenAtRead(overtake func()) (*Worker, *atomic.Int32) {
	h.t.Helper()
	var once sync.Once
	reads := new(atomic.Int32)
	hub := func(conn configstore.Connection) (Hub, error) {
		hub, err := h.config.Hub(conn)
		if err != nil {
			return nil, err
		}
		return &overtakenRead{Hub: hub, overtake: func() {
			reads.Add(1)
			once.Do(overtake)
		}}, nil
	}
	return h.newWorker(func(cfg *Config) { cfg.Hub = hub }), reads
}

// overtakenRead runs overtake after its customer read returns and before
// the reader sees it, as a pause between a job's two reads would.
type overtakenRead struct {
	Hub
	overtake func()
}

func (o *overtakenRead) Customer(ctx context.Context, id string) (contacthub.Customer, error) {
	c, err := o.Hub.Customer(ctx, id)
	o.overtake()
	return c, err
}

// TestDeletionWaitsForAnAddInProgress: a customer is deleted in Contacthub
// while the job that adds its subscriber is between its claim and its
// record. The deletion's job must wait for the add instead of marking the
// entry deleted with nothing to remove: the subscriber the add leaves is
// then removed, as the source's policy says.
func TestDeletionWaitsForAnAddInProgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *source.Source) { s.Properties.OnCustomerDeleted = source.RemoveSubscriber })
	id := h.put(h.customer("gone@example.com", "Gone", nil))
	plain := h.worker
	var deletionGivenBack []string
	h.worker = h.overtakenAt("addSubscriber", func() {
		if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
			t.Error(err)
		}
		deletionGivenBack = h.syncOn(plain, id)
	})
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the adding job was given back: %v", failed)
	}
	if len(deletionGivenBack) == 0 {
		t.Fatal("the deletion's job did not wait for the add in progress")
	}
	h.worker = plain
	if failed := h.sync(id); failed != nil {
		t.Fatalf("the deletion's job, again: given back %v", failed)
	}
	if subs := h.subscribers("gone@example.com"); len(subs) != 0 {
		t.Fatalf("the deleted customer's subscriber stays: %+v", subs)
	}
}

// TestSubscribeThenUnsubscribeInContactsendEndsUnsubscribed: a person
// subscribes in Contactsend and unsubscribes again while the job carrying
// the subscribe is between its read of Contactsend and its write to
// Contacthub. The unsubscribe's job finds Contactsend as the ledger has it
// and does nothing; the subscribe's job must not then write its read.
func TestSubscribeThenUnsubscribeInContactsendEndsUnsubscribed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("mind@example.com", "Mind", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": false}}
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("first sync given back: %v", failed)
	}
	sub := h.only("mind@example.com")
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, 1); err != nil {
		t.Fatal(err)
	}
	job := func() events.SQSEvent {
		return h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook, EventAt: h.now()})
	}
	subscribeJob := job()
	plain := h.worker
	h.worker = h.overtakenAt("getSubscriber", func() {
		if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, -1); err != nil {
			t.Error(err)
		}
		own := h.worker
		h.worker = plain
		defer func() { h.worker = own }()
		if failed := h.handle(job()); failed != nil {
			t.Errorf("the unsubscribe's job was given back: %v", failed)
		}
	})
	h.handle(subscribeJob)
	if s, _ := h.hubSubscribed(id, newsletter); s {
		t.Fatal("Contacthub subscribed after the person unsubscribed again in Contactsend")
	}
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q, want the unsubscribe kept", got)
	}
}

// overtakenAt returns a worker whose first call of operation lets
// overtake run first (see overtaking).
func (h *harness) overtakenAt(operation string, overtake func()) *Worker {
	h.t.Helper()
	o := &overtaking{fullSend: h.config.Send.(fullSend), at: operation, overtake: overtake}
	return h.newWorker(func(cfg *Config) { cfg.Send = o })
}

// fullSend is the Contactsend client with its subscription calls.
type fullSend interface {
	Send
	SubscriptionSend
}

// overtaking runs overtake once, at the first call of the operation at:
// before an update or an add reaches Contactsend, after a read answered and
// before its reader sees it, as a slower connection would let another
// worker's whole job pass.
type overtaking struct {
	fullSend
	at       string // updateSubscriber, addSubscriber or getSubscriber
	once     sync.Once
	overtake func()
}

func (o *overtaking) pass(operation string) {
	if operation == o.at {
		o.once.Do(o.overtake)
	}
}

func (o *overtaking) UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	o.pass("updateSubscriber")
	return o.fullSend.UpdateSubscriber(ctx, cred, db, s)
}

func (o *overtaking) AddSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	o.pass("addSubscriber")
	return o.fullSend.AddSubscriber(ctx, cred, db, s)
}

func (o *overtaking) GetSubscriber(ctx context.Context, cred contactsend.Credentials, db, id int64) (contactsend.Subscriber, error) {
	s, err := o.fullSend.GetSubscriber(ctx, cred, db, id)
	o.pass("getSubscriber")
	return s, err
}
