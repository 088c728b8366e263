package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxPageSize is the largest page GET /customers serves.
const MaxPageSize = 50

// ListQuery selects a page of customers of one node.
type ListQuery struct {
	NodeID     string // required
	ExternalID string
	// Query is Contacthub's JSON query (see EmailQuery); nil for none.
	Query json.RawMessage
	// Fields limits the properties returned, e.g. "base.firstName".
	Fields []string
	Page   int    // 0-based
	Size   int    // 1..MaxPageSize; 0 leaves the service default
	Sort   string // "<field>[,asc|desc]", e.g. "registeredAt,desc"
}

// PageInfo is the page metadata of a list answer.
type PageInfo struct {
	Size          int   `json:"size"`
	TotalElements int64 `json:"totalElements"`
	TotalPages    int   `json:"totalPages"`
	Number        int   `json:"number"`
}

// CustomerPage is one page of customers.
type CustomerPage struct {
	Elements []Customer `json:"elements"`
	Page     PageInfo   `json:"page"`
}

// EmailQuery builds the query that finds customers by base.contacts.email.
func EmailQuery(email string) json.RawMessage {
	return AttributeQuery("base.contacts.email", "EQUALS", email)
}

// AttributeQuery builds a simple query with one atomic condition.
func AttributeQuery(attribute, operator string, value any) json.RawMessage {
	q := map[string]any{
		"name": "q",
		"query": map[string]any{
			"type": "simple",
			"name": "q",
			"are": map[string]any{
				"condition": map[string]any{
					"type":      "atomic",
					"attribute": attribute,
					"operator":  operator,
					"value":     value,
				},
			},
		},
	}
	data, _ := json.Marshal(q) // maps of JSON-safe values always encode
	return data
}

// Customer returns one customer by id.
func (c *Client) Customer(ctx context.Context, id string) (Customer, error) {
	if id == "" {
		return Customer{}, errors.New("contacthub: customer id is required")
	}
	var out Customer
	err := c.call(ctx, request{method: http.MethodGet, path: "/customers/" + escape(id)}, &out)
	return out, err
}

