package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// Outcome is what a job did.
type Outcome string

// The outcomes of a job.
const (
	Added     Outcome = "added"     // a subscriber was created
	Updated   Outcome = "updated"   // a subscriber was written (or found equal and linked)
	Unchanged Outcome = "unchanged" // the mapped attributes did not change: no Contactsend call
	Deleted   Outcome = "deleted"   // the customer is gone; the delete policy was applied
	Skipped   Outcome = "skipped"   // the customer is outside the source's node, or unknown
	Ignored   Outcome = "ignored"   // the source is missing or disabled
	Failed    Outcome = "failed"    // a failed record was written; the job is done
	Retry     Outcome = "retry"     // a transient error: SQS delivers the job again
)

// result is a job's outcome and its explanation.
type result struct {
	outcome    Outcome
	reason     string // safe to log: no customer data
	err        error  // the cause of Retry (logged) or Failed (stored)
	subscriber int64
	customerID string
	// keepClaim leaves the add claim in place after a Retry: the add may
	// still land, so nobody may add again until the claim lapses.
	keepClaim bool
	// entry is the ledger entry as a successful write left it, so the
	// subscription sync that follows need not read it again.
	entry ledger.Entry
	// effect refines Deleted and Skipped for the counters.
	effect effect
	// fields names the Contactsend fields a data write changed, and added
	// says it added the subscriber: for the consent trail.
	fields []string
	added  bool
	// wrote says the job wrote Contactsend before its ledger write found
	// the entry changed: its values may have landed after the other
	// writer's, so a re-run writes again (see runCustomer).
	wrote bool
}

func retryLater(reason string, err error) result {
	return result{outcome: Retry, reason: reason, err: err}
}

// env is what the jobs of one source in one batch share.
type env struct {
	src    source.Source
	hub    Hub
	send   Send // limited to the source's cap
	cred   contactsend.Credentials
	mapper *mapping.Mapper
	match  []string // match field names of the userdb

	nodeOnce sync.Once
	node     contacthub.Node
	nodeErr  error
}

// nodeInfo returns the source's node description, read once per batch
// and only when a customer is not directly in the node.
func (e *env) nodeInfo(ctx context.Context) (contacthub.Node, error) {
	e.nodeOnce.Do(func() { e.node, e.nodeErr = e.hub.Node(ctx, e.src.Node()) })
	return e.node, e.nodeErr
}

// inNode decides membership. A customer belongs to an entry node when its
// nodeId is that node; to an aggregate node when its nodeId is one of the
// aggregate's entry nodes (Contacthub unifies those customers there).
func (e *env) inNode(ctx context.Context, c contacthub.Customer) (bool, error) {
	if c.NodeID == e.src.Node() {
		return true, nil
	}
	if c.NodeID == "" {
		return false, nil
	}
	n, err := e.nodeInfo(ctx)
	if err != nil {
		return false, fmt.Errorf("read node %s: %w", e.src.Node(), err)
	}
	return n.Kind == contacthub.AggregateNode && slices.Contains(n.EntryNodeIDs, c.NodeID), nil
}

// transient sorts a failure: transient ones come back through SQS; the
// rest are the subscriber's or the configuration's fault. A SOAP fault the
// client does not recognise counts as transient when the service blames
// itself (Receiver, or Server in SOAP 1.1): it is an exception on its side,
// and a recognised one (an invalid value, an unknown userdb) is permanent.
func transient(err error) bool {
	if f, ok := errors.AsType[*contactsend.Fault](err); ok && f.Unwrap() == nil {
		return f.Code == "Receiver" || f.Code == "Server"
	}
	return retry.Temporary(err) || errors.Is(err, contactsend.ErrOutcomeUnknown) ||
		errors.Is(err, contactsend.ErrTokenExpired) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, ledger.ErrConflict)
}

// matchQuery finds subscribers by every match field.
func matchQuery(attrs mapping.Attributes, match []string) (contactsend.Query, []string, error) {
	q := contactsend.Query{PageSize: contactsend.PageSize}
	var missing []string
	for _, name := range match {
		a, ok := attrs.Get(name)
		if !ok || a.Clear || a.Text == "" {
			missing = append(missing, name)
			continue
		}
		v, err := contactsend.ParseValue(contactsend.FieldType(a.Type), a.Text)
		if err != nil {
			return q, nil, err
		}
		q.Where = append(q.Where, contactsend.Filter{Attribute: name, Mode: contactsend.Equals, Value: v})
	}
	return q, missing, nil
}

