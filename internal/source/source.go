// Package source holds hubsend's central object, the Contactsend source, and
// its rules: what a valid source is, and which live conditions a change to a
// source must meet ("one source : one node : one userdb"). It does no I/O;
// callers bring the facts (the node, the userdb's fields, whether a node is
// empty) and this package decides.
package source

import (
	"time"
)

// Provider is the only provider hubsend serves, named as Contacthub names it.
const Provider = "CONTACTSEND"

// Source mirrors Contacthub's SourceConfiguration for the CONTACTSEND provider.
type Source struct {
	ID          string
	WorkspaceID string
	Name        string
	Description string
	Nodes       []string
	Enabled     bool
	// Version counts accepted writes; a replace must name the version it read.
	Version    int64
	Properties Properties
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Properties are the provider options of a Contactsend source.
type Properties struct {
	UserKey       string
	APIKey        string
	UserDBID      int64
	FieldMapping  []FieldMapping
	Subscriptions []Subscription
	// OnCustomerDeleted says what a customer deleted in Contacthub does to
	// its Contactsend subscriber; empty means DefaultDeletePolicy.
	OnCustomerDeleted DeletePolicy
	// OnUnmatchable says what a customer without a value in a match field
	// becomes; empty means FailUnmatchable.
	OnUnmatchable UnmatchablePolicy
	// MaxInFlight caps concurrent Contactsend calls for this source; zero
	// means DefaultMaxInFlight.
	MaxInFlight int
}

// DeletePolicy is what happens to a subscriber whose customer is deleted.
type DeletePolicy string

// The delete policies.
const (
	// KeepSubscriber leaves the subscriber as it is, subscriptions included.
	KeepSubscriber DeletePolicy = "keep"
	// RemoveSubscriber deletes the subscriber from the userdb.
	RemoveSubscriber DeletePolicy = "remove"
	// UnsubscribeSubscriber keeps the subscriber and unsubscribes it from
	// every subscription the source maps.
	UnsubscribeSubscriber DeletePolicy = "unsubscribe"
)

// DefaultDeletePolicy is UnsubscribeSubscriber: a customer deleted in
// Contacthub (a GDPR erasure, say) must stop receiving what it subscribed
// to through hubsend, while removing the subscriber would also erase the
// mailing history that reports rely on, so that is left to an explicit
// choice.
const DefaultDeletePolicy = UnsubscribeSubscriber

// UnmatchablePolicy is what happens to a customer whose subscriber can be
// neither found nor added, because a match field has no value (an SMS-only
// profile without an email, say).
type UnmatchablePolicy string

// The unmatchable policies.
const (
	// FailUnmatchable writes a failed record: the default, since a missing
	// match value is often a data problem someone should fix.
	FailUnmatchable UnmatchablePolicy = "fail"
	// SkipUnmatchable counts the customer as skipped, with the reason, for
	// sources whose node holds customers that are not for this userdb.
	SkipUnmatchable UnmatchablePolicy = "skip"
)

// DefaultMaxInFlight is the default cap on concurrent Contactsend calls.
const DefaultMaxInFlight = 10

// MaxInFlightLimit bounds what a source may ask for.
const MaxInFlightLimit = 50

// InFlight returns the source's cap on concurrent Contactsend calls.
func (p Properties) InFlight() int {
	if p.MaxInFlight <= 0 {
		return DefaultMaxInFlight
	}
	return p.MaxInFlight
}

// DeletePolicy returns what a deleted customer does to its subscriber.
func (p Properties) DeletePolicy() DeletePolicy {
	if p.OnCustomerDeleted == "" {
		return DefaultDeletePolicy
	}
	return p.OnCustomerDeleted
}

// UnmatchablePolicy returns what a customer without a match value becomes.
func (p Properties) UnmatchablePolicy() UnmatchablePolicy {
	if p.OnUnmatchable == "" {
		return FailUnmatchable
	}
	return p.OnUnmatchable
}

// FieldMapping sends one Contacthub field to one Contactsend field. Match
// fields are how a Contacthub customer finds its Contactsend subscriber.
type FieldMapping struct {
	HubField  string
	SendField string
	Match     bool
	// ClearOnNull makes a null or missing Contacthub value blank the
	// Contactsend field; by default an absent value leaves it as it is.
	ClearOnNull bool
}

// Subscription links a Contacthub subscription to a Contactsend subscription
// system and the web form code that changes it.
type Subscription struct {
	HubSubscriptionID  string
	SendSubscriptionID int64
	WebformCode        string
}

// Node returns the source's active node, or "" if it has none.
func (s Source) Node() string {
	if len(s.Nodes) == 0 {
		return ""
	}
	return s.Nodes[0]
}

// MatchFields returns the mappings used to find a subscriber.
func (s Source) MatchFields() []FieldMapping {
	var out []FieldMapping
	for _, m := range s.Properties.FieldMapping {
		if m.Match {
			out = append(out, m)
		}
	}
	return out
}
