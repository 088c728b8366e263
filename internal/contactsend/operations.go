package contactsend

import (
	"context"
	"errors"
	"fmt"

	"github.com/hubsend/hubsend/internal/mapping"
)

// PageSize is the fixed page size of findSubscribers.
const PageSize = 15

// DefaultQueryPageSize is the page size FindSubscribersBy asks for when the
// query names none. The service's maximum is not documented.
const DefaultQueryPageSize = 100

// maxPages stops a page walk that a misbehaving server would never end.
const maxPages = 1 << 20

// SubscriberSource describes a userDb.
type SubscriberSource struct {
	ID          int64
	Name        string
	Description string
	Fields      []Field
	Locked      bool
	ReadOnly    bool
	// SubscriberIdentifierFieldName is set when the userDb takes its ids from
	// a column of its own instead of generating them; AddSubscriber must then
	// be given an ID.
	SubscriberIdentifierFieldName string
	Charset                       string
}

// Field is one column of a userDb.
type Field struct {
	Name       string
	Type       FieldType
	EmailField bool
	PhoneField bool
	FaxField   bool
}

// MappingFields returns the userDb's columns as package mapping types them,
// for checking and coercing a field mapping.
func (s SubscriberSource) MappingFields() []mapping.SendField {
	out := make([]mapping.SendField, 0, len(s.Fields))
	for _, f := range s.Fields {
		out = append(out, mapping.SendField{Name: f.Name, Type: mapping.SendType(f.Type), EmailField: f.EmailField})
	}
	return out
}

// Field returns the column named name.
func (s SubscriberSource) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Subscription is a subscription system (web form) of a userDb.
type Subscription struct {
	ID                int64
	Name              string
	RegistrationField string // the userDb column holding the status, e.g. "__cls1"
	WebformCode       string // the wfc that ModifySubscriptionStatus takes
}

// SubscriberPage is one page of a search.
type SubscriberPage struct {
	Subscribers   []Subscriber
	PageNumber    int // 1-based
	MaxPageNumber int // 0 when nothing matched
}

// last reports whether no page follows p.
func (p SubscriberPage) last() bool {
	return len(p.Subscribers) == 0 || p.PageNumber >= p.MaxPageNumber
}

// MatchingMode is how a search compares an attribute (LookupMatchingMode).
type MatchingMode string

// The matching modes of the live service. The 2016 schema lists only Equals
// and Like; the rest came later.
const (
	Equals        MatchingMode = "EQUALS"
	Like          MatchingMode = "LIKE" // SQL wildcards: % and _
	NotLike       MatchingMode = "NOT_LIKE"
	IsNull        MatchingMode = "IS_NULL"
	IsNotNull     MatchingMode = "IS_NOT_NULL"
	Greater       MatchingMode = "GREATER"
	GreaterEquals MatchingMode = "GREATER_EQUALS"
	Less          MatchingMode = "LESS"
	LessEquals    MatchingMode = "LESS_EQUALS"
	In            MatchingMode = "IN"
	NotIn         MatchingMode = "NOT_IN"
	Different     MatchingMode = "DIFFERENT"
)

// SortingMode orders results by subscriber identifier (LookupSortingMode).
type SortingMode string

// The sorting modes.
const (
	Ascending  SortingMode = "ASCENDING"
	Descending SortingMode = "DESCENDING"
)

// LookupPrefs are findSubscribers' options. Zero fields take the schema's
// defaults: page 1, Equals, Descending.
type LookupPrefs struct {
	PageNumber   int
	MatchingMode MatchingMode
	SortingMode  SortingMode
}

// Filter is one condition of FindSubscribersBy. Values is for In and NotIn;
// Value is ignored by IsNull and IsNotNull.
type Filter struct {
	Attribute string
	Mode      MatchingMode // default Equals
	Value     Value
	Values    []Value
}

// Sort orders FindSubscribersBy results.
type Sort struct {
	Field string
	Order SortingMode
}

// Query is a FindSubscribersBy search. Conditions are all required to hold.
type Query struct {
	FilterID      int64 // a saved filter of the userDb; 0 for none
	UseBaseFilter bool
	Select        []string // attributes to return; empty returns all
	Where         []Filter
	Sort          []Sort
	Page          int // 1-based; default 1
	PageSize      int // default DefaultQueryPageSize
}

// CheckCredentials reports whether the service accepts cred: it succeeds
// when a token can be borrowed (or one is already held).
func (c *Client) CheckCredentials(ctx context.Context, cred Credentials) error {
	_, err := c.token(ctx, c.session(cred))
	return err
}

