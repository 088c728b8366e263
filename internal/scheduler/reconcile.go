package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// Send is the part of the Contactsend client the reconciliation uses.
type Send interface {
	Subscriptions(ctx context.Context, cred contactsend.Credentials, userDBID int64) ([]contactsend.Subscription, error)
	FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, userDBID int64, q contactsend.Query) (contactsend.SubscriberPage, error)
}

// Ledger finds the synced state of subscribers (*ledger.Store): a range of
// subscriber ids at once from its subscriber range index, or one subscriber
// at a time for entries the index does not hold yet.
type Ledger interface {
	LinkedRange(ctx context.Context, sourceID string, first, last int64) (map[int64]ledger.Linked, error)
	IndexSubscribers(ctx context.Context, sourceID, after string, limit int) (ledger.IndexProgress, error)
	BySubscriber(ctx context.Context, sourceID string, subscriberID int64) (ledger.Entry, error)
	UnlinkedOptOuts(ctx context.Context, sourceID string, first, last int64) (map[int64]ledger.UnlinkedOptOut, error)
	RememberUnlinkedOptOut(ctx context.Context, sourceID string, subscriberID int64, optOut string, tries int64, at time.Time) error
}

// Reconciliation defaults.
const (
	// DefaultMaxReconcilePages bounds the userdb pages compared per source
	// per tick; see docs/subscriptions.md for what a pass costs.
	DefaultMaxReconcilePages = 50
	// ReconcilePageSize is the subscribers per page.
	ReconcilePageSize = 200
	// reconcileLookups bounds the concurrent one-by-one ledger lookups of
	// a page, while the source's ledger is not fully indexed.
	reconcileLookups = 16
	// unlinkedRecheck is how long after handing an unlinked subscriber's
	// opt-out over the walk hands it over the second and last time: the
	// first search may have come before Contacthub's index held a new
	// customer (up to a minute), or the job may have failed.
	unlinkedRecheck = 10 * time.Minute
	// indexPageSize and maxIndexPages bound the ledger entries a tick
	// reads to add older entries to the subscriber range index: 20,000 a
	// tick, so a ledger of 2 M is indexed within 100 ticks, once.
	indexPageSize = 1000
	maxIndexPages = 20
)