// lowest picks the subscriber with the smallest id: when a userdb already
// holds duplicates, every worker settles on the same one.
func lowest(subs []contactsend.Subscriber) contactsend.Subscriber {
	best := subs[0]
	for _, s := range subs[1:] {
		if s.ID < best.ID {
			best = s
		}
	}
	return best
}

// task is one customer's work in a batch: duplicates of a job in the same
// batch share one task.
type task struct {
	customerID   string
	subscriberID int64
	jobReason    string
	messageIDs   []string
	enqueuedAt   time.Time
	// eventAt is the latest own date of the events behind the task's
	// jobs; zero when none said.
	eventAt time.Time
	// runID is the scheduler run the task's first job came from (empty
	// for webhook jobs); calls counts the task's calls for that run.
	runID string
	calls callCount
}

// run syncs one customer: read it, map it, then write what changed. A
// ledger conflict (another worker raced) re-evaluates once from the top.
func (w *Worker) run(ctx context.Context, e *env, t *task) result {
	customerID := t.customerID
	if customerID == "" {
		entry, err := w.ledger.BySubscriber(ctx, e.src.ID, t.subscriberID)
		switch {
		case err == nil:
			customerID = entry.CustomerID
		case errors.Is(err, ledger.ErrNotFound):
			id, err := w.customerBySubscriber(ctx, e, t.subscriberID)
			if errors.Is(err, errNotFoundBySearch) {
				// Contacthub's search lags new and changed customers (up to
				// a minute): a young job waits for it, through redelivery,
				// as long as it may wait for an event; an older one gives up.
				// The reconciliation's opt-outs of unlinked subscribers are
				// not news of a new customer: most name people Contacthub
				// does not hold, and one search each is enough.
				if !t.enqueuedAt.IsZero() && w.now().Sub(t.enqueuedAt) < w.eventWait && t.jobReason != string(jobs.FromReconcile) {
					return retryLater(errNotFoundBySearch.Error(), nil)
				}
				return result{outcome: Skipped, reason: "subscriber is not linked to a customer"}
			}
			if err != nil {
				return retryLater("finding the subscriber's customer failed", err)
			}
			if id == "" {
				return result{outcome: Skipped, reason: "subscriber is not linked to a customer"}
			}
			customerID = id
		default:
			return retryLater("ledger lookup failed", err)
		}
	}
	sj := sendJob{read: t.customerID == "" || sendSide(t.jobReason), eventAt: t.eventAt, subscriber: t.subscriberID}
	// An undated job may wait a little for the event of a Contactsend
	// change it cannot order against a Contacthub change.
	sj.mayWait = t.eventAt.IsZero() && !t.enqueuedAt.IsZero() && w.now().Sub(t.enqueuedAt) < w.eventWait
	r := w.runCustomer(ctx, e, customerID, t.jobReason, sj)
	r.customerID = customerID
	return r
}

func (w *Worker) runCustomer(ctx context.Context, e *env, customerID, jobReason string, sj sendJob) result {
	j := jobRef{customerID: customerID, reason: jobs.Reason(jobReason)}
	p := w.planCustomer(ctx, e, customerID)
	if p.step != stepWrite && p.step != stepDeleted {
		return w.apply(ctx, e, j, p)
	}
	provisional := p
	var last result
	// unsure holds while this run's write may have put older values in
	// Contactsend than the ledger records and no later write of it
	// covered them.
	unsure := false
	r := w.again(ctx, func() result {
		if last.outcome == Retry {
			// The entry changed under the first decision: another worker
			// wrote it, perhaps from a newer read of the customer. Decide
			// again from fresh reads of both, or this run's older values
			// would be written over the newer ones; and if this run wrote
			// Contactsend already, its write may have landed after the
			// other's, so the current values are written whatever the
			// ledger says.
			provisional = w.planCustomer(ctx, e, customerID)
			provisional.force = last.wrote
			if provisional.step != stepWrite && provisional.step != stepDeleted {
				last = w.apply(ctx, e, j, provisional)
				return last
			}
		}
		// The subscriptions below are decided from the read the data was.
		var planned plan
		provisional, planned = w.settle(ctx, e, customerID, provisional)
		last = w.apply(ctx, e, j, planned)
		// Only a write of the current values (or the deletion's) covers
		// this run's own: a refusal recorded as a failure does not.
		unsure = last.wrote || unsure && last.outcome != Added && last.outcome != Updated && last.outcome != Deleted
		return last
	})
	if unsure {
		w.markUnsure(ctx, e, customerID)
	}
	if provisional.step == stepDeleted || r.outcome != Added && r.outcome != Updated && r.outcome != Unchanged {
		return r
	}
	return w.applySubscriptions(ctx, e, j, provisional.customer, sj, r)
}

