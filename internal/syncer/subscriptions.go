package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// SubscriptionSend is the part of the Contactsend client the subscription
// sync uses. A Send without it syncs customer data only.
type SubscriptionSend interface {
	Subscriptions(ctx context.Context, cred contactsend.Credentials, userDBID int64) ([]contactsend.Subscription, error)
	ModifySubscriptionStatus(ctx context.Context, cred contactsend.Credentials, webformCode string, subscriberID int64, subscribed bool) error
}

// SubscriptionHub is the part of the Contacthub client the subscription
// sync uses. A Hub without it syncs customer data only.
type SubscriptionHub interface {
	CreateSubscription(ctx context.Context, customerID string, s contacthub.Subscription) (contacthub.Subscription, error)
	PutSubscription(ctx context.Context, customerID string, s contacthub.Subscription) (contacthub.Subscription, error)
	Customers(ctx context.Context, q contacthub.ListQuery) (contacthub.CustomerPage, error)
}

// errNoSubscriptionClient says a client cannot sync subscriptions.
var errNoSubscriptionClient = errors.New("the client cannot sync subscriptions")

// subscriptionRow is a source's subscription row with the userdb column
// that holds its status.
type subscriptionRow struct {
	source.Subscription
	registrationField string
}

// subscriptionRows returns the source's rows resolved against the userdb's
// subscription systems (cached like the field types). Rows whose system
// the userdb lacks are left out: they cannot be read or written.
func (w *Worker) subscriptionRows(ctx context.Context, e *env) ([]subscriptionRow, error) {
	rows := e.src.Properties.Subscriptions
	if len(rows) == 0 {
		return nil, nil
	}
	systems, err := w.systems.get(userDBKey(e.src), w.now(), w.ttl, func() ([]contactsend.Subscription, error) {
		s, ok := e.send.(SubscriptionSend)
		if !ok {
			return nil, errNoSubscriptionClient
		}
		return s.Subscriptions(ctx, e.cred, e.src.Properties.UserDBID)
	})
	if err != nil {
		return nil, fmt.Errorf("read the subscription systems of userdb %d: %w", e.src.Properties.UserDBID, err)
	}
	out := make([]subscriptionRow, 0, len(rows))
	for _, row := range rows {
		found := false
		for _, s := range systems {
			if s.ID == row.SendSubscriptionID && s.RegistrationField != "" {
				out = append(out, subscriptionRow{Subscription: row, registrationField: s.RegistrationField})
				found = true
				break
			}
		}
		if !found {
			w.log.WarnContext(ctx, "subscription row names no subscription system of the userdb; skipped",
				"source_id", e.src.ID, "send_subscription_id", row.SendSubscriptionID)
		}
	}
	return out, nil
}

// hubView is what Contacthub holds for a subscription of a customer.
func hubView(c contacthub.Customer, id string) subscriptions.HubView {
	s, ok := c.Subscription(id)
	if !ok {
		return subscriptions.HubView{}
	}
	return subscriptions.HubView{Present: true, Subscribed: s.Subscribed, UpdatedAt: s.UpdatedAt.Time}
}

// sendView is what Contactsend holds for a registration column.
func sendView(s contactsend.Subscriber, field string) subscriptions.SendView {
	status, _ := s.SubscriptionStatus(field)
	return subscriptions.SendView{Read: true, Status: subscriptions.SendStatus(status)}
}

// DefaultSubscriptionClaim is how long a worker's claim to write a
// customer's subscriptions holds off other workers: longer than the two
// calls and retries it covers, short enough that a crashed worker delays
// the next one little.
const DefaultSubscriptionClaim = 30 * time.Second

// rowDecision is the decision of one subscription row.
type rowDecision struct {
	row subscriptionRow
	hub subscriptions.HubView
	d   subscriptions.Decision
	// last and send are what the decision started from, for the trail.
	last subscriptions.Synced
	send subscriptions.SendView
	// duplicate is set when send is the unsubscribe of a duplicate
	// subscriber (see sendJob.subscriber) rather than the linked
	// subscriber's status, which is then unsubscribed too.
	duplicate bool
}

