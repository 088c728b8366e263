package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/source"
)

// Send is the part of the Contactsend client the reconciliation uses.
type Send interface {
	Subscriptions(ctx context.Context, cred contactsend.Credentials, userDBID int64) ([]contactsend.Subscription, error)
	FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, userDBID int64, q contactsend.Query) (contactsend.SubscriberPage, error)
}

// Ledger finds the synced state of a subscriber.
type Ledger interface {
	BySubscriber(ctx context.Context, sourceID string, subscriberID int64) (ledger.Entry, error)
}

// Reconciliation defaults.
const (
	// DefaultMaxReconcilePages bounds the userdb pages compared per source
	// per tick; see docs/subscriptions.md for what a pass costs.
	DefaultMaxReconcilePages = 50
	// ReconcilePageSize is the subscribers per page.
	ReconcilePageSize = 200
	// reconcileLookups bounds the concurrent ledger lookups of a page.
	reconcileLookups = 16
)

// reconcile advances the walk of the source's userdb by up to the page
// budget, enqueueing a job for every linked subscriber whose registration
// columns differ from the ledger's synced state. Subscribers no customer
// is linked to are left to the customer sync, whose first-sync rules read
// the subscriber.
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
	fields := make(map[string]string) // Contacthub subscription id → registration column
	var selected []string
	for _, row := range src.Properties.Subscriptions {
		for _, s := range systems {
			if s.ID == row.SendSubscriptionID && s.RegistrationField != "" {
				fields[row.HubSubscriptionID] = s.RegistrationField
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
		batch, err := r.differences(ctx, src, page.Subscribers, fields)
		if err != nil {
			return r.reconcileFailed(ctx, src, cps, cp, err)
		}
		if len(batch) > 0 {
			if err := cfg.Jobs.Send(ctx, batch...); err != nil {
				return r.reconcileFailed(ctx, src, cps, cp, fmt.Errorf("enqueue %d jobs: %w", len(batch), err))
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

// differences compares a page of subscribers with the ledger.
func (r *run) differences(ctx context.Context, src source.Source, subs []contactsend.Subscriber, fields map[string]string) ([]jobs.Job, error) {
	differs := make([]bool, len(subs))
	errs := make([]error, len(subs))
	limit := make(chan struct{}, reconcileLookups)
	var wg sync.WaitGroup
	for i, sub := range subs {
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
			for hubID, field := range fields {
				last := entry.Subscription(hubID)
				status, _ := sub.SubscriptionStatus(field)
				if !last.Known || (status == contactsend.Subscribed) != last.Subscribed {
					differs[i] = true
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ledger lookup: %w", err)
	}
	now := r.s.cfg.Now().UTC()
	var batch []jobs.Job
	for i, sub := range subs {
		if differs[i] {
			batch = append(batch, jobs.Job{SourceID: src.ID, SubscriberID: sub.ID, Reason: jobs.FromReconcile, EnqueuedAt: now})
		}
	}
	return batch, nil
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
