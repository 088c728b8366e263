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
	ActionFail   Action = "fail"   // the mapping has problems; a failed record would be written
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
// be enabled, so an admin can check a mapping before enabling it.
func (w *Worker) Preview(ctx context.Context, src source.Source, customerID string) (Preview, error) {
	p := Preview{CustomerID: customerID}
	e, err := w.prepare(ctx, src)
	if err != nil {
		return p, err
	}
	cust, err := e.hub.Customer(ctx, customerID)
	if errors.Is(err, contacthub.ErrNotFound) {
		return w.previewDeleted(ctx, e, p)
	}
	if err != nil {
		return p, fmt.Errorf("read customer %s: %w", customerID, err)
	}
	in, err := e.inNode(ctx, cust)
	if err != nil {
		return p, err
	}
	if !in {
		p.Action, p.Note = ActionSkip, fmt.Sprintf("the customer belongs to node %s, not to the source's node %s", cust.NodeID, src.Node())
		return p, nil
	}
	lookup, err := customerLookup(cust)
	if err != nil {
		return p, err
	}
	p.Attributes, p.Problems = e.mapper.Map(lookup)
	if len(p.Problems) > 0 {
		p.Action, p.Note = ActionFail, "the mapping has problems: "+p.Problems.String()
		return p, nil
	}
	entry, err := w.ledger.Get(ctx, src.ID, customerID)
	if err != nil {
		return p, err
	}
	if entry.Stored() && entry.SubscriberID != 0 && !entry.Deleted && entry.Hash == p.Attributes.Hash() {
		p.Action, p.SubscriberID, p.Note = ActionNone, entry.SubscriberID, "the mapped attributes are unchanged since the last sync"
		return w.previewSubscriptions(ctx, e, cust, entry, nil, p)
	}
	db := src.Properties.UserDBID
	var sub contactsend.Subscriber
	found, read := false, false
	if entry.SubscriberID != 0 {
		sub, err = e.send.GetSubscriber(ctx, e.cred, db, entry.SubscriberID)
		switch {
		case err == nil:
			found, read = true, true
		case !errors.Is(err, contactsend.ErrUnknownSubscriber):
			return p, err
		}
	}
	if !found {
		q, missing, err := matchQuery(p.Attributes, e.match)
		if err != nil {
			return p, err
		}
		if len(missing) > 0 {
			p.Action, p.Note = ActionFail, fmt.Sprintf("match field %v has no value", missing)
			return p, nil
		}
		page, err := e.send.FindSubscribersBy(ctx, e.cred, db, q)
		if err != nil {
			return p, err
		}
		if len(page.Subscribers) > 0 {
			sub, found = lowest(page.Subscribers), true
		}
	}
	if !found {
		p.Action, p.Note = ActionAdd, "no subscriber holds the match values: one would be added"
		for _, a := range p.Attributes {
			p.Changed = append(p.Changed, a.Field)
		}
		return p, nil
	}
	p.SubscriberID = sub.ID
	p.Changed = differences(p.Attributes, sub)
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
		return w.previewSubscriptions(ctx, e, cust, entry, nil, p)
	}
	return w.previewSubscriptions(ctx, e, cust, entry, &sub, p)
}

// previewSubscriptions adds the subscription decisions of a customer whose
// subscriber is known, reading Contactsend but writing nothing. sub is the
// subscriber when already read; nil reads it here.
func (w *Worker) previewSubscriptions(ctx context.Context, e *env, cust contacthub.Customer, entry ledger.Entry, sub *contactsend.Subscriber, p Preview) (Preview, error) {
	if len(e.src.Properties.Subscriptions) == 0 || cust.NodeID != e.src.Node() || entry.SubscriberID == 0 {
		return p, nil
	}
	rows, err := w.subscriptionRows(ctx, e)
	if err != nil {
		return p, err
	}
	if len(rows) == 0 {
		return p, nil
	}
	if sub == nil {
		s, err := e.send.GetSubscriber(ctx, e.cred, e.src.Properties.UserDBID, entry.SubscriberID)
		if err != nil {
			return p, fmt.Errorf("read subscriber %d: %w", entry.SubscriberID, err)
		}
		sub = &s
	}
	now := w.now()
	for _, row := range rows {
		d := subscriptions.Decide(entry.Subscription(row.HubSubscriptionID), hubView(cust, row.HubSubscriptionID), sendView(*sub, row.registrationField), now)
		p.Subscriptions = append(p.Subscriptions, SubscriptionPreview{
			HubSubscriptionID: row.HubSubscriptionID, SendSubscriptionID: row.SendSubscriptionID, WebformCode: row.WebformCode,
			Action: d.Action, Subscribed: d.Subscribed, Rule: d.Rule,
		})
	}
	return p, nil
}

func (w *Worker) previewDeleted(ctx context.Context, e *env, p Preview) (Preview, error) {
	entry, err := w.ledger.Get(ctx, e.src.ID, p.CustomerID)
	if err != nil {
		return p, err
	}
	p.SubscriberID = entry.SubscriberID
	switch {
	case entry.SubscriberID == 0:
		p.Action, p.Note = ActionNone, "the customer does not exist in Contacthub and has no subscriber"
	case e.src.Properties.DeletePolicy() == source.RemoveSubscriber:
		p.Action, p.Note = ActionRemove, "the customer was deleted in Contacthub; the source removes its subscriber"
	default:
		p.Action, p.Note = ActionKeep, "the customer was deleted in Contacthub; the source keeps its subscriber"
	}
	return p, nil
}
