package syncer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// Consent cases: a consent hubsend must carry to the other side whatever
// else goes wrong around it.

const (
	// staleWebform is a web form code Contactsend does not know (deleted
	// or recreated there after the row was configured).
	staleWebform = "230004000000"
)

// withPromoSystem gives the userdb a second subscription system, 12 on
// __cls2, with the web form code promoWebform. It runs before any sync.
func (h *harness) withPromoSystem() {
	h.t.Helper()
	seed, err := sendsim.LoadSeed(filepath.Join("testdata", "sendsim.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	seed.UserDBs[0].Subscriptions = append(seed.UserDBs[0].Subscriptions,
		sendsim.Subscription{ID: 12, Name: "Promotions", RegistrationField: "__cls2", WebformCode: promoWebform})
	if err := h.send.Load(seed); err != nil {
		h.t.Fatal(err)
	}
}

// column reads a registration column of a subscriber.
func (h *harness) column(subscriberID int64, field string) string {
	h.t.Helper()
	s, err := h.send.Subscriber(userDB, subscriberID)
	if err != nil {
		h.t.Fatal(err)
	}
	v, _ := s.Attributes[field].(string)
	return v
}

// withRefusedRowFirst maps a promotions row whose web form code Contactsend
// refuses, before the newsletter row.
func withRefusedRowFirst(s *source.Source) {
	s.Properties.Subscriptions = []source.Subscription{
		{HubSubscriptionID: promo, SendSubscriptionID: 12, WebformCode: staleWebform},
		{HubSubscriptionID: newsletter, SendSubscriptionID: 11, WebformCode: webform},
	}
}

// TestRefusedRowDoesNotBlockTheOthers: a row whose web form code
// Contactsend refuses is a failed record naming that row, and the
// customer's other rows are still carried out and recorded: a Contacthub
// unsubscribe of the newsletter reaches Contactsend although the
// promotions row before it cannot be written.
func TestRefusedRowDoesNotBlockTheOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withRefusedRowFirst)
	h.withPromoSystem()
	c := h.customer("gianna@example.com", "Gianna", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{
		map[string]any{"id": promo, "subscribed": true},
		map[string]any{"id": newsletter, "subscribed": true},
	}
	id := h.put(c)
	h.sync(id)
	sub := h.only("gianna@example.com")
	if got := h.column(sub.ID, "__cls1"); got != "1" {
		t.Fatalf("__cls1 = %q after a Contacthub subscribe beside a refused row, want 1", got)
	}
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
		t.Fatal(err)
	}
	h.sync(id)
	if got := h.column(sub.ID, "__cls1"); got != "-1" {
		t.Fatalf("__cls1 = %q after a Contacthub unsubscribe beside a refused row, want -1", got)
	}
	if s := h.entry(id).Subscription(newsletter); !s.Known || s.Subscribed {
		t.Fatalf("ledger newsletter state %+v, want unsubscribed", s)
	}
	if s := h.entry(id).Subscription(promo); s.Known {
		t.Fatalf("ledger promo state %+v, want none: it was never written", s)
	}
	f, err := h.ledger.Failure(context.Background(), h.src.ID, id)
	if err != nil {
		t.Fatalf("no failed record for the refused row: %v", err)
	}
	if !strings.Contains(f.Reason, promo) || !strings.Contains(f.Reason, staleWebform) {
		t.Fatalf("failed record reason %q does not name the row (%s, web form %s)", f.Reason, promo, staleWebform)
	}
	// The trail has the unsubscribe, once, with the web form it went through.
	var unsubscribes []history.Entry
	all, err := h.trail.All(context.Background(), h.src.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.SubscriptionID == newsletter && e.Wrote == history.WroteContactsend && e.SendAfter == history.StateUnsubscribed {
			unsubscribes = append(unsubscribes, e)
		}
		if e.SubscriptionID == promo && e.Wrote != "" {
			t.Fatalf("the trail records a write of the refused row: %+v", e)
		}
	}
	if len(unsubscribes) != 1 || unsubscribes[0].WebformCode != webform {
		t.Fatalf("trail unsubscribes %+v, want one through web form %s", unsubscribes, webform)
	}
}