// Customers returns one page of the customers of a node. Listing is a
// search: Contacthub's index shows a created or changed customer seconds to
// a minute after the write (Customer reads by id see it at once), so never
// look for a customer just written this way.
func (c *Client) Customers(ctx context.Context, q ListQuery) (CustomerPage, error) {
	if q.NodeID == "" {
		return CustomerPage{}, errors.New("contacthub: listing customers needs a node id")
	}
	if q.Size < 0 || q.Size > MaxPageSize {
		return CustomerPage{}, fmt.Errorf("contacthub: page size %d is not within 1..%d", q.Size, MaxPageSize)
	}
	if q.Page < 0 {
		return CustomerPage{}, fmt.Errorf("contacthub: page %d is negative", q.Page)
	}
	v := url.Values{"nodeId": {q.NodeID}}
	if q.ExternalID != "" {
		v.Set("externalId", q.ExternalID)
	}
	if len(q.Query) > 0 {
		v.Set("query", string(q.Query))
	}
	if len(q.Fields) > 0 {
		v.Set("fields", strings.Join(q.Fields, ","))
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Size > 0 {
		v.Set("size", strconv.Itoa(q.Size))
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	var out CustomerPage
	err := c.call(ctx, request{method: http.MethodGet, path: "/customers", query: v}, &out)
	return out, err
}

// CountCustomers returns how many customers a node holds, from the
// totalElements of a one-element page. An unknown node is ErrNotFound. The
// count is the search index's (see Customers): a customer created in the
// last minute may not be in it yet.
func (c *Client) CountCustomers(ctx context.Context, nodeID string) (int64, error) {
	page, err := c.Customers(ctx, ListQuery{NodeID: nodeID, Size: 1})
	if err != nil {
		return 0, err
	}
	return page.Page.TotalElements, nil
}

// CreateCustomer creates a customer in cust.NodeID (an entry node) and
// returns it as stored, with its id.
//
// A create is not idempotent, and an attempt that timed out, lost its
// connection or met a 5xx may have been carried out. Retrying it then meets
// the first attempt's customer as a 409 on the node's unique fields. When a
// 409 follows such an ambiguous attempt, CreateCustomer treats it as its own
// earlier success: it reads the conflicting customer and returns it with a
// nil error. A 409 on the first attempt, or after only refusals (429/423),
// is returned as *Error with ExistingCustomerID. Callers that must tell
// "created" from "found" compare RegisteredAt, but hubsend's level-triggered
// sync updates an existing customer either way.
func (c *Client) CreateCustomer(ctx context.Context, cust Customer) (Customer, error) {
	if cust.NodeID == "" {
		return Customer{}, errors.New("contacthub: creating a customer needs a node id")
	}
	cust.ID = ""
	r, err := newRequest(http.MethodPost, "/customers", nil, cust)
	if err != nil {
		return Customer{}, err
	}
	var out Customer
	var earlierAmbiguous bool
	var adoptID string
	err = c.retry.Do(ctx, func(ctx context.Context) error {
		err := c.once(ctx, r, &out)
		var apiErr *Error
		if earlierAmbiguous && errors.As(err, &apiErr) && apiErr.ExistingCustomerID() != "" {
			adoptID = apiErr.ExistingCustomerID()
			return nil
		}
		if err != nil && ambiguous(err) {
			earlierAmbiguous = true
		}
		return err
	})
	if err != nil {
		return Customer{}, err
	}
	if adoptID != "" {
		return c.Customer(ctx, adoptID)
	}
	return out, nil
}

// PatchCustomer changes part of a customer. patch is anything that encodes
// to a PatchCustomer object; use a map to send explicit nulls, e.g.
// map[string]any{"base": map[string]any{"title": nil}}.
func (c *Client) PatchCustomer(ctx context.Context, id string, patch any) (Customer, error) {
	if id == "" {
		return Customer{}, errors.New("contacthub: customer id is required")
	}
	r, err := newRequest(http.MethodPatch, "/customers/"+escape(id), nil, patch)
	if err != nil {
		return Customer{}, err
	}
	var out Customer
	err = c.call(ctx, r, &out)
	return out, err
}

// PutCustomer replaces the customer cust.ID with cust.
func (c *Client) PutCustomer(ctx context.Context, cust Customer) (Customer, error) {
	if cust.ID == "" {
		return Customer{}, errors.New("contacthub: customer id is required")
	}
	r, err := newRequest(http.MethodPut, "/customers/"+escape(cust.ID), nil, cust)
	if err != nil {
		return Customer{}, err
	}
	var out Customer
	err = c.call(ctx, r, &out)
	return out, err
}

// DeleteCustomer deletes a customer (and, since 1.52, its events).
func (c *Client) DeleteCustomer(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("contacthub: customer id is required")
	}
	return c.call(ctx, request{method: http.MethodDelete, path: "/customers/" + escape(id)}, nil)
}

func subscriptionPath(customerID, subscriptionID string) string {
	p := "/customers/" + escape(customerID) + "/subscriptions"
	if subscriptionID != "" {
		p += "/" + escape(subscriptionID)
	}
	return p
}

// CreateSubscription adds a subscription to a customer (201). The id is the
// caller's: Contacthub subscription ids name the subscription system.
func (c *Client) CreateSubscription(ctx context.Context, customerID string, s Subscription) (Subscription, error) {
	if customerID == "" || s.ID == "" {
		return Subscription{}, errors.New("contacthub: customer id and subscription id are required")
	}
	r, err := newRequest(http.MethodPost, subscriptionPath(customerID, ""), nil, s)
	if err != nil {
		return Subscription{}, err
	}
	var out Subscription
	err = c.call(ctx, r, &out)
	return out, err
}

// Subscription reads one subscription of a customer.
func (c *Client) Subscription(ctx context.Context, customerID, subscriptionID string) (Subscription, error) {
	if customerID == "" || subscriptionID == "" {
		return Subscription{}, errors.New("contacthub: customer id and subscription id are required")
	}
	var out Subscription
	err := c.call(ctx, request{method: http.MethodGet, path: subscriptionPath(customerID, subscriptionID)}, &out)
	return out, err
}

// PutSubscription replaces the subscription s.ID of a customer.
func (c *Client) PutSubscription(ctx context.Context, customerID string, s Subscription) (Subscription, error) {
	if customerID == "" || s.ID == "" {
		return Subscription{}, errors.New("contacthub: customer id and subscription id are required")
	}
	r, err := newRequest(http.MethodPut, subscriptionPath(customerID, s.ID), nil, s)
	if err != nil {
		return Subscription{}, err
	}
	var out Subscription
	err = c.call(ctx, r, &out)
	return out, err
}

// DeleteSubscription removes a subscription from a customer.
func (c *Client) DeleteSubscription(ctx context.Context, customerID, subscriptionID string) error {
	if customerID == "" || subscriptionID == "" {
		return errors.New("contacthub: customer id and subscription id are required")
	}
	return c.call(ctx, request{method: http.MethodDelete, path: subscriptionPath(customerID, subscriptionID)}, nil)
}