// SubscriberSource returns the description of a userDb, with its fields.
func (c *Client) SubscriberSource(ctx context.Context, cred Credentials, userDBID int64) (SubscriberSource, error) {
	var w wireSubscriberSource
	err := c.invoke(ctx, cred, &call{
		op:         "getSubscriberSource",
		body:       func(b *xmlBody) { b.int("sourceIdentifier", userDBID) },
		out:        &w,
		idempotent: true,
	})
	if err != nil {
		return SubscriberSource{}, err
	}
	src := SubscriberSource{
		ID:                            w.Identifier,
		Name:                          w.Name,
		Description:                   w.Description,
		Locked:                        w.Locked,
		ReadOnly:                      w.ReadOnly,
		SubscriberIdentifierFieldName: w.SubscriberIdentifierFieldName,
		Charset:                       w.Charset,
	}
	for _, f := range w.Fields {
		if f.Name == "" {
			continue // a nil item
		}
		src.Fields = append(src.Fields, Field{
			Name: f.Name, Type: FieldType(f.Type),
			EmailField: f.EmailField, PhoneField: f.PhoneField, FaxField: f.FaxField,
		})
	}
	return src, nil
}

// CountSubscribers returns the number of subscribers in a userDb.
func (c *Client) CountSubscribers(ctx context.Context, cred Credentials, userDBID int64) (int64, error) {
	var n wireScalar
	err := c.invoke(ctx, cred, &call{
		op:         "countSubscribers",
		body:       func(b *xmlBody) { b.int("sourceIdentifier", userDBID) },
		out:        &n,
		idempotent: true,
	})
	if err != nil {
		return 0, err
	}
	count, err := n.int64()
	if err != nil {
		return 0, fmt.Errorf("contactsend: countSubscribers: %w", err)
	}
	return count, nil
}

// Subscriptions returns every subscription system of a userDb.
func (c *Client) Subscriptions(ctx context.Context, cred Credentials, userDBID int64) ([]Subscription, error) {
	var all []Subscription
	for page := 1; page <= maxPages; page++ {
		var w wireSubscriptions
		err := c.invoke(ctx, cred, &call{
			op: "findSubscriptionsBy",
			body: func(b *xmlBody) {
				b.open("attributes")
				b.int("subscriberSourceId", userDBID)
				b.close("attributes")
				writePagination(b, nil, page, 50)
			},
			out:        &w,
			idempotent: true,
		})
		if err != nil {
			return nil, err
		}
		for _, s := range w.Items {
			if s.ID == 0 && s.WebformCode == "" {
				continue
			}
			all = append(all, Subscription(s))
		}
		if len(w.Items) == 0 || w.CurrentPageNumber >= w.MaxPageNumber {
			break
		}
	}
	return all, nil
}

// GetSubscriber returns one subscriber.
func (c *Client) GetSubscriber(ctx context.Context, cred Credentials, userDBID, id int64) (Subscriber, error) {
	var w wireSubscriber
	err := c.invoke(ctx, cred, &call{
		op: "getSubscriber",
		body: func(b *xmlBody) {
			b.int("sourceIdentifier", userDBID)
			b.int("subscriberIdentifier", id)
		},
		out:        &w,
		idempotent: true,
	})
	if errors.Is(err, errNoReturn) {
		return Subscriber{}, fmt.Errorf("contactsend: getSubscriber %d: %w", id, ErrUnknownSubscriber)
	}
	if err != nil {
		return Subscriber{}, err
	}
	return w.subscriber()
}

// AddSubscriber creates a subscriber and returns it with the id the service
// assigned. It is not idempotent: after a failure matching ErrOutcomeUnknown
// the subscriber may exist, and the caller looks before adding again (or uses
// AddSubscriberOnce).
func (c *Client) AddSubscriber(ctx context.Context, cred Credentials, userDBID int64, s Subscriber) (Subscriber, error) {
	return c.writeSubscriber(ctx, cred, "addSubscriber", userDBID, s, false)
}

// UpdateSubscriber changes the given attributes of subscriber s.ID, leaving
// the others alone, and returns the whole record after the change.
func (c *Client) UpdateSubscriber(ctx context.Context, cred Credentials, userDBID int64, s Subscriber) (Subscriber, error) {
	if s.ID == 0 {
		return Subscriber{}, fmt.Errorf("contactsend: updateSubscriber: %w: subscriber has no id", ErrInvalidValue)
	}
	return c.writeSubscriber(ctx, cred, "updateSubscriber", userDBID, s, true)
}

