// Package subscriptions decides how hubsend keeps one customer's
// subscription in step between Contacthub (base.subscriptions[id].subscribed)
// and Contactsend (the subscription system's registration column, __clsN).
//
// It does no I/O. The caller brings what the ledger last synced for the
// pair, what each side holds now, and the time; Decide says whether nothing
// happened, which side to write and with what, or that only the ledger needs
// to learn that both sides already agree. The rules (see docs/subscriptions.md):
//
//   - A side changed when its flag differs from the ledger's synced state, or
//     (Contacthub only) when its updatedAt moved past the one last synced
//     with the same flag. What hubsend wrote itself comes back with the
//     synced state and updatedAt, so it is no change (an echo) and is dropped.
//   - Contactsend keeps no change times: a Contactsend change is dated by
//     the event that reported it (its own date, never later than now), or,
//     without one, when hubsend observes it. A conflict settled against an
//     undated Contactsend change is marked Uncertain, so the caller can
//     wait a little for the event.
//   - Contactsend pending (0) is not subscribed, so it never subscribes
//     anyone in Contacthub. A value hubsend does not know (neither 1, -1
//     nor 0) reads like pending: not subscribed, and no explicit no.
//   - When both sides changed to different flags, the later change wins;
//     changes within Tolerance of each other tie, and a tie unsubscribes.
//     A Contacthub updatedAt more than Tolerance after now cannot be
//     ordered (a clock runs ahead): it is dated now, and a conflict with
//     it is a tie.
//   - On the first sync of a pair (no ledger state), an explicit state (a
//     Contacthub subscription object, a Contactsend 1 or -1) beats an
//     implicit one (no object, pending); two explicit states that differ
//     unsubscribe, since nothing tells which is newer. A customer with no
//     subscription object has decided nothing: hubsend writes nothing for
//     it unless Contactsend holds an explicit subscribe.
//   - An explicit Contacthub unsubscribe (subscribed false) is -1 in
//     Contactsend, never pending or an unknown value: when the state
//     follows Contacthub and Contactsend shows either, hubsend writes the
//     unsubscribe.
//   - A Contacthub subscribe dated before the synced change is stale and
//     is undone; a stale unsubscribe is still applied, so nobody is kept
//     subscribed on the strength of a clock.
package subscriptions

import (
	"fmt"
	"time"
)

// Tolerance bounds the clock skew between Contacthub, Contactsend and
// hubsend: changes on the two sides this close in time are a tie.
const Tolerance = 2 * time.Second

// Side is one of the two systems.
type Side string

// The sides.
const (
	Hub  Side = "hub"
	Send Side = "send"
)

// SendStatus is a Contactsend registration column's value.
type SendStatus int

// The values of a registration column.
const (
	Unsubscribed SendStatus = -1
	Pending      SendStatus = 0
	Subscribed   SendStatus = 1
)

// Synced is what the ledger holds for a (customer, subscription row) pair:
// the state both sides last agreed on.
type Synced struct {
	// Known is false until the pair was synced once.
	Known      bool
	Subscribed bool
	// At is the time of the change the state follows.
	At time.Time
	// Origin is the side that change came from; hubsend wrote the other.
	Origin Side
	// HubUpdatedAt is the Contacthub subscription's updatedAt when the
	// state was synced (after hubsend's own write, when it wrote there).
	HubUpdatedAt time.Time
	// SendSubscriptionID and SubscriberID are the Contactsend subscription
	// system and subscriber the state was synced with; zero in states
	// recorded before they were kept.
	SendSubscriptionID int64
	SubscriberID       int64
}

