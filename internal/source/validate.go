package source

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hubsend/hubsend/internal/mapping"
)

// Limits on free text, generous for people and small for storage.
const (
	MaxNameLength        = 100
	MaxDescriptionLength = 1000
	MaxKeyLength         = 256
	MaxFieldMappings     = 500
	MaxSubscriptions     = 50
	// MaxContactsendID is the largest userdb or subscription system id:
	// Contactsend types both as xs:int (sourceIdentifier, Subscription.id).
	MaxContactsendID = 1<<31 - 1
	// MaxIDLength bounds identifiers: node ids, field paths and names,
	// subscription ids, web form codes.
	MaxIDLength = 256
)

// Problem is one thing wrong with a source, located by a JSON path into the
// API's representation so a form can point at the field.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Problems is every problem found at once; people fix a form in one pass.
type Problems []Problem

func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, pr := range p {
		msgs[i] = pr.Path + ": " + pr.Message
	}
	return "invalid source: " + strings.Join(msgs, "; ")
}

func (p *Problems) add(path, format string, args ...any) {
	*p = append(*p, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Check finds what is wrong with a source on its own, before any lookup:
// required values, sizes, duplicates, and the shape of the mapping.
func Check(s Source) Problems {
	var p Problems
	checkText(&p, "name", s.Name, MaxNameLength, true)
	checkText(&p, "description", s.Description, MaxDescriptionLength, false)

	switch {
	case len(s.Nodes) == 0:
		p.add("nodes", "a source serves exactly one node; none given")
	case len(s.Nodes) > 1:
		p.add("nodes", "a source serves exactly one node; %d given", len(s.Nodes))
	case strings.TrimSpace(s.Nodes[0]) == "":
		p.add("nodes[0]", "node id is empty")
	}
	for i, node := range s.Nodes {
		if strings.TrimSpace(node) != "" {
			checkID(&p, fmt.Sprintf("nodes[%d]", i), node)
		}
	}

	props := s.Properties
	checkKey(&p, "properties.userKey", props.UserKey)
	checkKey(&p, "properties.apiKey", props.APIKey)
	if props.UserDBID <= 0 || props.UserDBID > MaxContactsendID {
		p.add("properties.userDbId", "must be a positive userdb id, at most %d", MaxContactsendID)
	}

	switch props.OnCustomerDeleted {
	case "", KeepSubscriber, RemoveSubscriber, UnsubscribeSubscriber:
	default:
		p.add("properties.onCustomerDeleted", "must be %q, %q or %q", UnsubscribeSubscriber, KeepSubscriber, RemoveSubscriber)
	}
	switch props.OnUnmatchable {
	case "", FailUnmatchable, SkipUnmatchable:
	default:
		p.add("properties.onUnmatchable", "must be %q or %q", FailUnmatchable, SkipUnmatchable)
	}
	if props.MaxInFlight < 0 || props.MaxInFlight > MaxInFlightLimit {
		p.add("properties.maxInFlight", "must be between 1 and %d (0 means the default, %d)", MaxInFlightLimit, DefaultMaxInFlight)
	}
	checkMapping(&p, props.FieldMapping)
	checkSubscriptions(&p, props.Subscriptions)
	return p
}

func checkText(p *Problems, path, value string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(value) == "":
		p.add(path, "is required")
	case utf8.RuneCountInString(value) > max:
		p.add(path, "is longer than %d characters", max)
	default:
		if why := TextProblem(value); why != "" {
			p.add(path, "%s", why)
		}
	}
}

// checkID checks an identifier: text that must match something in
// Contacthub or Contactsend exactly, so surrounding spaces are a mistake.
func checkID(p *Problems, path, value string) {
	if strings.TrimSpace(value) == "" {
		p.add(path, "is required")
	} else if why := IDProblem(value); why != "" {
		p.add(path, "%s", why)
	}
}

// IDProblem says why text cannot be an identifier that travels in a URL
// path segment (a node or customer id), or returns "" when it can.
func IDProblem(value string) string {
	switch {
	case strings.TrimSpace(value) != value:
		return "must not begin or end with spaces"
	case value == "." || value == "..":
		return "is not an id" // a path segment that would climb out of its collection
	case len(value) > MaxIDLength:
		return fmt.Sprintf("is longer than %d characters", MaxIDLength)
	}
	return TextProblem(value)
}

// checkKey checks a Contactsend credential. A key with surrounding spaces
// is refused, not trimmed: it is either a paste mistake or a second spelling
// of the same key, and neither should be stored.
func checkKey(p *Problems, path, value string) {
	before := len(*p)
	checkText(p, path, value, MaxKeyLength, true)
	if len(*p) == before && strings.TrimSpace(value) != value {
		p.add(path, "must not begin or end with spaces or line breaks: paste the key exactly")
	}
}

// TextProblem says why a string may not be stored, or returns "" when it
// may: invalid UTF-8, control characters (which break logs, CSV exports
// and the console) and bidirectional formatting characters (which make a
// name display as something other than what it is).
func TextProblem(value string) string {
	switch {
	case !utf8.ValidString(value):
		return "is not valid UTF-8"
	case strings.ContainsFunc(value, unicode.IsControl):
		return "contains control characters"
	case strings.ContainsFunc(value, isInvisibleFormat):
		return "contains bidirectional or line-separator formatting characters"
	}
	return ""
}

func isInvisibleFormat(r rune) bool {
	return unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' || r == '\ufeff'
}

// UnmappableHubField says why a Contacthub field may never be sent to
// Contactsend, or returns "" when it may. A customer's login credential
// (base.credential.username and .password) belongs to the customer's
// account, not to a mailing list, and would land in clear text in a userdb
// that many people can read and export.
func UnmappableHubField(path string) string {
	if path == "base.credential" || strings.HasPrefix(path, "base.credential.") {
		return path + " is a login credential and is never sent to Contactsend"
	}
	return ""
}

func checkMapping(p *Problems, mappings []FieldMapping) {
	if len(mappings) == 0 {
		p.add("properties.fieldMapping", "map at least one field")
		return
	}
	if len(mappings) > MaxFieldMappings {
		p.add("properties.fieldMapping", "at most %d mapped fields", MaxFieldMappings)
		return
	}
	sendSeen := make(map[string]int)
	hubSeen := make(map[string]int)
	matches := 0
	for i, m := range mappings {
		path := fmt.Sprintf("properties.fieldMapping[%d]", i)
		if strings.TrimSpace(m.HubField) == "" {
			p.add(path+".hubField", "is required")
		} else if why := UnmappableHubField(m.HubField); why != "" {
			p.add(path+".hubField", "%s", why)
		} else if first, dup := hubSeen[m.HubField]; dup {
			p.add(path+".hubField", "%s is already mapped at fieldMapping[%d]", m.HubField, first)
		} else {
			hubSeen[m.HubField] = i
		}
		if strings.TrimSpace(m.SendField) == "" {
			p.add(path+".sendField", "is required")
		} else if first, dup := sendSeen[m.SendField]; dup {
			p.add(path+".sendField", "Contactsend field %s is already mapped at fieldMapping[%d]", m.SendField, first)
		} else {
			sendSeen[m.SendField] = i
		}
		if strings.TrimSpace(m.HubField) != "" {
			checkID(p, path+".hubField", m.HubField)
		}
		if strings.TrimSpace(m.SendField) != "" {
			checkID(p, path+".sendField", m.SendField)
		}
		if mapping.RegistrationField(m.SendField) {
			p.add(path+".sendField", "%s holds a subscription status; map it in subscriptions instead", m.SendField)
		}
		if m.Match {
			matches++
			if m.ClearOnNull {
				p.add(path+".clearOnNull", "a match field cannot be cleared: it is how the subscriber is found")
			}
		}
	}
	if matches == 0 {
		p.add("properties.fieldMapping", "mark at least one mapped field as a match field")
	}
}

func checkSubscriptions(p *Problems, rows []Subscription) {
	if len(rows) > MaxSubscriptions {
		p.add("properties.subscriptions", "at most %d subscription rows", MaxSubscriptions)
		return
	}
	hubSeen := make(map[string]int)
	sendSeen := make(map[int64]int)
	for i, row := range rows {
		path := fmt.Sprintf("properties.subscriptions[%d]", i)
		if strings.TrimSpace(row.HubSubscriptionID) == "" {
			p.add(path+".hubSubscriptionId", "is required")
		} else if first, dup := hubSeen[row.HubSubscriptionID]; dup {
			p.add(path+".hubSubscriptionId", "%s is already synced at subscriptions[%d]", row.HubSubscriptionID, first)
		} else {
			hubSeen[row.HubSubscriptionID] = i
		}
		if strings.TrimSpace(row.HubSubscriptionID) != "" {
			checkID(p, path+".hubSubscriptionId", row.HubSubscriptionID)
		}
		if row.SendSubscriptionID <= 0 {
			p.add(path+".sendSubscriptionId", "is required")
		} else if row.SendSubscriptionID > MaxContactsendID {
			p.add(path+".sendSubscriptionId", "must be at most %d", MaxContactsendID)
		} else if first, dup := sendSeen[row.SendSubscriptionID]; dup {
			p.add(path+".sendSubscriptionId", "subscription system %d is already synced at subscriptions[%d]", row.SendSubscriptionID, first)
		} else {
			sendSeen[row.SendSubscriptionID] = i
		}
		checkText(p, path+".webformCode", row.WebformCode, 64, true)
		if strings.TrimSpace(row.WebformCode) != row.WebformCode && strings.TrimSpace(row.WebformCode) != "" {
			p.add(path+".webformCode", "must not begin or end with spaces")
		}
	}
}

// NodeKind tells entry nodes, where customers are written, from aggregate
// nodes, which unify profiles from several entry nodes.
type NodeKind string

// Node kinds as Contacthub names them.
const (
	EntryNode     NodeKind = "ENTRY"
	AggregateNode NodeKind = "AGGREGATE"
)

// SendSubscriptionSystem is a Contactsend subscription system of the userdb.
type SendSubscriptionSystem struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	RegistrationField string `json:"registrationField"`
	WebformCode       string `json:"webformCode"`
}

