package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// Action is what a sync of one customer would do.
type Action string

// The actions a preview reports.
const (
	ActionAdd    Action = "add"    // a new subscriber would be added
	ActionUpdate Action = "update" // the subscriber would be updated (see Changed)
	ActionNone   Action = "none"   // nothing to write
	ActionSkip   Action = "skip"   // the customer is outside the source's node
	ActionKeep   Action = "keep"   // the customer is deleted; its subscriber is kept
	ActionRemove Action = "remove" // the customer is deleted; its subscriber would be removed
	// ActionUnsubscribe: the customer is deleted; its subscriber would be
	// kept and unsubscribed from every mapped subscription.
	ActionUnsubscribe Action = "unsubscribe"
	ActionFail        Action = "fail" // the mapping has problems; a failed record would be written
)

// Preview is a dry run of one customer's sync.
type Preview struct {
	CustomerID string
	Attributes mapping.Attributes
	Problems   mapping.Problems
	Action     Action
	// SubscriberID is the subscriber the sync would write, when known.
	SubscriberID int64
	// Changed lists the fields an update would change (every mapped field
	// for an add).
	Changed []string
	// Note explains the action in a sentence.
	Note string
	// Subscriptions says what the subscription sync would do for each
	// subscription row, when the subscriber is known.
	Subscriptions []SubscriptionPreview
}

// SubscriptionPreview is the subscription sync's decision for one row.
type SubscriptionPreview struct {
	HubSubscriptionID  string
	SendSubscriptionID int64
	WebformCode        string
	// Action is none, record (both sides agree; only the ledger learns
	// it), write-send or write-hub.
	Action     subscriptions.Action
	Subscribed bool
	Rule       string
}

// Preview maps one customer of src and says what a sync would do, reading
// Contacthub, Contactsend and the ledger but writing nothing. src need not
// be enabled, so an admin can check a mapping before enabling it. It runs
// the worker's plan; where the plan says to write, it reads the subscriber
// to say which one and which fields, which the worker learns by writing.
func (w *Worker) Preview(ctx context.Context, src source.Source, customerID string) (Preview, error) {
	p := Preview{CustomerID: customerID}
	e, err := w.prepare(ctx, src)
	if err != nil {
		return p, err
	}
	pl := w.plan(ctx, e, customerID)
	p.Attributes, p.Problems, p.SubscriberID = pl.attrs, pl.problems, pl.entry.SubscriberID
	switch pl.step {
	case stepRetry:
		return p, fmt.Errorf("%s: %w", pl.reason, pl.err)
	case stepUnchanged:
		if pl.customer.ID == "" {
			p.Action, p.Note = ActionNone, "the customer was deleted in Contacthub and is already handled"
			return p, nil
		}
		p.Action, p.Note = ActionNone, "the mapped attributes are unchanged since the last sync"
		return w.previewSubscriptions(ctx, e, pl.customer, pl.entry, nil, p)
	case stepWrite:
		return w.previewWrite(ctx, e, pl, p)
	case stepDeleted:
		if pl.policy == source.UnsubscribeSubscriber {
			decisions, err := w.planUnsubscribe(ctx, e, pl.entry)
			if err != nil {
				return p, err
			}
			p.Subscriptions = subscriptionPreviews(decisions)
		}
	}
	return describe(pl, src, p), nil
}

// describe previews the steps that need no further reads: skip, fail and
// the delete policies.
func describe(pl plan, src source.Source, p Preview) Preview {
	switch pl.step {
	case stepSkip:
		p.SubscriberID = 0
		p.Action, p.Note = ActionSkip, "the customer is skipped: "+pl.reason
		if pl.customer.ID != "" && pl.customer.NodeID != src.Node() {
			p.Note = fmt.Sprintf("the customer belongs to node %s, not to the source's node %s", pl.customer.NodeID, src.Node())
		}
	case stepFail:
		p.Action, p.Note = ActionFail, failNote(pl)
	case stepDeleted:
		p.Action, p.Note = ActionKeep, "the customer was deleted in Contacthub; the source keeps its subscriber"
		switch pl.policy {
		case source.RemoveSubscriber:
			p.Action, p.Note = ActionRemove, "the customer was deleted in Contacthub; the source removes its subscriber"
		case source.UnsubscribeSubscriber:
			p.Action, p.Note = ActionUnsubscribe, "the customer was deleted in Contacthub; the source keeps its subscriber and unsubscribes it from every mapped subscription"
		}
	}
	return p
}

