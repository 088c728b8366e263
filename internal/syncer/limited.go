package syncer

import (
	"context"

	"github.com/hubsend/hubsend/internal/contactsend"
)

// limitedSend holds a slot of its source's semaphore for every Contactsend
// call, retries included, so a source never has more calls in flight from
// this instance than its cap.
type limitedSend struct {
	send Send
	l    *limit
}

func (s limitedSend) acquire(ctx context.Context) (release func(), err error) {
	countSend(ctx)
	select {
	case s.l.slots <- struct{}{}:
		return func() { <-s.l.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s limitedSend) SubscriberSource(ctx context.Context, cred contactsend.Credentials, userDBID int64) (contactsend.SubscriberSource, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return contactsend.SubscriberSource{}, err
	}
	defer release()
	return s.send.SubscriberSource(ctx, cred, userDBID)
}

func (s limitedSend) GetSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID, id int64) (contactsend.Subscriber, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return contactsend.Subscriber{}, err
	}
	defer release()
	return s.send.GetSubscriber(ctx, cred, userDBID, id)
}

func (s limitedSend) FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, userDBID int64, q contactsend.Query) (contactsend.SubscriberPage, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return contactsend.SubscriberPage{}, err
	}
	defer release()
	return s.send.FindSubscribersBy(ctx, cred, userDBID, q)
}

func (s limitedSend) AddSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, sub contactsend.Subscriber) (contactsend.Subscriber, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return contactsend.Subscriber{}, err
	}
	defer release()
	return s.send.AddSubscriber(ctx, cred, userDBID, sub)
}

func (s limitedSend) UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, sub contactsend.Subscriber) (contactsend.Subscriber, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return contactsend.Subscriber{}, err
	}
	defer release()
	return s.send.UpdateSubscriber(ctx, cred, userDBID, sub)
}

func (s limitedSend) RemoveSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID, id int64) error {
	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.send.RemoveSubscriber(ctx, cred, userDBID, id)
}

func (s limitedSend) Subscriptions(ctx context.Context, cred contactsend.Credentials, userDBID int64) ([]contactsend.Subscription, error) {
	inner, ok := s.send.(SubscriptionSend)
	if !ok {
		return nil, errNoSubscriptionClient
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return inner.Subscriptions(ctx, cred, userDBID)
}

func (s limitedSend) ModifySubscriptionStatus(ctx context.Context, cred contactsend.Credentials, webformCode string, subscriberID int64, subscribed bool) error {
	inner, ok := s.send.(SubscriptionSend)
	if !ok {
		return errNoSubscriptionClient
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return inner.ModifySubscriptionStatus(ctx, cred, webformCode, subscriberID, subscribed)
}