// markUnsure clears the hash of the customer's entry after this run wrote
// the subscriber, found the entry written by another worker meanwhile, and
// could not write the current values over its own (its re-run went back to
// SQS). Its values may have landed after the other worker's, and the entry
// would tell the job's next run that Contactsend holds what Contacthub
// does: with the hash cleared, that run writes the current values.
func (w *Worker) markUnsure(ctx context.Context, e *env, customerID string) {
	ctx, cancel := w.cleanupContext(ctx)
	defer cancel()
	var err error
	for range 3 {
		var entry ledger.Entry
		if entry, err = w.ledger.Get(ctx, e.src.ID, customerID); err != nil || !entry.Stored() || entry.Hash == "" {
			break
		}
		entry.Hash = ""
		if _, err = w.ledger.Put(ctx, entry); !errors.Is(err, ledger.ErrConflict) {
			break
		}
	}
	if err != nil {
		w.log.WarnContext(ctx, "mark a subscriber for rewriting after a race", "source_id", e.src.ID, "customer_id", customerID, "error", err.Error())
	}
}

// applySubscriptions runs the subscription sync after a successful data
// write r and folds its outcome into r.
func (w *Worker) applySubscriptions(ctx context.Context, e *env, j jobRef, cust contacthub.Customer, sj sendJob, r result) result {
	owner := claimOwner()
	// The first decision starts from the entry the write left; a re-run
	// after a conflict reads it afresh, and the customer too: the worker
	// that won the race may have written Contacthub, and the customer
	// read before that write would show a Contactsend unsubscribe it
	// carried over as a Contacthub subscribe undoing it.
	entry := r.entry
	rerun := false
	s := w.again(ctx, func() result {
		if rerun {
			fresh, err := e.hub.Customer(ctx, cust.ID)
			if err != nil {
				return retryLater("contacthub read failed", err)
			}
			cust = fresh
		}
		rerun = true
		s := w.syncSubscriptions(ctx, e, j, cust, sj, owner, entry)
		entry = ledger.Entry{}
		return s
	})
	switch {
	case s.outcome == Retry || s.outcome == Failed:
		return s
	case s.outcome == Updated && r.outcome == Unchanged:
		r.outcome = Updated
	}
	if s.reason != "" && r.reason == "" {
		r.reason = s.reason
	}
	return r
}

// again runs a decision and, if the ledger entry changed under it, runs it
// once more on fresh state; a second conflict goes back to SQS.
func (w *Worker) again(ctx context.Context, decide func() result) result {
	r := decide()
	if r.outcome == Retry && errors.Is(r.err, ledger.ErrConflict) {
		r = decide()
	}
	return r
}

// apply carries a plan out.
func (w *Worker) apply(ctx context.Context, e *env, j jobRef, p plan) result {
	j = j.named(p.customer)
	switch p.step {
	case stepRetry:
		return retryLater(p.reason, p.err)
	case stepSkip:
		if p.unmatchable {
			return w.skipUnmatchable(ctx, e, p)
		}
		if p.tombstone {
			return w.tombstone(ctx, p)
		}
		return result{outcome: Skipped, reason: p.reason}
	case stepFail:
		return w.fail(ctx, e, j, p.failure)
	case stepUnchanged:
		if p.entry.Failed && !p.entry.Deleted {
			return w.record(ctx, e, p.entry, p.entry.SubscriberID, p.hash, fieldDigest(p.attrs), p.customer.UpdatedAt.Time, Unchanged)
		}
		if p.customer.UpdatedAt.After(p.entry.CustomerUpdatedAt) {
			return w.markNewer(ctx, p)
		}
		return result{outcome: Unchanged, reason: p.reason, subscriber: p.entry.SubscriberID, entry: p.entry}
	case stepDeleted:
		return w.deleted(ctx, e, j, p)
	}
	r := w.write(ctx, e, j, p)
	if (r.outcome == Added || r.outcome == Updated) && (r.added || len(r.fields) > 0) {
		w.remember(ctx, e, history.Entry{
			SourceID: e.src.ID, CustomerID: j.customerID, LedgerVersion: r.entry.Version, At: w.now(), Kind: history.Data, Trigger: string(j.reason),
			SubscriberID: r.subscriber, Fields: r.fields, Added: r.added, Wrote: history.WroteContactsend,
		})
	}
	return r
}