// unsubscribesLinked reports whether carrying the decision out includes
// writing the unsubscribe to the linked subscriber beyond its action: the
// unsubscribe came through a duplicate, and the linked subscriber, which
// Contactsend mails as well, is not written by the action itself.
func (rd rowDecision) unsubscribesLinked() bool {
	return rd.duplicate && !rd.d.Subscribed && rd.d.Action != subscriptions.WriteSend
}

// synced is the row's ledger state once its decision is carried out, with
// the Contactsend subscription system and subscriber it was synced with.
func (rd rowDecision) synced(hubUpdatedAt time.Time, subscriberID int64) subscriptions.Synced {
	s := rd.d.Synced(hubUpdatedAt)
	s.SendSubscriptionID, s.SubscriberID = rd.row.SendSubscriptionID, subscriberID
	return s
}

// refusedRow is a row whose write the other side refused for good.
type refusedRow struct {
	row subscriptionRow
	err error
}

// refusal describes refused rows for the failed record: which row, through
// which web form, and what the other side answered.
func refusal(refused []refusedRow) string {
	parts := make([]string, len(refused))
	for i, r := range refused {
		parts[i] = fmt.Sprintf("subscription %s (Contactsend subscription system %d, web form code %s): %v",
			r.row.HubSubscriptionID, r.row.SendSubscriptionID, r.row.WebformCode, r.err)
	}
	return strings.Join(parts, "; ")
}

// subscriptionScope returns the rows a customer's subscription sync
// covers; none (with a reason, when there is one worth logging) when the
// source has no rows or the customer is reached through an aggregate node.
func (w *Worker) subscriptionScope(ctx context.Context, e *env, cust contacthub.Customer) ([]subscriptionRow, string, error) {
	if len(e.src.Properties.Subscriptions) == 0 {
		return nil, "", nil
	}
	if cust.NodeID != e.src.Node() {
		// The source's node is an aggregate (inNode accepted the customer
		// through a member node): its subscriptions are never touched.
		return nil, "aggregate node: subscriptions not synced", nil
	}
	rows, err := w.subscriptionRows(ctx, e)
	return rows, "", err
}

// errSubscriberGone says the linked subscriber no longer exists in
// Contactsend.
var errSubscriberGone = errors.New("subscriber gone; subscriptions wait for the next sync")

// sendJob is what a job brings to the subscription sync from the
// Contactsend side.
type sendJob struct {
	// read reads the subscriber's statuses even when Contacthub did not
	// change: the job came from the Contactsend side.
	read bool
	// eventAt dates the Contactsend change the job reports, by its event;
	// zero dates it when seen.
	eventAt time.Time
	// mayWait lets a decision that could not order an undated Contactsend
	// change against a Contacthub change wait for the change's event.
	mayWait bool
	// subscriber is the subscriber the job names (zero when it names the
	// customer). When it is not the customer's linked subscriber, it is
	// another one holding the customer's match values (a duplicate in the
	// userdb, which Contactsend mails too), and its unsubscribes count.
	subscriber int64
}

// errAwaitEvent says a decision waits for a Contactsend event's time.
var errAwaitEvent = errors.New("a Contactsend change of unknown time conflicts with a Contacthub change: waiting for its event")

