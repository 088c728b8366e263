package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/source"
)

// A job runs in two halves. Planning reads Contacthub and the ledger, maps
// the customer and decides what the job must do; it writes nothing. Applying
// carries the plan out. The worker runs both; the preview runs the plan and
// describes it, so the two cannot disagree on a decision.

// step is what a plan says a job must do.
type step string

// The steps.
const (
	stepRetry     step = "retry"     // a read failed for a passing reason
	stepSkip      step = "skip"      // nothing is ours to do (see plan.reason)
	stepFail      step = "fail"      // a failed record is written (see plan.failure)
	stepUnchanged step = "unchanged" // the mapped attributes are what was last written
	stepWrite     step = "write"     // update the linked subscriber, or find or add one
	stepDeleted   step = "deleted"   // the customer is gone: the delete policy applies
)

// jobRef names the customer a job is about and why the job was made, as a
// failed record stores them.
type jobRef struct {
	customerID string
	reason     jobs.Reason
	// email and the names identify the customer to the admin who reads
	// the failed record; empty until the job has read the customer.
	email, firstName, lastName string
}

// named returns j with the customer's e-mail and names, as read.
func (j jobRef) named(c contacthub.Customer) jobRef {
	if c.ID == "" {
		return j
	}
	j.email = c.Email()
	if c.Base != nil {
		j.firstName, j.lastName = c.Base.FirstName, c.Base.LastName
	}
	return j
}

// failure is a permanent failure of a job.
type failure struct {
	kind ledger.FailureKind
	// detail is stored for the admin and may quote customer values.
	detail string
	// logReason is logged and must not quote customer data.
	logReason string
}

// plan is a job's decision and what its writes need.
type plan struct {
	step step
	// reason explains the step; safe to log.
	reason string
	// err is the cause of stepRetry.
	err     error
	failure failure

	customer contacthub.Customer
	attrs    mapping.Attributes
	problems mapping.Problems
	hash     string
	// wire is attrs in Contactsend's form, and query finds a subscriber by
	// the match fields; missing names the match fields without a value.
	wire    []contactsend.Attribute
	query   contactsend.Query
	missing []string
	// entry is the customer's ledger entry as read.
	entry ledger.Entry
	// policy is the delete policy of stepDeleted, as it applies to this
	// customer: KeepSubscriber when there is nothing to remove or
	// unsubscribe.
	policy source.DeletePolicy
	// unmatchable marks a stepSkip or stepFail for a missing match value.
	unmatchable bool
	// force writes a linked subscriber even when the ledger says its
	// values were written: set when this job's own earlier write may have
	// put older ones back.
	force bool
	// stale marks a plan whose read of the customer is older than the one
	// the ledger entry records, or than its deletion: planEntry decided
	// nothing.
	stale bool
	// reread marks a plan from a customer read made after a stale one.
	reread bool
	// tombstone marks the skip of a customer deleted before it was ever
	// synced: the entry is written as deleted all the same.
	tombstone bool
}

func retryPlan(reason string, err error) plan { return plan{step: stepRetry, reason: reason, err: err} }

func failPlan(kind ledger.FailureKind, detail, logReason string) plan {
	return plan{step: stepFail, reason: logReason, failure: failure{kind: kind, detail: detail, logReason: logReason}}
}

// plan reads the customer, maps it, reads its ledger entry and decides.
func (w *Worker) plan(ctx context.Context, e *env, customerID string) plan {
	p := w.planCustomer(ctx, e, customerID)
	if p.step != stepWrite && p.step != stepDeleted {
		return p
	}
	_, planned := w.settle(ctx, e, customerID, p)
	return planned
}

// settle settles the provisional plan p against the ledger entry. A read
// of the customer older than the one the entry records is read again,
// once: Contacthub then returns it at least as new. It returns the
// provisional plan of the read it decided from, and the decision.
func (w *Worker) settle(ctx context.Context, e *env, customerID string, p plan) (read, planned plan) {
	if planned = w.planEntry(ctx, e, customerID, p); !planned.stale {
		return p, planned
	}
	fresh := w.planCustomer(ctx, e, customerID)
	fresh.force, fresh.reread = p.force, true
	if fresh.step != stepWrite && fresh.step != stepDeleted {
		return fresh, fresh
	}
	if planned = w.planEntry(ctx, e, customerID, fresh); planned.stale {
		return fresh, retryPlan(errOlderRead, nil)
	}
	return fresh, planned
}

// errOlderRead is why a job gives back a customer Contacthub returned
// older, twice, than the read the ledger records.
const errOlderRead = "Contacthub returned an older read of the customer than the ledger records"