// For returns the state as the synced state of the pair with Contactsend
// subscription system sendSubscriptionID and subscriber subscriberID: none
// when it was synced with another system or another subscriber. A row
// remapped to another system, or a subscriber removed and added again in
// Contactsend, is a new pair: the old pair's state says nothing of the new
// column, and reading the new column against it would take its default
// (pending) for an unsubscribe, or let its yes (an import, say) resubscribe
// in Contacthub a person who said no. A new pair is synced as a first sync.
func (s Synced) For(sendSubscriptionID, subscriberID int64) Synced {
	if s.SendSubscriptionID != 0 && s.SendSubscriptionID != sendSubscriptionID ||
		s.SubscriberID != 0 && s.SubscriberID != subscriberID {
		return Synced{}
	}
	return s
}

// HubView is what Contacthub holds now.
type HubView struct {
	// Present is false when the customer has no such subscription object;
	// that reads as not subscribed.
	Present    bool
	Subscribed bool
	UpdatedAt  time.Time
}

// SendView is what Contactsend holds now.
type SendView struct {
	// Read is false when the subscriber was not read; the caller then
	// vouches that Contactsend still holds the synced state (see NeedsSend).
	Read   bool
	Status SendStatus
	// At is when Contactsend's status was set, by the event that reported
	// it; zero when no event said, and the change is dated when seen (now).
	// A time after now is read as now.
	At time.Time
}

// Action is what a decision asks the caller to do.
type Action string

// The actions.
const (
	// None: nothing changed (or only hubsend's own write came back).
	None Action = "none"
	// Record: the sides agree on a state the ledger does not hold yet;
	// store it, write nothing.
	Record Action = "record"
	// WriteSend: set the Contactsend status to Decision.Subscribed.
	WriteSend Action = "write-send"
	// WriteHub: set the Contacthub flag to Decision.Subscribed (creating
	// the subscription object when missing).
	WriteHub Action = "write-hub"
)

// Decision is Decide's answer.
type Decision struct {
	Action Action
	// Subscribed is the state both sides hold once the action is done.
	Subscribed bool
	// At and Origin describe the change that state follows.
	At     time.Time
	Origin Side
	// Rule names the rule that decided, for logs and previews.
	Rule string
	// Uncertain says a conflict was settled against a Contactsend change
	// of unknown time, dated when seen: the change may be older than the
	// Contacthub change it beat, and its event, if one is coming, would
	// tell. The caller may wait for it.
	Uncertain bool
}

// Synced returns the ledger state after the decision is carried out;
// hubUpdatedAt is the Contacthub subscription's updatedAt by then.
func (d Decision) Synced(hubUpdatedAt time.Time) Synced {
	return Synced{Known: true, Subscribed: d.Subscribed, At: d.At, Origin: d.Origin, HubUpdatedAt: hubUpdatedAt}
}

// IsSubscribed says whether a registration value means subscribed: only 1
// does; pending is not.
func (s SendStatus) IsSubscribed() bool { return s == Subscribed }

// undecided reports a registration value that is neither an explicit yes
// nor an explicit no: pending, or a value hubsend does not know (the
// column is an integer, and nothing stops other values). It reads as not
// subscribed, and, like pending, never stands in for a person's no.
func (s SendStatus) undecided() bool { return s != Subscribed && s != Unsubscribed }

func (h HubView) subscribed() bool { return h.Present && h.Subscribed }

// hubMoved reports whether Contacthub changed since the synced state.
func hubMoved(last Synced, hub HubView) bool {
	if !last.Known {
		return true
	}
	if hub.subscribed() != last.Subscribed {
		return true
	}
	return hub.Present && hub.UpdatedAt.After(last.HubUpdatedAt)
}

// NeedsSend reports whether deciding needs the Contactsend status: when the
// pair was never synced, or Contacthub changed. Otherwise a change seen on
// the Contacthub side alone costs no Contactsend call, and Contactsend's
// own changes reach hubsend through its webhook and the reconciliation.
func NeedsSend(last Synced, hub HubView) bool { return hubMoved(last, hub) }