// decideRows is the planning half of the subscription sync: it decides
// every row of a linked subscriber, reading the subscriber when a decision
// needs its status (always when sj.read), or using sub when the caller has
// read it already. It writes nothing.
func (w *Worker) decideRows(ctx context.Context, e *env, cust contacthub.Customer, entry ledger.Entry, rows []subscriptionRow, sj sendJob, sub *contactsend.Subscriber) ([]rowDecision, error) {
	now := w.now()
	var duplicate *contactsend.Subscriber
	if sj.subscriber != 0 && sj.subscriber != entry.SubscriberID {
		s, err := e.send.GetSubscriber(ctx, e.cred, e.src.Properties.UserDBID, sj.subscriber)
		switch {
		case errors.Is(err, contactsend.ErrUnknownSubscriber):
			// Gone (or relinked since the job was made): nothing to carry.
		case err != nil:
			return nil, fmt.Errorf("read subscriber %d: %w", sj.subscriber, err)
		default:
			duplicate = &s
		}
	}
	decisions := make([]rowDecision, 0, len(rows))
	for _, row := range rows {
		last := entry.Subscription(row.HubSubscriptionID).For(row.SendSubscriptionID, entry.SubscriberID)
		hv := hubView(cust, row.HubSubscriptionID)
		var sv subscriptions.SendView
		if sj.read || subscriptions.NeedsSend(last, hv) {
			if sub == nil {
				s, err := e.send.GetSubscriber(ctx, e.cred, e.src.Properties.UserDBID, entry.SubscriberID)
				if errors.Is(err, contactsend.ErrUnknownSubscriber) {
					return nil, errSubscriberGone
				}
				if err != nil {
					return nil, fmt.Errorf("read subscriber %d: %w", entry.SubscriberID, err)
				}
				sub = &s
			}
			sv = sendView(*sub, row.registrationField)
			sv.At = sj.eventAt
		}
		dup := false
		if duplicate != nil && sv.Read && sv.Status != subscriptions.Unsubscribed {
			if status, _ := duplicate.SubscriptionStatus(row.registrationField); status == contactsend.Unsubscribed {
				// The person unsubscribed through the duplicate's mail: that
				// is Contactsend's state for them, dated by the job's event.
				sv, dup = subscriptions.SendView{Read: true, Status: subscriptions.Unsubscribed, At: sj.eventAt}, true
			}
		}
		d := subscriptions.Decide(last, hv, sv, now)
		if d.Uncertain && sj.mayWait {
			return nil, errAwaitEvent
		}
		if dup {
			d.Rule += fmt.Sprintf(" (the unsubscribe of subscriber %d, which holds the customer's match values; subscriber %d is unsubscribed too)", duplicate.ID, entry.SubscriberID)
		}
		decisions = append(decisions, rowDecision{row: row, hub: hv, d: d, last: last, send: sv, duplicate: dup})
	}
	return decisions, nil
}

