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

	props := s.Properties
	checkText(&p, "properties.userKey", props.UserKey, MaxKeyLength, true)
	checkText(&p, "properties.apiKey", props.APIKey, MaxKeyLength, true)
	if props.UserDBID <= 0 {
		p.add("properties.userDbId", "must be a positive userdb id")
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
	case !utf8.ValidString(value):
		p.add(path, "is not valid UTF-8")
	case utf8.RuneCountInString(value) > max:
		p.add(path, "is longer than %d characters", max)
	case strings.ContainsFunc(value, unicode.IsControl):
		p.add(path, "contains control characters")
	}
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
		if row.SendSubscriptionID <= 0 {
			p.add(path+".sendSubscriptionId", "is required")
		} else if first, dup := sendSeen[row.SendSubscriptionID]; dup {
			p.add(path+".sendSubscriptionId", "subscription system %d is already synced at subscriptions[%d]", row.SendSubscriptionID, first)
		} else {
			sendSeen[row.SendSubscriptionID] = i
		}
		checkText(p, path+".webformCode", row.WebformCode, 64, true)
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
		for _, sys := range c.Subscriptions {
			systems[sys.ID] = sys
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
