package configapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/publicnet"
	"github.com/hubsend/hubsend/internal/source"
)

// upstreamError is a lookup that failed for a reason the caller cannot fix
// in the request: the answer is an HTTP error, not a validation problem.
type upstreamError struct {
	status  int
	message string
}

func (e *upstreamError) Error() string { return e.message }

func (e *upstreamError) response() events.APIGatewayV2HTTPResponse {
	return problem(e.status, e.message)
}

func respond(err error) events.APIGatewayV2HTTPResponse {
	var up *upstreamError
	if errors.As(err, &up) {
		return up.response()
	}
	return problem(http.StatusInternalServerError, "internal error")
}

// hubFor opens the workspace's Contacthub.
func (a *API) hubFor(ctx context.Context, workspace string) (Hub, error) {
	conn, err := a.cfg.Store.Connection(ctx, workspace)
	if errors.Is(err, configstore.ErrNotFound) {
		return nil, &upstreamError{http.StatusConflict, "this workspace is not connected to Contacthub yet; set its connection with PUT /v1/workspace"}
	}
	if err != nil {
		return nil, fmt.Errorf("read workspace connection: %w", err)
	}
	hub, err := a.cfg.Hub(conn)
	if err != nil {
		return nil, &upstreamError{http.StatusConflict, "the workspace's Contacthub connection is unusable: " + err.Error()}
	}
	return hub, nil
}

// hubFailure turns a Contacthub error into the answer the caller gets.
func hubFailure(what string, err error) error {
	switch {
	case errors.Is(err, contacthub.ErrUnauthorized), errors.Is(err, contacthub.ErrForbidden):
		return &upstreamError{http.StatusBadGateway, "Contacthub refused the workspace's token while " + what + "; update it with PUT /v1/workspace"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &upstreamError{http.StatusGatewayTimeout, "Contacthub did not answer in time while " + what}
	case errors.Is(err, publicnet.ErrNotPublic):
		return &upstreamError{http.StatusBadGateway, "the workspace's Contacthub address does not lead to a public internet address, and hubsend calls public hosts only; correct it with PUT /v1/workspace"}
	}
	return &upstreamError{http.StatusBadGateway, "Contacthub failed while " + what + ": " + err.Error()}
}

// sendFailure turns a Contactsend error into the answer the caller gets.
func sendFailure(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &upstreamError{http.StatusGatewayTimeout, "Contactsend did not answer in time while " + what}
	}
	return &upstreamError{http.StatusBadGateway, "Contactsend failed while " + what + ": " + err.Error()}
}

func credentials(src source.Source) contactsend.Credentials {
	return contactsend.Credentials{APIKey: src.Properties.APIKey, UserKey: src.Properties.UserKey}
}

// userDB is what Contactsend says about a source's userdb.
type userDB struct {
	source        contactsend.SubscriberSource
	subscriptions []contactsend.Subscription
}

// lookupUserDB reads the userdb's fields and subscription systems. Refused
// credentials and unknown userdbs are problems of the request; anything else
// is an upstreamError.
func (a *API) lookupUserDB(ctx context.Context, src source.Source) (*userDB, source.Problems, error) {
	cred := credentials(src)
	id := src.Properties.UserDBID
	ss, err := a.cfg.Send.SubscriberSource(ctx, cred, id)
	switch {
	case errors.Is(err, contactsend.ErrBadCredentials):
		return nil, source.Problems{
			{Path: "properties.apiKey", Message: "Contactsend refused this apiKey and userKey"},
			{Path: "properties.userKey", Message: "Contactsend refused this apiKey and userKey"},
		}, nil
	case errors.Is(err, contactsend.ErrUnknownUserDB):
		return nil, source.Problems{{Path: "properties.userDbId", Message: "userdb " + strconv.FormatInt(id, 10) + " does not exist for these credentials"}}, nil
	case err != nil:
		return nil, nil, sendFailure("reading userdb "+strconv.FormatInt(id, 10), err)
	}
	subs, err := a.cfg.Send.Subscriptions(ctx, cred, id)
	if err != nil {
		return nil, nil, sendFailure("listing the subscription systems of userdb "+strconv.FormatInt(id, 10), err)
	}
	return &userDB{source: ss, subscriptions: subs}, nil, nil
}