// syncSubscriptions brings each subscription row of a synced customer in
// step on both sides (see package subscriptions for the rules) and records
// the result in the ledger. It runs after the subscriber exists. sj is
// what the job brings from the Contactsend side. owner names this run in the claim that keeps
// two workers from writing the same change twice: before any write the
// run claims the entry (conditionally on the version read), writes, then
// records the new states and drops the claim. entry is the customer's
// ledger entry when the caller has it fresh; a zero entry is read here.
func (w *Worker) syncSubscriptions(ctx context.Context, e *env, j jobRef, cust contacthub.Customer, sj sendJob, owner string, entry ledger.Entry) result {
	j = j.named(cust)
	rows, why, err := w.subscriptionScope(ctx, e, cust)
	if err != nil {
		if transient(err) {
			return retryLater("reading subscription systems failed", err)
		}
		return w.fail(ctx, e, j, failure{ledger.Other, err.Error(), "subscription systems unreadable"})
	}
	if len(rows) == 0 {
		return result{outcome: Unchanged, reason: why}
	}
	if !entry.Stored() {
		if entry, err = w.ledger.Get(ctx, e.src.ID, cust.ID); err != nil {
			return retryLater("ledger read failed", err)
		}
	}
	if entry.SubscriberID == 0 || entry.Deleted {
		return result{outcome: Unchanged}
	}
	now := w.now()
	if now.Before(entry.SubscriptionClaimUntil) && entry.SubscriptionClaimBy != owner {
		return retryLater("another worker is writing this customer's subscriptions", heldClaim{wait: entry.SubscriptionClaimUntil.Sub(now)})
	}
	// The bulk lane holds the entry: it records it whole when its write is
	// done, and would put back the subscription states it read over any
	// recorded now.
	if r, held := heldByAdd(entry, now, "the bulk lane is writing this subscriber"); held {
		return r
	}
	decisions, writes, stop := w.pendingRows(ctx, e, cust, entry, rows, sj)
	if stop != nil {
		return *stop
	}
	if len(decisions) == 0 {
		if entry.SubscriptionClaimBy == owner {
			w.releaseClaim(ctx, entry, owner)
		}
		return result{outcome: Unchanged, subscriber: entry.SubscriberID}
	}
	if writes > 0 && entry.SubscriptionClaimBy != owner {
		entry.SubscriptionClaimUntil, entry.SubscriptionClaimBy = now.Add(w.subClaim), owner
		if entry, err = w.ledger.Put(ctx, entry); err != nil {
			return retryLater("ledger claim of subscriptions failed", err)
		}
		if readSend(decisions) {
			// Decided from a read of Contactsend taken before the claim:
			// the person may have changed their mind since, and the job
			// carrying that found nothing to do and wrote nothing, so no
			// condition stops this write. Decide again from a read taken
			// under the claim; later changes now wait for it.
			decisions, writes, stop = w.pendingRows(ctx, e, cust, entry, rows, sj)
			if stop != nil || len(decisions) == 0 {
				w.releaseClaim(ctx, entry, owner)
				if stop != nil {
					return *stop
				}
				return result{outcome: Unchanged, subscriber: entry.SubscriberID}
			}
		}
	}
	// The claim, when held, is this run's to record over or to release,
	// even when the second decision left only rows to record.
	claimed := entry.SubscriptionClaimBy == owner
	// Each row is carried out and recorded on its own: a row the other side
	// refuses (a web form code Contactsend no longer knows, say) must not
	// keep the customer's other rows, an unsubscribe among them, from
	// reaching the other side. A passing error stops the writes (the
	// service is struggling); what was written before it is still recorded.
	// Write only while the claim holds, as adds do (ledger.ClaimWork): past
	// it another worker may write this customer's rows, and a late write of
	// ours would land after its newer one.
	writeCtx, cancelWrites := ctx, context.CancelFunc(func() {})
	if writes > 0 {
		writeCtx, cancelWrites = context.WithTimeout(ctx, ledger.ClaimWork(entry.SubscriptionClaimUntil, w.now(), w.subClaim))
	}
	defer cancelWrites()
	done := make([]rowDecision, 0, len(decisions))
	var refused []refusedRow
	var retryErr error
	for _, rd := range decisions {
		hubUpdatedAt := rd.hub.UpdatedAt
		var err error
		switch rd.d.Action {
		case subscriptions.WriteSend:
			err = w.writeSend(writeCtx, e, rd.row, entry.SubscriberID, rd.d.Subscribed)
		case subscriptions.WriteHub:
			var stored contacthub.Subscription
			if stored, err = w.writeHub(writeCtx, e, cust, rd.row.HubSubscriptionID, rd.d); err == nil {
				hubUpdatedAt = stored.UpdatedAt.Time
			}
		}
		if err == nil && rd.unsubscribesLinked() {
			err = w.writeSend(writeCtx, e, rd.row, entry.SubscriberID, false)
		}
		if err != nil {
			if transient(err) || retryableHub(err) {
				retryErr = err
				break
			}
			refused = append(refused, refusedRow{row: rd.row, err: err})
			continue
		}
		entry.SetSubscription(rd.row.HubSubscriptionID, rd.synced(hubUpdatedAt, entry.SubscriberID))
		done = append(done, rd)
		w.log.InfoContext(ctx, "subscription decision", "source_id", e.src.ID, "customer_id", cust.ID,
			"subscriber_id", entry.SubscriberID, "subscription_id", rd.row.HubSubscriptionID,
			"action", string(rd.d.Action), "subscribed", rd.d.Subscribed, "rule", rd.d.Rule)
	}
	if len(done) > 0 {
		entry.SubscriptionClaimUntil, entry.SubscriptionClaimBy = time.Time{}, ""
		recorded, err := w.ledger.Put(ctx, entry)
		if errors.Is(err, ledger.ErrConflict) && claimed {
			recorded, err = w.recordOver(ctx, entry, owner, done)
		}
		if err != nil {
			// ErrConflict re-decides from fresh state under the same claim:
			// what was written above now reads as both sides agreeing.
			return retryLater("ledger write of subscriptions failed", err)
		}
		entry = recorded
		if w.history != nil {
			trail := make([]history.Entry, 0, len(done))
			for _, rd := range done {
				trail = append(trail, w.subscriptionEntry(e, j, entry.SubscriberID, entry.Version, rd, now))
			}
			w.remember(ctx, e, trail...)
		}
	} else if claimed {
		// Nothing written: let the next attempt in at once.
		w.releaseClaim(ctx, entry, owner)
	}
	if retryErr != nil {
		return retryLater("subscription write failed", retryErr)
	}
	if len(refused) > 0 {
		return w.fail(ctx, e, j, failure{ledger.Rejected, "the subscription change was refused: " + refusal(refused), "subscription change rejected"})
	}
	if writes > 0 {
		return result{outcome: Updated, subscriber: entry.SubscriberID}
	}
	return result{outcome: Unchanged, subscriber: entry.SubscriberID}
}