func failNote(pl plan) string {
	if len(pl.problems) > 0 {
		return "the mapping has problems: " + pl.problems.String()
	}
	return "a failed record would be written: " + pl.failure.detail
}

// previewWrite describes a write: which subscriber (by the ledger's link,
// else by the match fields, as the worker looks) and which fields change.
func (w *Worker) previewWrite(ctx context.Context, e *env, pl plan, p Preview) (Preview, error) {
	db := e.src.Properties.UserDBID
	entry := pl.entry
	var sub contactsend.Subscriber
	found, read := false, false
	if entry.SubscriberID != 0 {
		s, err := e.send.GetSubscriber(ctx, e.cred, db, entry.SubscriberID)
		switch {
		case err == nil:
			sub, found, read = s, true, true
		case !errors.Is(err, contactsend.ErrUnknownSubscriber):
			return p, err
		}
	}
	if !found {
		if len(pl.missing) > 0 {
			// The linked subscriber is gone and nothing can find another.
			pl.entry.SubscriberID = 0
			return describe(unmatchable(e.src.Properties.UnmatchablePolicy(), pl), e.src, p), nil
		}
		page, err := e.send.FindSubscribersBy(ctx, e.cred, db, pl.query)
		if err != nil {
			return p, err
		}
		if len(page.Subscribers) > 0 {
			sub, found = lowest(page.Subscribers), true
		}
	}
	if !found {
		p.SubscriberID = 0
		p.Action, p.Note = ActionAdd, "no subscriber holds the match values: one would be added"
		for _, a := range p.Attributes {
			p.Changed = append(p.Changed, a.Field)
		}
		return p, nil
	}
	p.SubscriberID = sub.ID
	p.Changed = sub.Differences(p.Attributes)
	if len(p.Changed) == 0 {
		p.Action, p.Note = ActionNone, "the subscriber already holds the mapped values"
	} else {
		p.Action, p.Note = ActionUpdate, "the subscriber would be updated"
	}
	if entry.SubscriberID != sub.ID {
		// Not linked yet: the ledger's subscription states are not this
		// subscriber's, so the first-sync rules apply.
		entry = ledger.Entry{SourceID: entry.SourceID, CustomerID: entry.CustomerID}
	}
	entry.SubscriberID = sub.ID
	if !read {
		// Found by a search: previewSubscriptions reads it whole.
		return w.previewSubscriptions(ctx, e, pl.customer, entry, nil, p)
	}
	return w.previewSubscriptions(ctx, e, pl.customer, entry, &sub, p)
}

// previewSubscriptions adds the subscription decisions of a customer whose
// subscriber is known, reading Contactsend but writing nothing. sub is the
// subscriber when already read; nil reads it here.
func (w *Worker) previewSubscriptions(ctx context.Context, e *env, cust contacthub.Customer, entry ledger.Entry, sub *contactsend.Subscriber, p Preview) (Preview, error) {
	if entry.SubscriberID == 0 {
		return p, nil
	}
	rows, _, err := w.subscriptionScope(ctx, e, cust)
	if err != nil || len(rows) == 0 {
		return p, err
	}
	decisions, err := w.decideRows(ctx, e, cust, entry, rows, sendJob{read: true}, sub)
	if err != nil {
		return p, err
	}
	p.Subscriptions = subscriptionPreviews(decisions)
	return p, nil
}

func subscriptionPreviews(decisions []rowDecision) []SubscriptionPreview {
	var out []SubscriptionPreview
	for _, rd := range decisions {
		out = append(out, SubscriptionPreview{
			HubSubscriptionID: rd.row.HubSubscriptionID, SendSubscriptionID: rd.row.SendSubscriptionID, WebformCode: rd.row.WebformCode,
			Action: rd.d.Action, Subscribed: rd.d.Subscribed, Rule: rd.d.Rule,
		})
	}
	return out
}