func (c *Client) writeSubscriber(ctx context.Context, cred Credentials, op string, userDBID int64, s Subscriber, idempotent bool) (Subscriber, error) {
	if len(s.Attributes) == 0 {
		return Subscriber{}, fmt.Errorf("contactsend: %s: %w: no attributes", op, ErrInvalidValue)
	}
	for _, a := range s.Attributes {
		if a.Value.IsNull() {
			return Subscriber{}, fmt.Errorf("contactsend: %s: %w: attribute %s is null (the schema has no nil values)", op, ErrInvalidValue, a.Key)
		}
		if err := a.Value.check(); err != nil {
			return Subscriber{}, fmt.Errorf("contactsend: %s: attribute %s: %w", op, a.Key, err)
		}
	}
	var w wireSubscriber
	err := c.invoke(ctx, cred, &call{
		op: op,
		body: func(b *xmlBody) {
			b.int("sourceIdentifier", userDBID)
			b.subscriber("subscriber", s)
		},
		out:        &w,
		idempotent: idempotent,
	})
	if err != nil {
		return Subscriber{}, err
	}
	return w.subscriber()
}

// AddSubscriberOnce adds s unless a subscriber with the same values of the
// match attributes exists, in which case that one is returned with created
// false. After an ambiguous failure of the add it looks again, so a retried
// job does not create a duplicate.
func (c *Client) AddSubscriberOnce(ctx context.Context, cred Credentials, userDBID int64, s Subscriber, match ...string) (sub Subscriber, created bool, err error) {
	if len(match) == 0 {
		return Subscriber{}, false, fmt.Errorf("contactsend: AddSubscriberOnce: %w: no match attributes", ErrInvalidValue)
	}
	q := Query{PageSize: 1}
	for _, key := range match {
		v, ok := s.Get(key)
		if !ok || v.IsNull() {
			return Subscriber{}, false, fmt.Errorf("contactsend: AddSubscriberOnce: %w: match attribute %s has no value", ErrInvalidValue, key)
		}
		q.Where = append(q.Where, Filter{Attribute: key, Mode: Equals, Value: v})
	}
	find := func() (Subscriber, bool, error) {
		page, err := c.FindSubscribersBy(ctx, cred, userDBID, q)
		if err != nil || len(page.Subscribers) == 0 {
			return Subscriber{}, false, err
		}
		return page.Subscribers[0], true, nil
	}
	if found, ok, err := find(); err != nil || ok {
		return found, false, err
	}
	added, err := c.AddSubscriber(ctx, cred, userDBID, s)
	if err == nil || !errors.Is(err, ErrOutcomeUnknown) {
		return added, err == nil, err
	}
	if found, ok, ferr := find(); ferr == nil && ok {
		return found, true, nil
	}
	return Subscriber{}, false, err
}

// RemoveSubscriber deletes a subscriber. A retry that finds the subscriber
// already gone after an ambiguous first attempt counts as success.
func (c *Client) RemoveSubscriber(ctx context.Context, cred Credentials, userDBID, id int64) error {
	var ok wireScalar
	cl := &call{
		op: "removeSubscriber",
		body: func(b *xmlBody) {
			b.int("sourceIdentifier", userDBID)
			b.int("recipientIdentifier", id)
		},
		out:        &ok,
		idempotent: true,
	}
	err := c.invoke(ctx, cred, cl)
	if err != nil {
		if cl.ambiguous && errors.Is(err, ErrUnknownSubscriber) {
			return nil
		}
		return err
	}
	if removed, perr := ok.bool(); perr != nil || !removed {
		return fmt.Errorf("contactsend: removeSubscriber %d: %w", id, ErrUnknownSubscriber)
	}
	return nil
}

// FindSubscribers returns one page (PageSize items) of the subscribers whose
// attr.Key matches attr.Value by prefs.MatchingMode.
func (c *Client) FindSubscribers(ctx context.Context, cred Credentials, userDBID int64, attr Attribute, prefs LookupPrefs) (SubscriberPage, error) {
	if prefs.PageNumber <= 0 {
		prefs.PageNumber = 1
	}
	if prefs.MatchingMode == "" {
		prefs.MatchingMode = Equals
	}
	if prefs.SortingMode == "" {
		prefs.SortingMode = Descending
	}
	var w wireSubscribers
	err := c.invoke(ctx, cred, &call{
		op: "findSubscribers",
		body: func(b *xmlBody) {
			b.int("sourceIdentifier", userDBID)
			b.attribute("attribute", attr)
			b.open("lookupPrefs")
			b.int("pageNumber", int64(prefs.PageNumber))
			b.leaf("matchingMode", string(prefs.MatchingMode))
			b.leaf("sortingMode", string(prefs.SortingMode))
			b.close("lookupPrefs")
		},
		out:        &w,
		idempotent: true,
	})
	if err != nil {
		return SubscriberPage{}, err
	}
	page, err := w.page()
	if err != nil {
		return SubscriberPage{}, fmt.Errorf("contactsend: findSubscribers: %w", err)
	}
	return page, nil
}