// Decide compares both sides with the ledger at time now (which dates a
// Contactsend change without an event time, and a Contacthub one without
// an updatedAt).
func Decide(last Synced, hub HubView, send SendView, now time.Time) Decision {
	if !send.Read {
		if !last.Known {
			send = SendView{Read: true, Status: Pending}
		} else if last.Subscribed {
			send = SendView{Read: true, Status: Subscribed}
		} else {
			send = SendView{Read: true, Status: Unsubscribed}
		}
	}
	h, s := hub.subscribed(), send.Status.IsSubscribed()
	hubAt, hubUnordered := hub.UpdatedAt, false
	switch {
	case !hub.Present || hubAt.IsZero():
		hubAt = now
	case hubAt.After(now.Add(Tolerance)):
		// Dated in the future: a writer's clock runs ahead, or a client
		// set updatedAt. When the change really happened is unknown, so it
		// orders before no other change: it is dated now, and a conflict
		// with it is a tie. Otherwise it would beat every change made
		// until its date comes, an unsubscribe made after it included.
		hubAt, hubUnordered = now, true
	}
	sendAt := now
	if !send.At.IsZero() && send.At.Before(now) {
		sendAt = send.At
	}
	if !last.Known {
		return first(hub, send, h, s, hubAt, sendAt)
	}
	hubChanged := hubMoved(last, hub)
	sendChanged := s != last.Subscribed
	switch {
	case !hubChanged && !sendChanged:
		if last.Origin == Hub && hubUnsubscribed(hub) && send.Status.undecided() {
			// The synced state follows a Contacthub unsubscribe that
			// Contactsend shows as pending: a no reads as no.
			return Decision{Action: WriteSend, Subscribed: false, At: last.At, Origin: Hub, Rule: explicitUnsubscribe}
		}
		rule := "unchanged"
		if last.Origin == Send && hub.Present && hub.UpdatedAt.Equal(last.HubUpdatedAt) {
			rule = "echo: Contacthub holds what hubsend wrote"
		}
		return Decision{Action: None, Subscribed: last.Subscribed, At: last.At, Origin: last.Origin, Rule: rule}
	case hubChanged && !sendChanged:
		if h == last.Subscribed {
			if hubUnsubscribed(hub) && send.Status.undecided() {
				return Decision{Action: WriteSend, Subscribed: false, At: hubAt, Origin: Hub, Rule: explicitUnsubscribe}
			}
			return Decision{Action: Record, Subscribed: h, At: last.At, Origin: last.Origin,
				Rule: "Contacthub touched the subscription without changing the flag"}
		}
		if hub.Present && hubAt.Before(last.At.Add(-Tolerance)) {
			if h {
				return Decision{Action: WriteHub, Subscribed: false, At: last.At, Origin: last.Origin,
					Rule: "stale Contacthub subscribe, dated before the synced unsubscribe: undone"}
			}
			return Decision{Action: WriteSend, Subscribed: false, At: now, Origin: Hub,
				Rule: "stale Contacthub unsubscribe: applied, unsubscribes are never lost"}
		}
		return Decision{Action: WriteSend, Subscribed: h, At: hubAt, Origin: Hub, Rule: "Contacthub changed"}
	case !hubChanged && sendChanged:
		rule := "Contactsend changed"
		switch {
		case send.Status == Pending:
			rule = "Contactsend pending: not subscribed"
		case send.Status.undecided():
			rule = fmt.Sprintf("Contactsend status %d, which hubsend does not know: not subscribed", send.Status)
		}
		return Decision{Action: WriteHub, Subscribed: s, At: sendAt, Origin: Send, Rule: rule}
	}
	// Both changed. Flags are booleans: if both moved off the synced flag
	// they agree already; they differ only when Contacthub re-affirmed the
	// synced flag (a newer updatedAt) while Contactsend moved off it.
	if h == s {
		if hubUnsubscribed(hub) && send.Status.undecided() {
			// Both say not subscribed, but only Contacthub says no: the no
			// stands unless a pending (the person asking again, awaiting
			// confirmation) came after it. A value hubsend does not know
			// says nothing of the person, and the no stands.
			if send.Status != Pending {
				return Decision{Action: WriteSend, Subscribed: false, At: hubAt, Origin: Hub, Rule: explicitUnsubscribe}
			}
			if !hubAt.Before(sendAt.Add(-Tolerance)) {
				return Decision{Action: WriteSend, Subscribed: false, At: hubAt, Origin: Hub, Rule: explicitUnsubscribe, Uncertain: send.At.IsZero()}
			}
			return Decision{Action: Record, Subscribed: false, At: sendAt, Origin: Send,
				Rule: "Contactsend pending after Contacthub's unsubscribe: left pending", Uncertain: send.At.IsZero()}
		}
		return Decision{Action: Record, Subscribed: h, At: latest(hubAt, sendAt), Origin: Send, Rule: "both sides changed alike"}
	}
	if hubUnordered {
		return unsubscribe(h, now, "conflict with a Contacthub change dated in the future, which cannot be ordered: unsubscribed wins")
	}
	d := conflict(h, s, hubAt, sendAt)
	d.Uncertain = send.At.IsZero()
	return d
}