// TestDeletedCustomerUnsubscribedBesideARefusedRow: the unsubscribe policy
// of a deleted customer unsubscribes every row Contactsend accepts, even
// when one row's web form is refused, and keeps the refused row to retry.
func TestDeletedCustomerUnsubscribedBesideARefusedRow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withRefusedRowFirst)
	h.withPromoSystem()
	id := h.put(h.customer("ivo@example.com", "Ivo", nil))
	h.sync(id)
	sub := h.only("ivo@example.com")
	// Subscribed in Contactsend through both web forms, and synced.
	for _, wfc := range []string{webform, promoWebform} {
		if err := h.send.SetSubscriptionStatus(userDB, sub.ID, wfc, 1); err != nil {
			t.Fatal(err)
		}
	}
	h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook}))
	if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
		t.Fatal(err)
	}
	h.sync(id)
	if got := h.column(sub.ID, "__cls1"); got != "-1" {
		t.Fatalf("__cls1 = %q after the customer's deletion beside a refused row, want -1", got)
	}
	e := h.entry(id)
	if s := e.Subscription(newsletter); !s.Known || s.Subscribed {
		t.Fatalf("ledger newsletter state %+v, want unsubscribed", s)
	}
	if e.Deleted {
		t.Fatal("the deletion is recorded as handled while a row could not be unsubscribed")
	}
	if _, err := h.ledger.Failure(context.Background(), h.src.ID, id); err != nil {
		t.Fatalf("no failed record for the refused row: %v", err)
	}
	var entries []history.Entry
	all, err := h.trail.All(context.Background(), h.src.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, te := range all {
		if te.HubBefore == history.StateGone {
			entries = append(entries, te)
		}
	}
	if len(entries) != 1 || entries[0].SubscriptionID != newsletter || entries[0].WebformCode != webform {
		t.Fatalf("deletion trail %+v, want one newsletter unsubscribe through web form %s", entries, webform)
	}
}

// TestRemappedRowStartsAFreshPair: when a row's Contactsend subscription
// system changes, the state synced with the old system says nothing about
// the new one. The new pair syncs like a first sync: a Contacthub yes is
// written to the new system (not undone because the new column is
// pending), and a Contacthub no is not overturned by the new column's yes.
func TestRemappedRowStartsAFreshPair(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		subscribed bool
		newColumn  int    // the new system's status before the remap
		wantHub    bool   // Contacthub's flag afterwards
		wantColumn string // __cls2 afterwards
	}{
		{name: "a yes reaches the new system", subscribed: true, newColumn: 0, wantHub: true, wantColumn: "1"},
		{name: "a no is not overturned by the new system", subscribed: false, newColumn: 1, wantHub: false, wantColumn: "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withNewsletter)
			h.withPromoSystem()
			c := h.customer("laura@example.com", "Laura", nil)
			c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": tt.subscribed}}
			id := h.put(c)
			h.sync(id)
			sub := h.only("laura@example.com")
			if err := h.send.SetSubscriptionStatus(userDB, sub.ID, promoWebform, tt.newColumn); err != nil {
				t.Fatal(err)
			}
			h.replaceSource(func(s *source.Source) {
				s.Properties.Subscriptions = []source.Subscription{{HubSubscriptionID: newsletter, SendSubscriptionID: 12, WebformCode: promoWebform}}
			})
			// The reconciliation and the feed both see the customer.
			h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile}))
			h.sync(id)
			if s, present := h.hubSubscribed(id, newsletter); !present || s != tt.wantHub {
				t.Fatalf("Contacthub subscribed=%v present=%v after the remap, want %v", s, present, tt.wantHub)
			}
			if got := h.column(sub.ID, "__cls2"); got != tt.wantColumn {
				t.Fatalf("__cls2 = %q after the remap, want %s", got, tt.wantColumn)
			}
			if s := h.entry(id).Subscription(newsletter); s.SendSubscriptionID != 12 || s.Subscribed != tt.wantHub {
				t.Fatalf("ledger state %+v, want %v synced with system 12", s, tt.wantHub)
			}
		})
	}
}