// reconcile advances the walk of the source's userdb by up to the page
// budget, enqueueing a job for every linked subscriber whose registration
// columns differ from the ledger's synced state, and one for every new
// opt-out of a subscriber no customer is linked to (a duplicate, say),
// whose customer the worker looks for. Other unlinked subscribers are left
// to the customer sync, whose first-sync rules read the subscriber.
func (r *run) reconcile(ctx context.Context, src source.Source, rep *SourceReport) error {
	cfg := r.s.cfg
	cps := cfg.Checkpoints
	if len(src.Properties.Subscriptions) == 0 {
		return nil
	}
	hub, err := r.hub(ctx, src.WorkspaceID)
	if err != nil {
		return err
	}
	readCtx, cancel := r.reading(ctx)
	n, err := hub.Node(readCtx, src.Node())
	cancel()
	if err != nil {
		return fmt.Errorf("read node %s: %w", src.Node(), refused(err))
	}
	if n.Kind == contacthub.AggregateNode {
		// Subscriptions of aggregate nodes are never synced.
		return nil
	}
	cred := contactsend.Credentials{APIKey: src.Properties.APIKey, UserKey: src.Properties.UserKey}
	db := src.Properties.UserDBID
	readCtx, cancel = r.reading(ctx)
	systems, err := cfg.Send.Subscriptions(readCtx, cred, db)
	cancel()
	if err != nil {
		return fmt.Errorf("read the subscription systems of userdb %d: %w", db, err)
	}
	fields := make(map[string]column) // by Contacthub subscription id
	var selected []string
	for _, row := range src.Properties.Subscriptions {
		for _, s := range systems {
			if s.ID == row.SendSubscriptionID && s.RegistrationField != "" {
				fields[row.HubSubscriptionID] = column{name: s.RegistrationField, system: s.ID}
				selected = append(selected, s.RegistrationField)
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	rep.Reconcile = Worked
	cp, _, err := cps.Reconcile(ctx, src.ID)
	if err != nil {
		return err
	}
	if !cp.LedgerIndexed {
		if cp, err = r.indexLedger(ctx, src, cp); errors.Is(err, checkpoint.ErrConflict) {
			return err
		} else if err != nil {
			// The walk does without the index (one lookup per subscriber
			// it does not find); the next tick carries on indexing.
			r.s.log.WarnContext(ctx, "ledger not indexed by subscriber", "source", src.ID, "error", err)
		}
	}
	for pages := 0; pages < cfg.MaxReconcilePages && r.inTime(ctx); pages++ {
		if cp.NextPage < 1 {
			cp.NextPage = 1
		}
		now := cfg.Now()
		if cp.NextPage == 1 {
			cp.PassStartedAt, cp.Scanned, cp.Enqueued = now, 0, 0
		}
		readCtx, cancel := r.reading(ctx)
		page, err := cfg.Send.FindSubscribersBy(readCtx, cred, db, contactsend.Query{
			Select: selected, Sort: []contactsend.Sort{{Field: "identifier", Order: contactsend.Ascending}},
			Page: cp.NextPage, PageSize: ReconcilePageSize,
		})
		cancel()
		if err != nil {
			return r.reconcileFailed(ctx, src, cps, cp, err)
		}
		batch, optOuts, err := r.differences(ctx, src, page.Subscribers, fields, cp.LedgerIndexed)
		if err != nil {
			return r.reconcileFailed(ctx, src, cps, cp, err)
		}
		if len(batch) > 0 {
			if err := cfg.Jobs.Send(ctx, batch...); err != nil {
				return r.reconcileFailed(ctx, src, cps, cp, fmt.Errorf("enqueue %d jobs: %w", len(batch), err))
			}
		}
		for id, o := range optOuts {
			// Only after its job is queued; one not remembered is handed
			// over again next pass, which changes nothing.
			if err := cfg.Ledger.RememberUnlinkedOptOut(ctx, src.ID, id, o.OptOut, o.Tries, now); err != nil {
				r.s.log.WarnContext(ctx, "unlinked opt-out not remembered", "source", src.ID, "subscriber", id, "error", err)
			}
		}
		next := cp
		next.Scanned += int64(len(page.Subscribers))
		next.Enqueued += int64(len(batch))
		next.UpdatedAt, next.UpdatedBy, next.LastError, next.LastErrorAt = now, r.owner, "", time.Time{}
		done := len(page.Subscribers) < ReconcilePageSize || page.PageNumber >= page.MaxPageNumber
		if done {
			next.NextPage, next.Passes, next.LastPassFinishedAt = 1, cp.Passes+1, now
			next.LastPassSeconds = int64(now.Sub(cp.PassStartedAt).Seconds())
		} else {
			next.NextPage++
		}
		if cp, err = cps.SaveReconcile(ctx, src.ID, next); err != nil {
			return err
		}
		rep.ReconcileEnqueued += len(batch)
		if done {
			break
		}
	}
	return nil
}

// indexLedger adds the source's ledger entries written before the
// subscriber range index existed to it, a budget of pages per tick, storing
// how far it got; the checkpoint it returns says LedgerIndexed once every
// entry was read. Entries written since carry the index keys already.
func (r *run) indexLedger(ctx context.Context, src source.Source, cp checkpoint.Reconcile) (checkpoint.Reconcile, error) {
	for pages := 0; pages < maxIndexPages && r.inTime(ctx); pages++ {
		progress, err := r.s.cfg.Ledger.IndexSubscribers(ctx, src.ID, cp.IndexCursor, indexPageSize)
		if errors.Is(err, ledger.ErrBadCursor) {
			// Not a cursor of this ledger: start over, which is harmless.
			progress, err = r.s.cfg.Ledger.IndexSubscribers(ctx, src.ID, "", indexPageSize)
		}
		if err != nil {
			return cp, fmt.Errorf("index the ledger by subscriber: %w", err)
		}
		next := cp
		next.IndexCursor, next.LedgerIndexed = progress.Next, progress.Done()
		next.UpdatedAt, next.UpdatedBy = r.s.cfg.Now(), r.owner
		if cp, err = r.s.cfg.Checkpoints.SaveReconcile(ctx, src.ID, next); err != nil {
			return cp, err
		}
		if cp.LedgerIndexed {
			r.s.log.InfoContext(ctx, "ledger indexed by subscriber", "source", src.ID)
			break
		}
	}
	return cp, nil
}

// synced is a ledger entry's synced subscription states, as the subscriber
// range index (ledger.Linked) or the entry itself (ledger.Entry) has them.
type synced interface {
	Subscription(hubSubscriptionID string) subscriptions.Synced
}

// differences compares a page of subscribers with the ledger: one range
// read of the ledger's subscriber index for the whole page. Until every
// entry of the source is in that index (indexed), a subscriber the range
// did not find may still be linked by an older entry, so it is looked up
// by itself. Unlinked subscribers that opted out are compared with the
// opt-outs handed over before (one more range read, when the page has
// any); optOuts are those to remember once their jobs are queued.
func (r *run) differences(ctx context.Context, src source.Source, subs []contactsend.Subscriber, fields map[string]column, indexed bool) (batch []jobs.Job, optOuts map[int64]ledger.UnlinkedOptOut, err error) {
	if len(subs) == 0 {
		return nil, nil, nil
	}
	first, last := subs[0].ID, subs[0].ID
	for _, sub := range subs {
		first, last = min(first, sub.ID), max(last, sub.ID)
	}
	linked, err := r.s.cfg.Ledger.LinkedRange(ctx, src.ID, first, last)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger range: %w", err)
	}
	entries := make([]synced, len(subs))
	errs := make([]error, len(subs))
	limit := make(chan struct{}, reconcileLookups)
	var wg sync.WaitGroup
	for i, sub := range subs {
		if l, ok := linked[sub.ID]; ok {
			entries[i] = l
			continue
		}
		if indexed {
			continue // no customer is linked to it
		}
		limit <- struct{}{}
		wg.Go(func() {
			defer func() { <-limit }()
			entry, err := r.s.cfg.Ledger.BySubscriber(ctx, src.ID, sub.ID)
			if errors.Is(err, ledger.ErrNotFound) {
				return
			}
			if err != nil {
				errs[i] = err
				return
			}
			entries[i] = entry
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("ledger lookup: %w", err)
	}
	now := r.s.cfg.Now().UTC()
	unlinked := make(map[int64]string)
	for i, sub := range subs {
		switch {
		case entries[i] != nil:
			if differs(entries[i], sub, fields) {
				batch = append(batch, jobs.Job{SourceID: src.ID, SubscriberID: sub.ID, Reason: jobs.FromReconcile, EnqueuedAt: now})
			}
		default:
			unlinked[sub.ID] = optOutOf(sub, fields)
		}
	}
	if len(unlinked) == 0 {
		return batch, nil, nil
	}
	remembered, err := r.s.cfg.Ledger.UnlinkedOptOuts(ctx, src.ID, first, last)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger unlinked opt-outs: %w", err)
	}
	optOuts = make(map[int64]ledger.UnlinkedOptOut)
	for id, optOut := range unlinked {
		before, known := remembered[id]
		var tries int64
		switch {
		case optOut != "" && optOut != before.OptOut:
			tries = 1
		case optOut != "" && before.Tries == 1 && now.Sub(before.At) >= unlinkedRecheck:
			tries = 2
		case optOut == "" && known && before.OptOut != "":
			// Subscribed again: a later opt-out is news again.
			optOuts[id] = ledger.UnlinkedOptOut{}
			continue
		default:
			continue
		}
		batch = append(batch, jobs.Job{SourceID: src.ID, SubscriberID: id, Reason: jobs.FromReconcile, EnqueuedAt: now})
		optOuts[id] = ledger.UnlinkedOptOut{OptOut: optOut, Tries: tries}
	}
	return batch, optOuts, nil
}

// optOutOf names the subscription rows (Contacthub subscription id and
// Contactsend system) in which a subscriber is unsubscribed, "" for none.
func optOutOf(sub contactsend.Subscriber, fields map[string]column) string {
	var rows []string
	for hubID, field := range fields {
		if status, _ := sub.SubscriptionStatus(field.name); status == contactsend.Unsubscribed {
			rows = append(rows, hubID+"@"+strconv.FormatInt(field.system, 10))
		}
	}
	slices.Sort(rows)
	return strings.Join(rows, ",")
}

// column is the registration column of a subscription row, and the
// Contactsend subscription system it belongs to.
type column struct {
	name   string
	system int64
}

// differs reports whether a linked subscriber's registration columns
// differ from the ledger's synced states (a state synced with another
// subscription system or subscriber is none).
func differs(entry synced, sub contactsend.Subscriber, fields map[string]column) bool {
	for hubID, field := range fields {
		last := entry.Subscription(hubID).For(field.system, sub.ID)
		status, _ := sub.SubscriptionStatus(field.name)
		if !last.Known || (status == contactsend.Subscribed) != last.Subscribed {
			return true
		}
	}
	return false
}

// reconcileFailed records err in the checkpoint, keeping the page, and
// returns it.
func (r *run) reconcileFailed(ctx context.Context, src source.Source, cps Checkpoints, cp checkpoint.Reconcile, err error) error {
	now := r.s.cfg.Now()
	cp.LastError, cp.LastErrorAt, cp.UpdatedAt, cp.UpdatedBy = describe(err), now, now, r.owner
	if _, serr := cps.SaveReconcile(ctx, src.ID, cp); serr != nil && !errors.Is(serr, checkpoint.ErrConflict) {
		r.s.log.WarnContext(ctx, "reconcile error not recorded", "source", src.ID, "error", serr)
	}
	return err
}