// catalog looks up, in both systems at once, what a source refers to.
func (a *API) catalog(ctx context.Context, workspace string, src source.Source) (source.Catalog, source.Problems, error) {
	var (
		wg              sync.WaitGroup
		catalog         source.Catalog
		hubErr, sendErr error
		sendProblems    source.Problems
		db              *userDB
		// Only what Check let through is looked up: a hostile node id or
		// userdb id is a problem of the request, not an upstream failure.
		needHub    = len(src.Nodes) == 1 && source.IDProblem(src.Nodes[0]) == ""
		needUserDB = src.Properties.UserDBID > 0 && src.Properties.UserDBID <= source.MaxContactsendID &&
			src.Properties.APIKey != "" && src.Properties.UserKey != ""
	)
	if needHub {
		wg.Go(func() {
			hub, err := a.hubFor(ctx, workspace)
			if err != nil {
				hubErr = err
				return
			}
			node, err := hub.Node(ctx, src.Nodes[0])
			switch {
			case errors.Is(err, contacthub.ErrNotFound):
			case err != nil:
				hubErr = hubFailure("looking up node "+src.Nodes[0], err)
				return
			default:
				catalog.NodeFound = true
				catalog.NodeKind = nodeKind(node.Kind)
			}
			fields, err := hub.Fields(ctx)
			if err != nil {
				hubErr = hubFailure("listing the workspace's customer fields", err)
				return
			}
			catalog.HubFields = hubFields(fields)
		})
	}
	if needUserDB {
		wg.Go(func() { db, sendProblems, sendErr = a.lookupUserDB(ctx, src) })
	}
	wg.Wait()
	if err := errors.Join(hubErr, sendErr); err != nil {
		return source.Catalog{}, nil, err
	}
	if db != nil {
		catalog.SendFields = db.source.MappingFields()
		catalog.Subscriptions = subscriptionSystems(db.subscriptions)
	}
	if !needHub {
		catalog.NodeFound = true // Check already reported the node problem
	}
	return catalog, sendProblems, nil
}

func nodeKind(k contacthub.NodeKind) source.NodeKind {
	if k == contacthub.AggregateNode {
		return source.AggregateNode
	}
	return source.EntryNode
}

func hubFields(fields []contacthub.Field) []mapping.HubField {
	out := make([]mapping.HubField, 0, len(fields))
	for _, f := range fields {
		out = append(out, mapping.HubField{Path: f.Path, Type: mapping.HubType(f.Type), Label: f.Label})
	}
	return out
}

func subscriptionSystems(subs []contactsend.Subscription) []source.SendSubscriptionSystem {
	out := make([]source.SendSubscriptionSystem, 0, len(subs))
	for _, s := range subs {
		out = append(out, source.SendSubscriptionSystem{ID: s.ID, Name: s.Name, RegistrationField: s.RegistrationField, WebformCode: s.WebformCode})
	}
	return out
}

// recentWindow is how far back the change feed is read for customers the
// search index may not count yet: several times the index's lag.
const recentWindow = 10 * time.Minute

// maxRecentPages bounds the change feed read for a node's recent
// customers; more changes than that count as customers.
const maxRecentPages = 5

// recentCustomers reports whether the change feed holds, since a time, a
// customer of the node created or changed and not deleted afterwards.
func recentCustomers(ctx context.Context, hub Hub, node string, since time.Time) (bool, error) {
	ms := since.UnixMilli()
	q := contacthub.UpdatesQuery{Timestamp: &ms, Size: contacthub.MaxUpdatesSize, NodeID: node, Entity: contacthub.EntityCustomer}
	alive := map[string]bool{} // customer id → its last change was not a delete
	for range maxRecentPages {
		page, err := hub.Updates(ctx, q)
		if err != nil {
			return false, err
		}
		for _, u := range page.Updates {
			c, err := u.Customer()
			if err != nil || c.ID == "" {
				return true, nil // a change it cannot place: not provably empty
			}
			alive[c.ID] = u.Operation != contacthub.OperationDelete
		}
		if len(page.Updates) < q.Size {
			for _, a := range alive {
				if a {
					return true, nil
				}
			}
			return false, nil
		}
		next := page.NextOffset
		q.Offset, q.Timestamp = &next, nil
	}
	return true, nil
}

// facts looks up, live, the requirements a change needs and nothing more.
func (a *API) facts(ctx context.Context, workspace string, current, updated source.Source, needed []source.Requirement) (source.Facts, error) {
	facts := source.Facts{SourceDisabled: !current.Enabled}
	var hub Hub
	nodeEmpty := func(node string) (bool, error) {
		if hub == nil {
			var err error
			if hub, err = a.hubFor(ctx, workspace); err != nil {
				return false, err
			}
		}
		n, err := hub.CountCustomers(ctx, node)
		if err != nil {
			return false, hubFailure("counting the customers of node "+node, err)
		}
		if n > 0 {
			return false, nil
		}
		// The count is the search index's, which lags new customers by up
		// to a minute; the change feed does not. A node is empty only if
		// the feed shows no customer created or changed there lately
		// either, and not deleted since.
		recent, err := recentCustomers(ctx, hub, node, time.Now().Add(-recentWindow))
		if err != nil {
			return false, hubFailure("reading the recent changes of node "+node, err)
		}
		return !recent, nil
	}
	for _, r := range needed {
		var err error
		switch r {
		case source.CurrentNodeEmpty:
			facts.CurrentNodeEmpty, err = nodeEmpty(current.Node())
		case source.NewNodeEmpty:
			facts.NewNodeEmpty, err = nodeEmpty(updated.Node())
		case source.UserDBEmpty:
			var n int64
			n, err = a.cfg.Send.CountSubscribers(ctx, credentials(updated), updated.Properties.UserDBID)
			if err != nil {
				err = sendFailure("counting the subscribers of the userdb", err)
			}
			facts.UserDBEmpty = n == 0
		}
		if err != nil {
			return source.Facts{}, err
		}
	}
	return facts, nil
}
