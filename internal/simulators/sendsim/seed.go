package sendsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// Seed is the initial state of a simulator, usually read from JSON (see
// testdata/seed.json). Snapshot returns the current state in the same shape.
type Seed struct {
	// NextSubscriberID is the id the next added subscriber gets. Zero means
	// one more than the largest seeded id (or 1). Seeds set it above 2^31 so
	// clients meet ids that do not fit an int32.
	NextSubscriberID int64     `json:"nextSubscriberId,omitempty"`
	Accounts         []Account `json:"accounts"`
	UserDBs          []UserDB  `json:"userDbs"`
}

// Account is one pair of credentials and the userDbs it may use.
type Account struct {
	APIKey  string  `json:"apiKey"`
	UserKey string  `json:"userKey"`
	UserDBs []int64 `json:"userDbs"`
}

// UserDB is a subscriber source: its typed fields, its subscription systems
// and its subscribers.
type UserDB struct {
	ID            int64          `json:"id"`
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	Locked        bool           `json:"locked,omitempty"`
	ReadOnly      bool           `json:"readOnly,omitempty"`
	Fields        []Field        `json:"fields"`
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
	Subscribers   []Subscriber   `json:"subscribers,omitempty"`
}

// Field is a userDb column. Unique columns refuse duplicate values, as a
// UNIQUE index would; others allow them.
type Field struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	EmailField bool   `json:"emailField,omitempty"`
	PhoneField bool   `json:"phoneField,omitempty"`
	Unique     bool   `json:"unique,omitempty"`
}

// Subscription is a subscription system. Its registration field (__clsN) is a
// column of the userDb holding 1 (subscribed), -1 (unsubscribed) or 0
// (pending, the default); it need not be listed among the fields.
type Subscription struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	RegistrationField string `json:"registrationField"`
	WebformCode       string `json:"webformCode"`
}

// Subscriber is a row of a userDb. In a seed, attribute values may be JSON
// strings, numbers or booleans; Snapshot and the admin API write them as the
// strings the simulator stores (dates as "2006-01-02 15:04:05" and so on).
type Subscriber struct {
	ID         int64          `json:"id"`
	Attributes map[string]any `json:"attributes"`
}

// LoadSeed reads a JSON seed file.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("sendsim: load seed: %w", err)
	}
	seed, err := ParseSeed(data)
	if err != nil {
		return Seed{}, fmt.Errorf("sendsim: load seed %s: %w", path, err)
	}
	return seed, nil
}

// ParseSeed reads a JSON seed. Numbers are kept exact, so long ids and
// values survive.
func ParseSeed(data []byte) (Seed, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	d.DisallowUnknownFields()
	var seed Seed
	if err := d.Decode(&seed); err != nil {
		return Seed{}, err
	}
	if _, err := newState(seed); err != nil {
		return Seed{}, err
	}
	return seed, nil
}

var registrationFieldPattern = regexp.MustCompile(`^__cls[0-9]+$`)

// seedText renders a seed attribute value as text for coercion.
func seedText(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", true, nil
	case string:
		return x, false, nil
	case json.Number:
		return x.String(), false, nil
	case bool:
		return strconv.FormatBool(x), false, nil
	case int:
		return strconv.Itoa(x), false, nil
	case int32:
		return strconv.FormatInt(int64(x), 10), false, nil
	case int64:
		return strconv.FormatInt(x, 10), false, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), false, nil
	}
	return "", false, fmt.Errorf("unsupported value %T", v)
}