// heldByAdd is the result of a job that meets an add claim on entry (a
// per-customer add, or the bulk lane writing the subscriber), and whether
// it met one: it comes back once the claim's holder is likely done.
func heldByAdd(entry ledger.Entry, now time.Time, reason string) (result, bool) {
	if !entry.Adding(now) {
		return result{}, false
	}
	return retryLater(reason, heldClaim{wait: entry.AddingUntil.Sub(now)}), true
}

// markNewer records that the customer was read again, newer, with the
// values the entry already holds: no Contactsend call, one ledger write.
// The customer may have changed and changed back while another job still
// writes the values in between; the entry's new version makes that job's
// ledger write fail, and its re-run writes these values back. Without the
// write the older job's values would stay in Contactsend.
func (w *Worker) markNewer(ctx context.Context, p plan) result {
	entry := p.entry
	// The bulk lane writes this subscriber from its own read and records
	// it without a condition: decide again once it is done.
	if r, held := heldByAdd(entry, w.now(), "the bulk lane is writing this subscriber"); held {
		return r
	}
	entry.CustomerUpdatedAt = p.customer.UpdatedAt.Time
	stored, err := w.ledger.Put(ctx, entry)
	if err != nil {
		return retryLater("ledger write failed", err)
	}
	return result{outcome: Unchanged, reason: p.reason, subscriber: stored.SubscriberID, entry: stored}
}

// tombstone records a customer deleted before it was ever synced as
// deleted. A job that read the customer before the deletion would
// otherwise add its subscriber afterwards: its add claim, conditional on
// the entry it read (none), now fails, and a later read of the entry
// sends it back to Contacthub, which says the customer is gone.
func (w *Worker) tombstone(ctx context.Context, p plan) result {
	entry := p.entry
	entry.Deleted, entry.SyncedAt = true, w.now()
	if _, err := w.ledger.Put(ctx, entry); err != nil {
		return retryLater("ledger write failed", err)
	}
	return result{outcome: Skipped, reason: p.reason}
}

// write brings the subscriber to the plan's attributes.
func (w *Worker) write(ctx context.Context, e *env, j jobRef, p plan) result {
	entry, updatedAt := p.entry, p.customer.UpdatedAt.Time
	digest := fieldDigest(p.attrs)
	if id := entry.SubscriberID; id != 0 {
		// The bulk lane holds the entry while it writes this subscriber
		// from an older read of the customer: writing now would let its
		// values land after these.
		if r, held := heldByAdd(entry, w.now(), "the bulk lane is writing this subscriber"); held {
			return r
		}
		err := w.update(ctx, e, id, p.wire)
		switch {
		case err == nil:
			r := w.record(ctx, e, entry, id, p.hash, digest, updatedAt, Updated)
			r.fields = changedFields(entry.FieldDigest, digest)
			return r
		case errors.Is(err, contactsend.ErrUnknownSubscriber):
			// Removed in Contactsend: forget it and look by the match fields.
			entry.SubscriberID = 0
			if len(p.missing) > 0 {
				p.entry = entry
				return w.apply(ctx, e, j, unmatchable(e.src.Properties.UnmatchablePolicy(), p))
			}
		case transient(err):
			return retryLater("contactsend update failed", err)
		default:
			return w.fail(ctx, e, j, failure{ledger.Rejected, "Contactsend refused the update: " + err.Error(), "contactsend rejected the update"})
		}
	}

	now := w.now()
	if r, held := heldByAdd(entry, now, "another worker is adding this subscriber"); held {
		return r
	}
	// Claim the add so that two workers cannot both add the customer.
	entry.AddingUntil = now.Add(w.claim)
	claimed, err := w.ledger.Put(ctx, entry)
	if err != nil {
		return retryLater("ledger claim failed", err)
	}
	// Search and add only while the claim holds: once it lapses another job
	// may take it and add the customer too. A timeout, not an instant, so
	// that a test clock does not end the context early.
	claimCtx, cancelClaim := context.WithTimeout(ctx, ledger.ClaimWork(claimed.AddingUntil, w.now(), w.claim))
	r := w.findOrAdd(claimCtx, e, claimed, p.query, p.wire, p.attrs)
	cancelClaim()
	if r.keepClaim {
		// The add may land after the claim's end (a request cut off by it):
		// hold the claim a whole claim from now, so that the job that takes
		// it next finds the subscriber instead of adding another.
		claimed.AddingUntil = w.now().Add(w.claim)
		cleanupCtx, cancel := w.cleanupContext(ctx)
		_, err := w.ledger.Put(cleanupCtx, claimed)
		cancel()
		if err != nil {
			w.log.WarnContext(ctx, "extend add claim after an add of unknown outcome", "source_id", e.src.ID, "customer_id", j.customerID, "error", err)
		}
		r.err = heldClaim{wait: w.claim, own: true, err: r.err}
		return r
	}
	if r.outcome == Retry || r.outcome == Failed {
		// Let the next attempt in at once instead of after the claim lapses,
		// even when the job's time ran out: nothing was added.
		claimed.AddingUntil = time.Time{}
		cleanupCtx, cancel := w.cleanupContext(ctx)
		_, err := w.ledger.Put(cleanupCtx, claimed)
		cancel()
		if err != nil {
			w.log.DebugContext(ctx, "release add claim", "source_id", e.src.ID, "customer_id", j.customerID, "error", err)
		}
		if r.outcome == Failed {
			return w.fail(ctx, e, j, failure{ledger.Rejected, r.err.Error(), r.reason})
		}
		return r
	}
	rec := w.record(ctx, e, claimed, r.subscriber, p.hash, digest, updatedAt, r.outcome)
	if r.outcome == Added && rec.outcome == Retry && errors.Is(rec.err, ledger.ErrConflict) {
		w.yieldToLower(ctx, e, j, p.query, r.subscriber)
	}
	rec.fields, rec.added = r.fields, r.outcome == Added
	return rec
}

