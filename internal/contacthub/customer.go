package contacthub

import (
	"encoding/json"
	"fmt"
)

// Customer is a Contacthub customer as the service represents it. Members
// this type does not name are kept in Unknown and written back by
// MarshalJSON, so Put replaces a customer without dropping data.
type Customer struct {
	ID         string `json:"id,omitempty"`
	NodeID     string `json:"nodeId,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
	Base       *Base  `json:"base,omitempty"`
	// Extended follows the workspace's extended property schema. Numbers
	// decode as json.Number so large integers survive.
	Extended map[string]any `json:"extended,omitempty"`
	// Consents is kept raw: its schema is large and hubsend only passes it on.
	Consents     json.RawMessage `json:"consents,omitempty"`
	Tags         *Tags           `json:"tags,omitempty"`
	Extra        string          `json:"extra,omitempty"`
	Enabled      *bool           `json:"enabled,omitempty"`
	RegisteredAt Time            `json:"registeredAt,omitzero"`
	UpdatedAt    Time            `json:"updatedAt,omitzero"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Base is customer.base, the properties Contacthub defines for everyone.
type Base struct {
	PictureURL    string         `json:"pictureUrl,omitempty"`
	Title         string         `json:"title,omitempty"`
	Prefix        string         `json:"prefix,omitempty"`
	FirstName     string         `json:"firstName,omitempty"`
	LastName      string         `json:"lastName,omitempty"`
	MiddleName    string         `json:"middleName,omitempty"`
	Gender        string         `json:"gender,omitempty"`
	Dob           string         `json:"dob,omitempty"` // YYYY-MM-DD
	Locale        string         `json:"locale,omitempty"`
	Timezone      string         `json:"timezone,omitempty"`
	Contacts      *Contacts      `json:"contacts,omitempty"`
	Address       *Address       `json:"address,omitempty"`
	Subscriptions []Subscription `json:"subscriptions,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Contacts is base.contacts; otherContacts and mobileDevices stay in Unknown.
type Contacts struct {
	Email       string `json:"email,omitempty"`
	Fax         string `json:"fax,omitempty"`
	MobilePhone string `json:"mobilePhone,omitempty"`
	Phone       string `json:"phone,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Address is base.address.
type Address struct {
	Street   string `json:"street,omitempty"`
	City     string `json:"city,omitempty"`
	Country  string `json:"country,omitempty"`
	Region   string `json:"region,omitempty"`
	Province string `json:"province,omitempty"`
	Zip      string `json:"zip,omitempty"`
	Geo      *Geo   `json:"geo,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Geo is a position in decimal degrees.
type Geo struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Tags are the customer's automatic and manual tags.
type Tags struct {
	Auto   []string `json:"auto,omitempty"`
	Manual []string `json:"manual,omitempty"`
}

// Subscription is one entry of base.subscriptions, also the body of the
// /customers/{id}/subscriptions sub-resource. The flag is "subscribed", as the
// service and the JSON schemas name it (Swagger 1.51 says "enable", wrongly);
// null reads as false.
type Subscription struct {
	ID           string       `json:"id"`
	Name         string       `json:"name,omitempty"`
	Type         string       `json:"type,omitempty"`
	Kind         string       `json:"kind,omitempty"` // DIGITAL_MESSAGE, SERVICE or OTHER
	Subscribed   bool         `json:"subscribed"`
	StartDate    Time         `json:"startDate,omitzero"`
	EndDate      Time         `json:"endDate,omitzero"`
	SubscriberID string       `json:"subscriberId,omitempty"`
	RegisteredAt Time         `json:"registeredAt,omitzero"`
	UpdatedAt    Time         `json:"updatedAt,omitzero"`
	Preferences  []Preference `json:"preferences,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Preference is a key/value preference of a subscription.
type Preference struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (c Customer) MarshalJSON() ([]byte, error) {
	type plain Customer
	return encodeWithUnknown(plain(c), c.Unknown)
}

func (c *Customer) UnmarshalJSON(data []byte) error {
	type plain Customer
	return unmarshalKeepingUnknown(data, (*plain)(c), &c.Unknown)
}

func (b Base) MarshalJSON() ([]byte, error) {
	type plain Base
	return encodeWithUnknown(plain(b), b.Unknown)
}

func (b *Base) UnmarshalJSON(data []byte) error {
	type plain Base
	return unmarshalKeepingUnknown(data, (*plain)(b), &b.Unknown)
}

func (c Contacts) MarshalJSON() ([]byte, error) {
	type plain Contacts
	return encodeWithUnknown(plain(c), c.Unknown)
}

func (c *Contacts) UnmarshalJSON(data []byte) error {
	type plain Contacts
	return unmarshalKeepingUnknown(data, (*plain)(c), &c.Unknown)
}

func (a Address) MarshalJSON() ([]byte, error) {
	type plain Address
	return encodeWithUnknown(plain(a), a.Unknown)
}

func (a *Address) UnmarshalJSON(data []byte) error {
	type plain Address
	return unmarshalKeepingUnknown(data, (*plain)(a), &a.Unknown)
}

func (s Subscription) MarshalJSON() ([]byte, error) {
	type plain Subscription
	return encodeWithUnknown(plain(s), s.Unknown)
}

func (s *Subscription) UnmarshalJSON(data []byte) error {
	type plain Subscription
	return unmarshalKeepingUnknown(data, (*plain)(s), &s.Unknown)
}

// Email is base.contacts.email, or "".
func (c Customer) Email() string {
	if c.Base == nil || c.Base.Contacts == nil {
		return ""
	}
	return c.Base.Contacts.Email
}

// Subscription returns the base.subscriptions entry with the given id.
func (c Customer) Subscription(id string) (Subscription, bool) {
	if c.Base == nil {
		return Subscription{}, false
	}
	for _, s := range c.Base.Subscriptions {
		if s.ID == id {
			return s, true
		}
	}
	return Subscription{}, false
}

// DecodeCustomer decodes a customer from JSON, such as an updates entity.
func DecodeCustomer(data []byte) (Customer, error) {
	var c Customer
	if err := json.Unmarshal(data, &c); err != nil {
		return Customer{}, fmt.Errorf("contacthub: decoding customer: %w", err)
	}
	return c, nil
}