// TestDeletionWaitsForAnInFlightSubscribe: a customer erased while another
// worker is writing its subscribe to Contactsend must end unsubscribed.
// The deletion waits for that worker's claim; otherwise the subscribe lands
// after the deletion's unsubscribe, and nothing ever undoes it (the
// deletion is handled once).
func TestDeletionWaitsForAnInFlightSubscribe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("marta@example.com", "Marta", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": false}}
	id := h.put(c)
	h.sync(id)
	sub := h.only("marta@example.com")
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q before the race", got)
	}
	ctx := context.Background()
	// Worker X saw the customer subscribe and claimed the entry to write it.
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, true); err != nil {
		t.Fatal(err)
	}
	x := h.entry(id)
	x.SubscriptionClaimUntil, x.SubscriptionClaimBy = h.now().Add(DefaultSubscriptionClaim), "worker-x"
	x, err := h.ledger.Put(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	// The customer is erased, and the deletion job runs meanwhile.
	if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
		t.Fatal(err)
	}
	h.sync(id)
	// X's subscribe lands, then X records it (which fails if the deletion
	// changed the entry under it: X then finds the customer deleted).
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, 1); err != nil {
		t.Fatal(err)
	}
	x.SetSubscription(newsletter, subscriptions.Synced{Known: true, Subscribed: true, At: h.now(), Origin: subscriptions.Hub, SendSubscriptionID: 11})
	x.SubscriptionClaimUntil, x.SubscriptionClaimBy = time.Time{}, ""
	if _, err := h.ledger.Put(ctx, x); err != nil && !errors.Is(err, ledger.ErrConflict) {
		t.Fatal(err)
	}
	// Redeliveries of the deletion job, and the reconciliation.
	for range 3 {
		h.sync(id)
		h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromReconcile}))
	}
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q for an erased customer after a racing subscribe, want -1", got)
	}
	if e := h.entry(id); !e.Deleted {
		t.Fatalf("entry not handled as deleted: %+v", e)
	}
}

// TestReaddedSubscriberStartsAFreshPair: a subscriber removed in
// Contactsend and added again (by an import, say) is a new subscriber;
// the state synced with the old one says nothing of it. Its status is
// synced like a first sync: the import's yes does not resubscribe in
// Contacthub a person who said no, and its default (pending) does not
// unsubscribe a person who said yes.
func TestReaddedSubscriberStartsAFreshPair(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		subscribed bool
		imported   string // __cls1 of the subscriber added again
		wantHub    bool
		wantSend   string
	}{
		{name: "an imported yes does not overturn a no", subscribed: false, imported: "1", wantHub: false, wantSend: "-1"},
		{name: "a default pending does not unsubscribe a yes", subscribed: true, imported: "0", wantHub: true, wantSend: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withNewsletter)
			c := h.customer("nadia@example.com", "Nadia", nil)
			c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": tt.subscribed}}
			id := h.put(c)
			h.sync(id)
			old := h.only("nadia@example.com")
			// Removed in Contactsend, and imported again.
			h.handle(h.event(jobs.Job{SubscriberID: old.ID, Reason: jobs.FromReconcile}))
			if err := h.config.Send.RemoveSubscriber(context.Background(), contactsend.Credentials{APIKey: h.src.Properties.APIKey, UserKey: h.src.Properties.UserKey}, userDB, old.ID); err != nil {
				t.Fatal(err)
			}
			readded, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "nadia@example.com", "__cls1": tt.imported})
			if err != nil {
				t.Fatal(err)
			}
			// The customer's next change relinks it.
			c["base"].(map[string]any)["firstName"] = "Nadia Maria"
			h.put(c)
			h.sync(id)
			h.handle(h.event(jobs.Job{SubscriberID: readded, Reason: jobs.FromReconcile}))
			if e := h.entry(id); e.SubscriberID != readded {
				t.Fatalf("entry links subscriber %d, want the re-added %d", e.SubscriberID, readded)
			}
			if s, present := h.hubSubscribed(id, newsletter); !present || s != tt.wantHub {
				t.Fatalf("Contacthub subscribed=%v present=%v after the re-add, want %v", s, present, tt.wantHub)
			}
			if got := h.sendStatus(readded); got != tt.wantSend {
				t.Fatalf("__cls1 of the re-added subscriber = %q, want %s", got, tt.wantSend)
			}
		})
	}
}