// yieldToLower runs after this job added subscriber added and found the
// ledger entry written over its add claim. The bulk lane writes its add
// claims in batches, without conditions, over any claim, and it may have
// added the customer too: each lane reads the userdb back after adding, and
// the later reader sees both. Both keep the lowest id, so this job removes
// its own subscriber when one with the same match values and a lower id
// exists (whoever wrote the entry: a lower id is the one to keep anyway);
// its retry then links that one.
func (w *Worker) yieldToLower(ctx context.Context, e *env, j jobRef, q contactsend.Query, added int64) {
	db := e.src.Properties.UserDBID
	page, err := e.send.FindSubscribersBy(ctx, e.cred, db, q)
	if err != nil {
		w.log.WarnContext(ctx, "read back an add raced by the bulk lane", "source_id", e.src.ID, "customer_id", j.customerID, "error", err)
		return
	}
	if len(page.Subscribers) == 0 || lowest(page.Subscribers).ID >= added {
		return
	}
	err = e.send.RemoveSubscriber(ctx, e.cred, db, added)
	if err != nil && !errors.Is(err, contactsend.ErrUnknownSubscriber) {
		w.log.WarnContext(ctx, "remove a subscriber added in a race with the bulk lane", "source_id", e.src.ID, "customer_id", j.customerID, "subscriber_id", added, "error", err)
		return
	}
	w.log.InfoContext(ctx, "removed a subscriber added in a race with the bulk lane", "source_id", e.src.ID, "customer_id", j.customerID, "subscriber_id", added)
}

func (w *Worker) update(ctx context.Context, e *env, id int64, wire []contactsend.Attribute) error {
	if len(wire) == 0 {
		return nil // only unclearable clears: nothing to send
	}
	_, err := e.send.UpdateSubscriber(ctx, e.cred, e.src.Properties.UserDBID, contactsend.Subscriber{ID: id, Attributes: wire})
	return err
}

