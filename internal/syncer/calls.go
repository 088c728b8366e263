package syncer

import (
	"context"
	"sync/atomic"

	"github.com/hubsend/hubsend/internal/contacthub"
)

// callCount counts one job's calls to each service, for the run history.
type callCount struct {
	send atomic.Int64
	hub  atomic.Int64
}

type callsKey struct{}

func withCalls(ctx context.Context, c *callCount) context.Context {
	return context.WithValue(ctx, callsKey{}, c)
}

func callsOf(ctx context.Context) *callCount {
	c, _ := ctx.Value(callsKey{}).(*callCount)
	return c
}

func countSend(ctx context.Context) {
	if c := callsOf(ctx); c != nil {
		c.send.Add(1)
	}
}

func countHub(ctx context.Context) {
	if c := callsOf(ctx); c != nil {
		c.hub.Add(1)
	}
}

// countedHub counts the Contacthub calls of the job whose context each
// call carries. It has the subscription methods whether or not the client
// does, answering errNoSubscriptionClient for a client without them.
type countedHub struct{ hub Hub }

func (h countedHub) Customer(ctx context.Context, id string) (contacthub.Customer, error) {
	countHub(ctx)
	return h.hub.Customer(ctx, id)
}

func (h countedHub) Node(ctx context.Context, id string) (contacthub.Node, error) {
	countHub(ctx)
	return h.hub.Node(ctx, id)
}

func (h countedHub) CreateSubscription(ctx context.Context, customerID string, s contacthub.Subscription) (contacthub.Subscription, error) {
	sh, ok := h.hub.(SubscriptionHub)
	if !ok {
		return contacthub.Subscription{}, errNoSubscriptionClient
	}
	countHub(ctx)
	return sh.CreateSubscription(ctx, customerID, s)
}

func (h countedHub) PutSubscription(ctx context.Context, customerID string, s contacthub.Subscription) (contacthub.Subscription, error) {
	sh, ok := h.hub.(SubscriptionHub)
	if !ok {
		return contacthub.Subscription{}, errNoSubscriptionClient
	}
	countHub(ctx)
	return sh.PutSubscription(ctx, customerID, s)
}

func (h countedHub) Customers(ctx context.Context, q contacthub.ListQuery) (contacthub.CustomerPage, error) {
	sh, ok := h.hub.(SubscriptionHub)
	if !ok {
		return contacthub.CustomerPage{}, errNoSubscriptionClient
	}
	countHub(ctx)
	return sh.Customers(ctx, q)
}