// TestDuplicateSubscribersUnsubscribe: a userdb holding two subscribers
// with the customer's match values (imported twice, say) mails both; the
// customer is linked to the lowest. A person who unsubscribes through the
// other one's mail must end unsubscribed everywhere: in Contacthub, and in
// the linked subscriber, which would otherwise keep mailing them.
func TestDuplicateSubscribersUnsubscribe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("olga@example.com", "Olga", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	linked := h.only("olga@example.com")
	duplicate, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "olga@example.com", "__cls1": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.send.SetSubscriptionStatus(userDB, duplicate, webform, -1); err != nil {
		t.Fatal(err)
	}
	job := jobs.Job{SubscriberID: duplicate, Reason: jobs.FromSendWebhook, EnqueuedAt: h.now(), EventAt: h.now()}
	if failed := h.handle(h.event(job)); failed != nil {
		t.Fatalf("given back %v", failed)
	}
	if s, present := h.hubSubscribed(id, newsletter); !present || s {
		t.Fatalf("Contacthub subscribed=%v present=%v after an unsubscribe through a duplicate subscriber", s, present)
	}
	if got := h.sendStatus(linked.ID); got != "-1" {
		t.Fatalf("__cls1 of the linked subscriber = %q after an unsubscribe through its duplicate, want -1", got)
	}
	// Settled: the reconciliation of either subscriber writes nothing more.
	h.writes()
	h.handle(h.event(jobs.Job{SubscriberID: linked.ID, Reason: jobs.FromReconcile}, jobs.Job{SubscriberID: duplicate, Reason: jobs.FromReconcile}))
	h.sync(id)
	if s, hb := h.writes(); s != 0 || hb != 0 {
		t.Fatalf("the settled customer wrote send=%d hub=%d", s, hb)
	}
	if s, _ := h.hubSubscribed(id, newsletter); s {
		t.Fatal("the unsubscribe was overturned")
	}
}

// TestConflictRetryRereadsTheCustomer: two jobs of one customer decide at
// once; the one that loses the ledger race decides again, and must do so
// on the customer as it is now. On the customer it read before the other
// job wrote Contacthub, a Contactsend unsubscribe the other job carried
// over reads as a Contacthub subscribe undoing it, and is written back to
// Contactsend.
func TestConflictRetryRereadsTheCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("quinto@example.com", "Quinto", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	sub := h.only("quinto@example.com")
	ctx := context.Background()
	// Job B (the reconciliation) has read the customer and its entry...
	e, err := h.worker.prepare(ctx, h.src)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := e.hub.Customer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	staleEntry := h.entry(id)
	// ...when the person unsubscribes in Contactsend and job A (the
	// webhook) carries it to Contacthub.
	if err := h.send.SetSubscriptionStatus(userDB, sub.ID, webform, -1); err != nil {
		t.Fatal(err)
	}
	if failed := h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook, EventAt: h.now()})); failed != nil {
		t.Fatalf("given back %v", failed)
	}
	if s, _ := h.hubSubscribed(id, newsletter); s {
		t.Fatal("job A did not unsubscribe in Contacthub")
	}
	h.writes()
	// Job B decides now, from what it read.
	j := jobRef{customerID: id, reason: jobs.FromReconcile}
	r := h.worker.applySubscriptions(ctx, e, j, stale, sendJob{read: true, subscriber: sub.ID}, result{outcome: Unchanged, entry: staleEntry})
	if r.outcome == Failed {
		t.Fatalf("job B failed: %v", r.err)
	}
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q after job B, want the unsubscribe kept", got)
	}
	if s, _ := h.hubSubscribed(id, newsletter); s {
		t.Fatal("Contacthub resubscribed")
	}
	if s, hb := h.writes(); s != 0 || hb != 0 {
		t.Fatalf("job B wrote send=%d hub=%d for a change job A carried already", s, hb)
	}
}

// interleavedDB runs before once, just before the first entry write that
// drops a subscription claim after armed is set: another worker's write
// landing while a subscription sync holds its claim.
type interleavedDB struct {
	ledger.DynamoDB
	armed  atomic.Bool
	before func()
}