// findOrAdd runs under the add claim: it links an existing subscriber
// holding the match values, or adds one. Its Failed results carry the
// Contactsend error for the caller to record.
func (w *Worker) findOrAdd(ctx context.Context, e *env, entry ledger.Entry, q contactsend.Query, wire []contactsend.Attribute, attrs mapping.Attributes) result {
	db := e.src.Properties.UserDBID
	find := func() (contactsend.Subscriber, bool, error) {
		page, err := e.send.FindSubscribersBy(ctx, e.cred, db, q)
		if err != nil || len(page.Subscribers) == 0 {
			return contactsend.Subscriber{}, false, err
		}
		if len(page.Subscribers) > 1 {
			ids := make([]int64, len(page.Subscribers))
			for i, s := range page.Subscribers {
				ids[i] = s.ID
			}
			w.log.WarnContext(ctx, "several subscribers hold the match values; using the lowest id",
				"source_id", e.src.ID, "customer_id", entry.CustomerID, "subscriber_ids", ids)
		}
		return lowest(page.Subscribers), true, nil
	}
	rejected := func(what string, err error) result {
		if transient(err) {
			return retryLater("contactsend "+what+" failed", err)
		}
		return result{outcome: Failed, reason: "contactsend rejected the " + what, err: fmt.Errorf("refused by Contactsend (%s): %w", what, err)}
	}
	found, ok, err := find()
	if err != nil {
		return rejected("search", err)
	}
	if ok {
		diff := found.Differences(attrs)
		if diff == nil {
			return result{outcome: Updated, subscriber: found.ID}
		}
		if err := w.update(ctx, e, found.ID, wire); err != nil {
			return rejected("update", err)
		}
		slices.Sort(diff)
		return result{outcome: Updated, subscriber: found.ID, fields: diff}
	}
	added, err := e.send.AddSubscriber(ctx, e.cred, db, contactsend.Subscriber{Attributes: wire})
	if errors.Is(err, contactsend.ErrOutcomeUnknown) {
		// The add may have happened: look before anyone adds again.
		if found, ok, ferr := find(); ferr == nil && ok {
			return result{outcome: Added, subscriber: found.ID, fields: fieldNames(attrs)}
		}
		// Not visible yet, or the search failed too: the add may still be
		// landing. Keep the claim so no other job adds a second subscriber
		// before it lapses; this job comes back after that.
		r := retryLater("contactsend add outcome unknown", err)
		r.keepClaim = true
		return r
	}
	if err != nil {
		return rejected("add", err)
	}
	return result{outcome: Added, subscriber: added.ID, fields: fieldNames(attrs)}
}

// record stores a success in the ledger and clears a failed record.
func (w *Worker) record(ctx context.Context, e *env, entry ledger.Entry, subscriber int64, hash, digest string, updatedAt time.Time, outcome Outcome) result {
	wasFailed := entry.Failed
	entry.SubscriberID, entry.Hash, entry.FieldDigest, entry.CustomerUpdatedAt = subscriber, hash, digest, updatedAt
	entry.SyncedAt, entry.Deleted, entry.Failed, entry.AddingUntil = w.now(), false, false, time.Time{}
	entry, err := w.ledger.Put(ctx, entry)
	if err != nil {
		r := retryLater("ledger write failed", err)
		r.wrote = true
		return r
	}
	if wasFailed {
		if err := w.ledger.ClearFailure(ctx, e.src.ID, entry.CustomerID); err != nil {
			return retryLater("clearing the failed record failed", err)
		}
	}
	return result{outcome: outcome, subscriber: subscriber, entry: entry}
}

// skipUnmatchable skips a customer without a match value. A failed record
// left from before the source chose to skip is cleared: failures are for
// what someone must fix.
func (w *Worker) skipUnmatchable(ctx context.Context, e *env, p plan) result {
	r := result{outcome: Skipped, reason: "match value missing", effect: effectUnmatchable}
	if !p.entry.Failed {
		return r
	}
	entry := p.entry
	entry.Failed = false
	if _, err := w.ledger.Put(ctx, entry); err != nil {
		return retryLater("ledger write failed", err)
	}
	if err := w.ledger.ClearFailure(ctx, e.src.ID, entry.CustomerID); err != nil {
		return retryLater("clearing the failed record failed", err)
	}
	return r
}

// effect says what a Deleted or Skipped job did, for the counters.
type effect int

// The effects.
const (
	effectNone         effect = iota
	effectKept                // the deleted customer's subscriber was left as it was
	effectRemoved             // the deleted customer's subscriber was removed
	effectUnsubscribed        // the deleted customer's subscriber was unsubscribed
	effectUnmatchable         // the customer has no match value and the source skips it
)

// count adds what a Deleted or Skipped job did to c: each delete policy's
// effect and each skip reason the status shows has its counter.
func (r result) count(c *ledger.Counts) {
	switch r.outcome {
	case Deleted:
		switch r.effect {
		case effectRemoved:
			c.Removed++
		case effectUnsubscribed:
			c.Unsubscribed++
		default:
			c.Kept++
		}
	case Skipped:
		c.Skipped++
		if r.effect == effectUnmatchable {
			c.Unmatchable++
		}
	}
}