// recordOver records the states of the rows a run wrote when another
// worker wrote the entry meanwhile (a data write, a failed record). While
// the run's claim holds nobody else records subscription states, so the
// run's are added to what the other worker wrote; the trail then has the
// writes as they happened, rather than a later run finding both sides
// agreeing. A claim lost (it lapsed and another worker took it), or an
// entry relinked or deleted meanwhile, is a conflict: the run decides
// again.
func (w *Worker) recordOver(ctx context.Context, ours ledger.Entry, owner string, done []rowDecision) (ledger.Entry, error) {
	fresh, err := w.ledger.Get(ctx, ours.SourceID, ours.CustomerID)
	if err != nil {
		return ledger.Entry{}, err
	}
	if fresh.SubscriptionClaimBy != owner || fresh.SubscriberID != ours.SubscriberID || fresh.Deleted {
		return ledger.Entry{}, fmt.Errorf("record subscriptions of %s: the claim or the link changed: %w", ours.CustomerID, ledger.ErrConflict)
	}
	for _, rd := range done {
		fresh.SetSubscription(rd.row.HubSubscriptionID, ours.Subscription(rd.row.HubSubscriptionID))
	}
	fresh.SubscriptionClaimUntil, fresh.SubscriptionClaimBy = time.Time{}, ""
	return w.ledger.Put(ctx, fresh)
}

func (w *Worker) writeSend(ctx context.Context, e *env, row subscriptionRow, subscriberID int64, subscribed bool) error {
	s, ok := e.send.(SubscriptionSend)
	if !ok {
		return errNoSubscriptionClient
	}
	return s.ModifySubscriptionStatus(ctx, e.cred, row.WebformCode, subscriberID, subscribed)
}

// pendingRows decides every row and keeps those with something to do,
// counting the writes among them; stop is the job's result when no
// decision could be made.
func (w *Worker) pendingRows(ctx context.Context, e *env, cust contacthub.Customer, entry ledger.Entry, rows []subscriptionRow, sj sendJob) (decisions []rowDecision, writes int, stop *result) {
	all, err := w.decideRows(ctx, e, cust, entry, rows, sj, nil)
	switch {
	case errors.Is(err, errAwaitEvent):
		r := retryLater(errAwaitEvent.Error(), nil)
		return nil, 0, &r
	case errors.Is(err, errSubscriberGone):
		// Removed in Contactsend: the next data sync relinks it.
		return nil, 0, &result{outcome: Unchanged, reason: errSubscriberGone.Error()}
	case err != nil:
		r := retryLater("contactsend read of the subscriber failed", err)
		return nil, 0, &r
	}
	decisions = all[:0]
	for _, rd := range all {
		switch {
		case rd.unsubscribesLinked():
			writes++
		case rd.d.Action == subscriptions.None:
			continue
		case rd.d.Action == subscriptions.WriteSend, rd.d.Action == subscriptions.WriteHub:
			writes++
		}
		decisions = append(decisions, rd)
	}
	return decisions, writes, nil
}

// readSend reports whether any decision rests on a read of Contactsend.
func readSend(decisions []rowDecision) bool {
	for _, rd := range decisions {
		if rd.send.Read {
			return true
		}
	}
	return false
}