func (d *interleavedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	expr := aws.ToString(in.UpdateExpression)
	if _, removed, ok := strings.Cut(expr, " REMOVE "); ok && strings.Contains(removed, "subscriptionClaimBy") &&
		strings.Contains(expr, "subscriptions = :subscriptions") && d.armed.CompareAndSwap(true, false) {
		d.before()
	}
	return d.DynamoDB.UpdateItem(ctx, in, opts...)
}

// TestTrailKeepsAWriteRecordedOverAnotherWrite: when another worker writes
// the customer's entry (a data write, a failed record) while a subscription
// sync holds its claim, the sync's record of what it wrote still lands, and
// the consent trail has the write once, with its web form, rather than a
// later run finding both sides agreeing and recording that instead.
func TestTrailKeepsAWriteRecordedOverAnotherWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	db := &interleavedDB{DynamoDB: h.db}
	h.worker = h.newWorker(func(c *Config) { c.Ledger = ledger.New(db, h.table) })
	c := h.customer("rita@example.com", "Rita", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	sub := h.only("rita@example.com")
	ctx := context.Background()
	db.before = func() {
		// Another worker's write of the entry: it leaves the subscription
		// states and the claim as they are and bumps the version.
		e, err := h.ledger.Get(ctx, h.src.ID, id)
		if err != nil {
			t.Error(err)
			return
		}
		e.SyncedAt = h.now()
		if _, err := h.ledger.Put(ctx, e); err != nil {
			t.Error(err)
		}
	}
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
		t.Fatal(err)
	}
	before, err := h.trail.All(ctx, h.src.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	h.writes()
	db.armed.Store(true)
	for range 3 {
		h.sync(id)
	}
	if db.armed.Load() {
		t.Fatal("the interleaved write never ran")
	}
	if got := h.sendStatus(sub.ID); got != "-1" {
		t.Fatalf("__cls1 = %q", got)
	}
	if s, hb := h.writes(); s != 1 || hb != 0 {
		t.Fatalf("writes send=%d hub=%d, want one Contactsend write", s, hb)
	}
	after, err := h.trail.All(ctx, h.src.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	var added []history.Entry
	for _, e := range after[:len(after)-len(before)] {
		if e.Kind == history.Subscription {
			added = append(added, e)
		}
	}
	if len(added) != 1 || added[0].Wrote != history.WroteContactsend || added[0].WebformCode != webform || added[0].SendAfter != history.StateUnsubscribed {
		t.Fatalf("trail entries of the change %+v, want the Contactsend write through %s, once", added, webform)
	}
}

// TestReconciledOptOutOfAnUnlinkedSubscriber: the reconciliation hands over
// the opt-out of a subscriber no customer is linked to, without a webhook
// event. Through a duplicate of a customer's subscriber it must unsubscribe
// the customer everywhere; for a person Contacthub does not hold, one
// search settles it, without coming back for Contacthub's search delay.
func TestReconciledOptOutOfAnUnlinkedSubscriber(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("piera@example.com", "Piera", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.sync(id)
	linked := h.only("piera@example.com")
	duplicate, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "piera@example.com", "__cls1": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "nobody@example.com", "__cls1": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	if failed := h.handle(h.event(jobs.Job{SubscriberID: stranger, Reason: jobs.FromReconcile, EnqueuedAt: h.now()})); failed != nil {
		t.Fatalf("the opt-out of a person Contacthub does not hold came back: %v", failed)
	}
	job := jobs.Job{SubscriberID: duplicate, Reason: jobs.FromReconcile, EnqueuedAt: h.now()}
	// Undated, the job may wait (through redelivery) for an event that
	// would order it; none comes, and it decides when that wait is over.
	for range 10 {
		if h.handle(h.event(job)) == nil {
			break
		}
		h.skip(30 * time.Second)
	}
	if s, present := h.hubSubscribed(id, newsletter); !present || s {
		t.Fatalf("Contacthub subscribed=%v present=%v after a reconciled unsubscribe through a duplicate", s, present)
	}
	if got := h.sendStatus(linked.ID); got != "-1" {
		t.Fatalf("__cls1 of the linked subscriber = %q after its duplicate's unsubscribe, want -1", got)
	}
}
