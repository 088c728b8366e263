// Package mapping knows how Contacthub customer fields relate to the fields
// of a Contactsend userdb: which types can feed which, and (as the sync grows)
// how a value is coerced on the way. It is plain Go with no I/O, so every
// rule is testable on its own.
package mapping

import (
	"slices"
	"strings"
)

// HubType is the type of a Contacthub customer field.
type HubType string

// Contacthub field types, as the workspace's property schemas describe them.
const (
	HubString   HubType = "string"
	HubEmail    HubType = "email"
	HubInteger  HubType = "integer"
	HubNumber   HubType = "number"
	HubBoolean  HubType = "boolean"
	HubDate     HubType = "date"
	HubDateTime HubType = "datetime"
)

// SendType is the type of a Contactsend userdb field (SubscriberSourceField.type).
type SendType string

// Contactsend field types, as the ClabService schema enumerates them.
const (
	SendFlag            SendType = "FLAG"
	SendDate            SendType = "DATE"
	SendDateTime        SendType = "DATETIME"
	SendDouble          SendType = "DOUBLE"
	SendInteger         SendType = "INTEGER"
	SendPositiveInteger SendType = "POSITIVE_INTEGER"
	SendLong            SendType = "LONG"
	SendChar            SendType = "CHAR"
	SendString          SendType = "STRING"
	SendText            SendType = "TEXT"
	SendTime            SendType = "TIME"
	SendTimestamp       SendType = "TIMESTAMP"
)

// IsText reports whether a column of type t holds text: the only type whose
// value can be cleared (an empty text, which Contactsend stores as NULL),
// and which the userdb compares without regard to case.
func (t SendType) IsText() bool {
	return t == SendString || t == SendChar || t == SendText
}

// HubField is one mappable Contacthub customer field.
type HubField struct {
	Path  string  `json:"path"`
	Type  HubType `json:"type"`
	Label string  `json:"label,omitempty"`
}

// SendField is one field of a Contactsend userdb.
type SendField struct {
	Name       string   `json:"name"`
	Type       SendType `json:"type"`
	EmailField bool     `json:"emailField,omitempty"`
}

// accepts lists, for each Contacthub type, the Contactsend types that can hold
// its values without losing meaning. Text columns take anything in its
// canonical text form; narrower numeric columns are refused because a
// Contacthub number may not fit them.
var accepts = map[HubType][]SendType{
	HubString:   {SendString, SendText, SendChar},
	HubEmail:    {SendString, SendText},
	HubInteger:  {SendInteger, SendLong, SendPositiveInteger, SendDouble, SendString, SendText},
	HubNumber:   {SendDouble, SendString, SendText},
	HubBoolean:  {SendFlag, SendString, SendText},
	HubDate:     {SendDate, SendDateTime, SendTimestamp, SendString, SendText},
	HubDateTime: {SendDateTime, SendTimestamp, SendDate, SendString, SendText},
}

// Compatible reports whether values of a Contacthub field of type hub can be
// written to a Contactsend field of type send.
func Compatible(hub HubType, send SendType) bool {
	return slices.Contains(accepts[hub], send)
}

// RegistrationField reports whether a userdb column holds a subscription
// status (__cls1, __cls2, ...). Those columns belong to the subscription
// systems and are written only through subscription sync, never mapped.
func RegistrationField(name string) bool {
	return strings.HasPrefix(name, "__cls")
}

// Options returns the fields of a userdb that can receive a Contacthub field
// of type hub, in the userdb's order.
func Options(hub HubType, fields []SendField) []SendField {
	var out []SendField
	for _, f := range fields {
		if !RegistrationField(f.Name) && Compatible(hub, f.Type) {
			out = append(out, f)
		}
	}
	return out
}