// conflict settles a Contacthub flag h dated hubAt against a Contactsend
// flag s dated sendAt: the later wins, a tie unsubscribes.
func conflict(h, s bool, hubAt, sendAt time.Time) Decision {
	switch d := hubAt.Sub(sendAt); {
	case d > Tolerance:
		return Decision{Action: WriteSend, Subscribed: h, At: hubAt, Origin: Hub, Rule: "conflict: Contacthub's change is later"}
	case d < -Tolerance:
		return Decision{Action: WriteHub, Subscribed: s, At: sendAt, Origin: Send, Rule: "conflict: Contactsend's change is later"}
	}
	return unsubscribe(h, latest(hubAt, sendAt), "conflict within the clock-skew tolerance: unsubscribed wins")
}

// unsubscribe writes false to whichever side is subscribed.
func unsubscribe(hubSubscribed bool, at time.Time, rule string) Decision {
	if hubSubscribed {
		return Decision{Action: WriteHub, Subscribed: false, At: at, Origin: Send, Rule: rule}
	}
	return Decision{Action: WriteSend, Subscribed: false, At: at, Origin: Hub, Rule: rule}
}

// first decides a pair with no synced state.
func first(hub HubView, send SendView, h, s bool, hubAt, sendAt time.Time) Decision {
	if hubUnsubscribed(hub) && send.Status.undecided() {
		return Decision{Action: WriteSend, Subscribed: false, At: hubAt, Origin: Hub, Rule: "first sync: " + explicitUnsubscribe}
	}
	if h == s {
		origin := Send
		if hub.Present {
			origin = Hub
		}
		return Decision{Action: Record, Subscribed: h, At: hubAt, Origin: origin, Rule: "first sync: the sides agree"}
	}
	hubExplicit, sendExplicit := hub.Present, !send.Status.undecided()
	switch {
	case hubExplicit && !sendExplicit:
		return Decision{Action: WriteSend, Subscribed: h, At: hubAt, Origin: Hub, Rule: "first sync: Contacthub's subscription is explicit, Contactsend is pending"}
	case sendExplicit && !hubExplicit:
		return Decision{Action: WriteHub, Subscribed: s, At: sendAt, Origin: Send, Rule: "first sync: Contactsend's status is explicit, Contacthub has no subscription"}
	}
	return unsubscribe(h, latest(hubAt, sendAt), "first sync: both sides explicit and different: unsubscribed wins")
}

// explicitUnsubscribe names the rule that turns Contactsend's pending into
// unsubscribed when Contacthub holds an explicit unsubscribe: pending means
// "awaiting confirmation", which a person who said no is not.
const explicitUnsubscribe = "Contacthub's explicit unsubscribe: Contactsend pending becomes unsubscribed"

// hubUnsubscribed reports an explicit Contacthub unsubscribe: a
// subscription object with subscribed false.
func hubUnsubscribed(h HubView) bool { return h.Present && !h.Subscribed }

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