// deleted applies the delete policy to a customer Contacthub no longer has.
func (w *Worker) deleted(ctx context.Context, e *env, j jobRef, p plan) result {
	entry, now := p.entry, w.now()
	// A subscriber is being added or written (by another job, or the bulk
	// lane) under its claim: marked deleted now, the entry would lose the
	// subscriber that write leaves, and the policy would never reach it.
	// Wait for the write to record it.
	if r, held := heldByAdd(entry, now, "another worker is writing this customer's subscriber"); held {
		return r
	}
	if p.policy != source.KeepSubscriber && now.Before(entry.SubscriptionClaimUntil) {
		// Another worker is writing this customer's subscriptions (a
		// subscribe, say): its write could land after this policy's, and
		// the deletion is handled once. Wait for it to record its write.
		return retryLater("another worker is writing this customer's subscriptions", heldClaim{wait: entry.SubscriptionClaimUntil.Sub(now)})
	}
	done := effectKept
	var unsubscribed []rowDecision
	switch p.policy {
	case source.UnsubscribeSubscriber:
		u, err := w.unsubscribeAll(ctx, e, entry)
		if err != nil {
			if transient(err) {
				return retryLater("contactsend unsubscribe failed", err)
			}
			return w.fail(ctx, e, j, failure{ledger.Rejected, "Contactsend refused to unsubscribe the subscriber: " + err.Error(), "contactsend rejected the unsubscribe"})
		}
		entry, unsubscribed, done = u.entry, u.written, u.effect
		if u.retryErr != nil || len(u.refused) > 0 {
			// Keep what was unsubscribed, and leave the deletion unhandled
			// so that a later attempt unsubscribes the rest.
			if len(unsubscribed) > 0 {
				stored, err := w.ledger.Put(ctx, entry)
				if err != nil {
					return retryLater("ledger write failed", err)
				}
				w.remember(ctx, e, w.deletionTrail(e, j, stored, unsubscribed)...)
			}
			if u.retryErr != nil {
				return retryLater("contactsend unsubscribe failed", u.retryErr)
			}
			return w.fail(ctx, e, j, failure{ledger.Rejected, "Contactsend refused to unsubscribe the subscriber: " + refusal(u.refused), "contactsend rejected the unsubscribe"})
		}
	case source.RemoveSubscriber:
		done = effectRemoved
		err := e.send.RemoveSubscriber(ctx, e.cred, e.src.Properties.UserDBID, entry.SubscriberID)
		if err != nil && !errors.Is(err, contactsend.ErrUnknownSubscriber) {
			if transient(err) {
				return retryLater("contactsend remove failed", err)
			}
			return w.fail(ctx, e, j, failure{ledger.Rejected, "Contactsend refused to remove the subscriber: " + err.Error(), "contactsend rejected the removal"})
		}
		entry.SubscriberID, entry.Hash = 0, ""
	}
	wasFailed := entry.Failed
	entry.Deleted, entry.Failed, entry.SyncedAt, entry.AddingUntil = true, false, w.now(), time.Time{}
	stored, err := w.ledger.Put(ctx, entry)
	if err != nil {
		return retryLater("ledger write failed", err)
	}
	if wasFailed {
		if err := w.ledger.ClearFailure(ctx, e.src.ID, j.customerID); err != nil {
			return retryLater("clearing the failed record failed", err)
		}
	}
	w.remember(ctx, e, w.deletionTrail(e, j, stored, unsubscribed)...)
	reason := p.reason
	if done == effectKept && p.policy != source.KeepSubscriber {
		reason = "customer deleted; subscriber kept: no mapped subscription to unsubscribe, or the subscriber is gone"
	}
	return result{outcome: Deleted, reason: reason, effect: done}
}

// deletionTrail is the consent trail of a deleted customer's unsubscribes,
// stored at the entry's version.
func (w *Worker) deletionTrail(e *env, j jobRef, stored ledger.Entry, unsubscribed []rowDecision) []history.Entry {
	if w.history == nil {
		return nil
	}
	now := w.now()
	var trail []history.Entry
	for _, rd := range unsubscribed {
		trail = append(trail, history.Entry{
			SourceID: e.src.ID, CustomerID: j.customerID, LedgerVersion: stored.Version, At: now, Kind: history.Subscription, Trigger: string(j.reason),
			SubscriberID: stored.SubscriberID, SubscriptionID: rd.row.HubSubscriptionID, Changed: history.Contacthub,
			HubBefore: history.StateGone, HubAfter: history.StateGone, SendBefore: sendState(rd.send),
			SendAfter: history.StateUnsubscribed, SendAt: now, Rule: rd.d.Rule,
			Wrote: history.WroteContactsend, Echo: history.WroteContactsend, WebformCode: rd.row.WebformCode,
		})
	}
	return trail
}