// planCustomer reads and maps the customer. Its stepWrite and stepDeleted
// are provisional: planEntry settles them against the ledger.
func (w *Worker) planCustomer(ctx context.Context, e *env, customerID string) plan {
	cust, err := e.hub.Customer(ctx, customerID)
	if errors.Is(err, contacthub.ErrNotFound) {
		return plan{step: stepDeleted}
	}
	if err != nil {
		if transient(err) {
			return retryPlan("contacthub read failed", err)
		}
		return failPlan(ledger.Other, "Contacthub refused to return the customer: "+err.Error(), "contacthub refused the read")
	}
	in, err := e.inNode(ctx, cust)
	if err != nil {
		return retryPlan("contacthub node read failed", err)
	}
	if !in {
		return plan{step: stepSkip, customer: cust, reason: "customer is outside the source's node"}
	}
	p := plan{step: stepWrite, customer: cust}
	p.attrs, p.problems = e.mapper.Map(cust.Lookup)
	if len(p.problems) > 0 {
		f := failPlan(ledger.Coercion, p.problems.String(), "coercion: "+strings.Join(p.problems.Fields(), ", "))
		f.customer, f.attrs, f.problems = cust, p.attrs, p.problems
		return f
	}
	p.hash = p.attrs.Hash()
	if p.wire, err = contactsend.WireAttributes(p.attrs); err != nil {
		f := failPlan(ledger.Coercion, err.Error(), "coercion: wire form")
		f.customer, f.attrs = cust, p.attrs
		return f
	}
	if p.query, p.missing, err = matchQuery(p.attrs, e.match); err != nil {
		f := failPlan(ledger.Coercion, err.Error(), "coercion: match value")
		f.customer, f.attrs = cust, p.attrs
		return f
	}
	return p
}

// planEntry reads the ledger entry and settles a provisional plan: a
// conflict on a write re-runs only this half, on fresh ledger state. A
// plan whose read of the customer is older than the entry's comes back
// stale, undecided: the caller reads the customer again.
func (w *Worker) planEntry(ctx context.Context, e *env, customerID string, p plan) plan {
	entry, err := w.ledger.Get(ctx, e.src.ID, customerID)
	if err != nil {
		return retryPlan("ledger read failed", err)
	}
	p.entry = entry
	if p.step == stepDeleted {
		return planDeleted(e.src.Properties, p)
	}
	if staleRead(p, entry) {
		// Its values are not to be written: the caller reads the customer
		// again.
		p.stale = true
		return p
	}
	if !p.force && entry.Stored() && entry.SubscriberID != 0 && !entry.Deleted && entry.Hash == p.hash {
		p.step, p.reason = stepUnchanged, ""
		return p
	}
	if entry.SubscriberID == 0 && len(p.missing) > 0 {
		return unmatchable(e.src.Properties.UnmatchablePolicy(), p)
	}
	return p
}

// staleRead reports whether p's read of the customer may be older than
// the entry: another job synced a newer read (Contacthub's updatedAt only
// grows; a customer without one is never judged older), or found the
// customer deleted, and a read from before the deletion, written, would
// bring an erased customer's subscriber back (added again, subscribed
// again). A read made again after that is taken: a customer Contacthub
// returns then is there, unless the read is older than the last synced.
func staleRead(p plan, entry ledger.Entry) bool {
	readBefore := !p.customer.UpdatedAt.IsZero() && entry.CustomerUpdatedAt.After(p.customer.UpdatedAt.Time)
	switch {
	case !entry.Stored():
		return false
	case entry.Deleted:
		return !p.reread || readBefore
	default:
		return readBefore
	}
}

// unmatchable is the plan of a customer whose subscriber can be neither
// found nor added, because a match field has no value: a failed record,
// or a skip when the source says so.
func unmatchable(policy source.UnmatchablePolicy, p plan) plan {
	reason := fmt.Sprintf("match field %s has no value: the subscriber can be neither found nor added", strings.Join(p.missing, ", "))
	out := failPlan(ledger.Coercion, reason, "match value missing")
	if policy == source.SkipUnmatchable {
		out = plan{step: stepSkip, reason: reason}
	}
	out.customer, out.attrs, out.entry, out.missing, out.unmatchable = p.customer, p.attrs, p.entry, p.missing, true
	return out
}

// planDeleted decides what a customer Contacthub no longer has does.
func planDeleted(props source.Properties, p plan) plan {
	entry := p.entry
	p.policy = props.DeletePolicy()
	if !entry.Stored() {
		p.step, p.reason, p.tombstone = stepSkip, "customer not found and never synced", true
		return p
	}
	remove := p.policy == source.RemoveSubscriber && entry.SubscriberID != 0
	if entry.Deleted && !remove && !entry.Failed {
		p.step, p.reason = stepUnchanged, "customer already handled as deleted"
		return p
	}
	p.step = stepDeleted
	switch {
	case remove:
		p.reason = "customer deleted; subscriber removed"
	case p.policy == source.UnsubscribeSubscriber && entry.SubscriberID != 0 && len(props.Subscriptions) > 0:
		p.reason = "customer deleted; subscriber unsubscribed"
	default:
		p.policy, p.reason = source.KeepSubscriber, "customer deleted; subscriber kept"
	}
	return p
}