// FindAllSubscribers walks every page of FindSubscribers from prefs.PageNumber.
func (c *Client) FindAllSubscribers(ctx context.Context, cred Credentials, userDBID int64, attr Attribute, prefs LookupPrefs) ([]Subscriber, error) {
	var all []Subscriber
	if prefs.PageNumber <= 0 {
		prefs.PageNumber = 1
	}
	for ; prefs.PageNumber <= maxPages; prefs.PageNumber++ {
		page, err := c.FindSubscribers(ctx, cred, userDBID, attr, prefs)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Subscribers...)
		if page.last() {
			break
		}
	}
	return all, nil
}

// FindSubscribersBy returns one page of the subscribers matching q.
func (c *Client) FindSubscribersBy(ctx context.Context, cred Credentials, userDBID int64, q Query) (SubscriberPage, error) {
	if q.Page <= 0 {
		q.Page = 1
	}
	if q.PageSize <= 0 {
		q.PageSize = DefaultQueryPageSize
	}
	var w wireSubscribers
	err := c.invoke(ctx, cred, &call{
		op: "findSubscribersBy",
		body: func(b *xmlBody) {
			b.int("sourceIdentifier", userDBID)
			if q.FilterID != 0 {
				b.int("filterId", q.FilterID)
			}
			b.bool("useBaseFilter", q.UseBaseFilter)
			for _, name := range q.Select {
				b.leaf("selectedAttribute", name)
			}
			for _, f := range q.Where {
				mode := f.Mode
				if mode == "" {
					mode = Equals
				}
				b.open("whereAttribute")
				b.leaf("attributeName", f.Attribute)
				b.value("attributeValue", f.Value)
				b.leaf("lookupMatchingMode", string(mode))
				if len(f.Values) > 0 {
					b.open("attributeValues")
					for _, v := range f.Values {
						b.value("attributeValues", v)
					}
					b.close("attributeValues")
				}
				b.close("whereAttribute")
			}
			writePagination(b, q.Sort, q.Page, q.PageSize)
		},
		out:        &w,
		idempotent: true,
	})
	if err != nil {
		return SubscriberPage{}, err
	}
	page, err := w.page()
	if err != nil {
		return SubscriberPage{}, fmt.Errorf("contactsend: findSubscribersBy: %w", err)
	}
	return page, nil
}

// FindAllSubscribersBy walks every page of FindSubscribersBy from q.Page.
func (c *Client) FindAllSubscribersBy(ctx context.Context, cred Credentials, userDBID int64, q Query) ([]Subscriber, error) {
	var all []Subscriber
	if q.Page <= 0 {
		q.Page = 1
	}
	for ; q.Page <= maxPages; q.Page++ {
		page, err := c.FindSubscribersBy(ctx, cred, userDBID, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Subscribers...)
		if page.last() {
			break
		}
	}
	return all, nil
}

func writePagination(b *xmlBody, sorts []Sort, page, size int) {
	b.open("pagination")
	for _, s := range sorts {
		order := s.Order
		if order == "" {
			order = Ascending
		}
		b.open("sorting")
		b.leaf("sortField", s.Field)
		b.leaf("sortOrder", string(order))
		b.close("sorting")
	}
	b.int("currentPage", int64(page))
	b.int("pageSize", int64(size))
	b.close("pagination")
}

// ModifySubscriptionStatus subscribes (true) or unsubscribes (false) a
// subscriber through the subscription system with the given web form code.
func (c *Client) ModifySubscriptionStatus(ctx context.Context, cred Credentials, webformCode string, subscriberID int64, subscribed bool) error {
	return c.invoke(ctx, cred, &call{
		op: "modifySubscriberSubscriptionStatus",
		body: func(b *xmlBody) {
			b.leaf("webFormCode", webformCode)
			b.int("subscriberIdentifier", subscriberID)
			b.bool("isSubscribed", subscribed)
		},
		idempotent: true,
	})
}