// unsubscribed is what unsubscribeAll did.
type unsubscribed struct {
	entry   ledger.Entry  // with the unsubscribes recorded
	written []rowDecision // the rows it wrote
	effect  effect
	// refused holds the rows Contactsend refused for good, and retryErr
	// the passing error that stopped the writes; the rows not written
	// are left for a later attempt.
	refused  []refusedRow
	retryErr error
}

// unsubscribeAll unsubscribes a deleted customer's subscriber from every
// subscription row and records the unsubscribes in entry. A subscriber
// gone from Contactsend is left alone: it is kept, as far as it exists. A
// row Contactsend refuses does not keep the others from being unsubscribed.
func (w *Worker) unsubscribeAll(ctx context.Context, e *env, entry ledger.Entry) (unsubscribed, error) {
	decisions, err := w.planUnsubscribe(ctx, e, entry)
	if err != nil || decisions == nil {
		return unsubscribed{entry: entry, effect: effectKept}, err
	}
	u := unsubscribed{effect: effectUnsubscribed}
	for _, rd := range decisions {
		if rd.d.Action == subscriptions.WriteSend {
			if err := w.writeSend(ctx, e, rd.row, entry.SubscriberID, false); err != nil {
				if transient(err) {
					u.retryErr = err
					break
				}
				u.refused = append(u.refused, refusedRow{row: rd.row, err: err})
				continue
			}
			u.written = append(u.written, rd)
		}
		entry.SetSubscription(rd.row.HubSubscriptionID, rd.synced(entry.Subscription(rd.row.HubSubscriptionID).HubUpdatedAt, entry.SubscriberID))
	}
	u.entry = entry
	return u, nil
}

// planUnsubscribe decides, for a deleted customer's subscriber, which rows
// the unsubscribe policy writes: those whose status is not -1 already. It
// returns no decisions when there is nothing to unsubscribe (no rows, an
// aggregate node, the subscriber gone).
func (w *Worker) planUnsubscribe(ctx context.Context, e *env, entry ledger.Entry) ([]rowDecision, error) {
	n, err := e.nodeInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", e.src.Node(), err)
	}
	if n.Kind == contacthub.AggregateNode {
		return nil, nil // subscriptions of an aggregate node are never touched
	}
	rows, err := w.subscriptionRows(ctx, e)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	sub, err := e.send.GetSubscriber(ctx, e.cred, e.src.Properties.UserDBID, entry.SubscriberID)
	if errors.Is(err, contactsend.ErrUnknownSubscriber) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := w.now()
	decisions := make([]rowDecision, 0, len(rows))
	for _, row := range rows {
		d := subscriptions.Decision{Action: subscriptions.None, At: now, Origin: subscriptions.Hub,
			Rule: "customer deleted: already unsubscribed"}
		status, _ := sub.SubscriptionStatus(row.registrationField)
		if status != contactsend.Unsubscribed {
			d.Action, d.Rule = subscriptions.WriteSend, "customer deleted: the source unsubscribes its subscriber"
		}
		decisions = append(decisions, rowDecision{row: row, d: d, send: subscriptions.SendView{Read: true, Status: subscriptions.SendStatus(status)}})
	}
	return decisions, nil
}

// fail writes a failed record. Its detail may quote customer values (the
// admin who reads it may see them); its log reason must not.
func (w *Worker) fail(ctx context.Context, e *env, j jobRef, f failure) result {
	err := w.ledger.RecordFailure(ctx, ledger.Failure{
		SourceID: e.src.ID, CustomerID: j.customerID, Reason: f.detail, Kind: f.kind,
		LastFailedAt: w.now(), JobReason: string(j.reason),
		Email: j.email, FirstName: j.firstName, LastName: j.lastName,
	})
	if err != nil {
		return retryLater("recording the failed record failed", err)
	}
	return result{outcome: Failed, reason: f.logReason, err: errors.New(f.detail)}
}