// releaseClaim drops owner's claim, best effort: a claim left behind only
// delays others until it lapses.
func (w *Worker) releaseClaim(ctx context.Context, entry ledger.Entry, owner string) {
	// Also when the job's time ran out: that is when it matters most.
	ctx, cancel := w.cleanupContext(ctx)
	defer cancel()
	fresh, err := w.ledger.Get(ctx, entry.SourceID, entry.CustomerID)
	if err != nil || fresh.SubscriptionClaimBy != owner {
		return
	}
	fresh.SubscriptionClaimUntil, fresh.SubscriptionClaimBy = time.Time{}, ""
	if _, err := w.ledger.Put(ctx, fresh); err != nil {
		w.log.DebugContext(ctx, "release subscription claim", "source_id", entry.SourceID, "customer_id", entry.CustomerID, "error", err)
	}
}

// retryableHub sorts Contacthub errors that a later attempt may get past.
func retryableHub(err error) bool {
	return errors.Is(err, contacthub.ErrConflict) || errors.Is(err, contacthub.ErrTooManyRequests) || errors.Is(err, contacthub.ErrServer) ||
		errors.Is(err, contacthub.ErrLocked) || errors.Is(err, contacthub.ErrNotFound)
}

// writeHub sets a customer's subscription flag in Contacthub, creating the
// subscription when missing. updatedAt is the change's time (kept after
// the current one, so Contacthub orders it last); startDate marks a
// subscribe and endDate an unsubscribe.
func (w *Worker) writeHub(ctx context.Context, e *env, cust contacthub.Customer, id string, d subscriptions.Decision) (contacthub.Subscription, error) {
	hub, ok := e.hub.(SubscriptionHub)
	if !ok {
		return contacthub.Subscription{}, errNoSubscriptionClient
	}
	at := d.At.UTC()
	cur, present := cust.Subscription(id)
	if present && !at.After(cur.UpdatedAt.Time) {
		at = cur.UpdatedAt.Time.Add(time.Millisecond)
	}
	stamp := contacthub.NewTime(at)
	s := cur
	if !present {
		s = contacthub.Subscription{ID: id, RegisteredAt: stamp}
	}
	if d.Subscribed && (!cur.Subscribed || s.StartDate.IsZero()) {
		s.StartDate = stamp
	}
	if d.Subscribed {
		s.EndDate = contacthub.Time{}
	} else {
		s.EndDate = stamp
	}
	s.Subscribed, s.UpdatedAt = d.Subscribed, stamp
	if !present {
		return hub.CreateSubscription(ctx, cust.ID, s)
	}
	return hub.PutSubscription(ctx, cust.ID, s)
}

// sendSide reports whether a job came from the Contactsend side, so its
// run reads the subscriber's statuses.
func sendSide(reason string) bool {
	return reason == string(jobs.FromSendWebhook) || reason == string(jobs.FromReconcile)
}

// errNotFoundBySearch says Contacthub's search found no customer with a
// subscriber's email. The search lags new and changed customers, so the
// customer may still appear.
var errNotFoundBySearch = errors.New("no Contacthub customer found by the subscriber's email yet: Contacthub's search may not have indexed it")

// customerBySubscriber finds the customer of a subscriber the ledger does
// not know: by the subscriber's email in Contacthub, when the source
// matches on email. It returns "" when there is no email to look by, and
// errNotFoundBySearch when the search finds nobody.
func (w *Worker) customerBySubscriber(ctx context.Context, e *env, subscriberID int64) (string, error) {
	hub, ok := e.hub.(SubscriptionHub)
	if !ok {
		return "", nil
	}
	var emailField string
	for _, m := range e.src.MatchFields() {
		if m.HubField == "base.contacts.email" {
			emailField = m.SendField
		}
	}
	if emailField == "" {
		return "", nil
	}
	sub, err := e.send.GetSubscriber(ctx, e.cred, e.src.Properties.UserDBID, subscriberID)
	if errors.Is(err, contactsend.ErrUnknownSubscriber) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	v, ok := sub.Get(emailField)
	if !ok || v.IsNull() || v.String() == "" {
		return "", nil
	}
	page, err := hub.Customers(ctx, contacthub.ListQuery{NodeID: e.src.Node(), Query: contacthub.EmailQuery(v.String()), Size: 2})
	if err != nil {
		return "", err
	}
	if len(page.Elements) == 0 {
		return "", errNotFoundBySearch
	}
	best := page.Elements[0].ID
	for _, c := range page.Elements[1:] {
		if c.ID < best {
			best = c.ID
		}
	}
	return best, nil
}