// Catalog is what the two systems say exists, looked up live by the caller.
// A nil slice means "not looked up" and skips the checks that need it, so a
// caller that could not reach one side still gets the other side's problems.
type Catalog struct {
	NodeFound     bool
	NodeKind      NodeKind
	HubFields     []mapping.HubField
	SendFields    []mapping.SendField
	Subscriptions []SendSubscriptionSystem
}

// CheckAgainst finds what is wrong with a source given what exists: the node,
// the Contacthub fields, the userdb's fields and subscription systems.
func CheckAgainst(s Source, c Catalog) Problems {
	var p Problems
	if len(s.Nodes) == 1 && !c.NodeFound {
		p.add("nodes[0]", "node %s not found in the workspace", s.Nodes[0])
	}
	if c.HubFields != nil || c.SendFields != nil {
		hub := make(map[string]mapping.HubField, len(c.HubFields))
		for _, f := range c.HubFields {
			hub[f.Path] = f
		}
		send := make(map[string]mapping.SendField, len(c.SendFields))
		for _, f := range c.SendFields {
			send[f.Name] = f
		}
		for i, m := range s.Properties.FieldMapping {
			path := fmt.Sprintf("properties.fieldMapping[%d]", i)
			hf, hubOK := hub[m.HubField]
			if c.HubFields != nil && !hubOK && m.HubField != "" {
				p.add(path+".hubField", "Contacthub field %s does not exist", m.HubField)
			}
			sf, sendOK := send[m.SendField]
			if c.SendFields != nil && !sendOK && m.SendField != "" {
				p.add(path+".sendField", "Contactsend field %s does not exist in userdb %d", m.SendField, s.Properties.UserDBID)
			}
			if hubOK && sendOK && !mapping.Compatible(hf.Type, sf.Type) {
				p.add(path+".sendField", "Contactsend field %s is %s and cannot hold Contacthub %s values of %s", sf.Name, sf.Type, hf.Type, hf.Path)
			}
		}
	}
	if len(s.Properties.Subscriptions) > 0 && c.NodeFound && c.NodeKind == AggregateNode {
		p.add("properties.subscriptions", "subscription sync is not available on aggregate nodes")
	}
	if c.Subscriptions != nil {
		systems := make(map[int64]SendSubscriptionSystem, len(c.Subscriptions))
		registration := make(map[string]bool, len(c.Subscriptions))
		for _, sys := range c.Subscriptions {
			systems[sys.ID] = sys
			registration[sys.RegistrationField] = true
		}
		// A column the userdb's subscription systems keep their status in
		// is written only through the system's web form, which records
		// the consent; a field mapping would write it as plain data. The
		// __clsN names are refused by Check already; this catches the
		// columns the systems name otherwise.
		for i, m := range s.Properties.FieldMapping {
			if registration[m.SendField] && !mapping.RegistrationField(m.SendField) {
				p.add(fmt.Sprintf("properties.fieldMapping[%d].sendField", i), "%s holds a subscription status; map it in subscriptions instead", m.SendField)
			}
		}
		for i, row := range s.Properties.Subscriptions {
			path := fmt.Sprintf("properties.subscriptions[%d]", i)
			sys, ok := systems[row.SendSubscriptionID]
			switch {
			case row.SendSubscriptionID <= 0:
			case !ok:
				p.add(path+".sendSubscriptionId", "subscription system %d does not exist in userdb %d", row.SendSubscriptionID, s.Properties.UserDBID)
			case row.WebformCode != "" && row.WebformCode != sys.WebformCode:
				p.add(path+".webformCode", "web form code %s does not belong to subscription system %d (%s)", row.WebformCode, sys.ID, sys.Name)
			}
		}
	}
	return p
}
