package contacthub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// FieldType is the kind of value a customer field holds, as far as mapping
// it to another system cares.
type FieldType string

// The field types Fields reports.
const (
	String   FieldType = "string"
	Email    FieldType = "email"
	Integer  FieldType = "integer"
	Number   FieldType = "number"
	Boolean  FieldType = "boolean"
	Date     FieldType = "date"
	DateTime FieldType = "datetime"
)

// Field is one mappable customer field.
type Field struct {
	// Path is the dotted path in the customer JSON, e.g. "base.contacts.email",
	// "extended.loyaltyPoints" or "externalId"; Customer.Lookup reads it.
	Path  string
	Type  FieldType
	Label string
}

// Fields lists every customer field a mapping can use: externalId, the
// workspace's base properties flattened (GET /models/properties/base, whose
// schema member is a JSON Schema; disabled ones per
// GET /configuration/properties/base are left out) and its extended
// properties (GET /configuration/properties/extended). Arrays, such as
// subscriptions, jobs or otherContacts, are not single values and are left
// out.
//
// Swagger 1.51 grants the base model to ADMIN, USER and GUEST only; when a
// source token is refused it (403) or the resource is missing (404), Fields
// falls back to the standard base properties this package knows.
func (c *Client) Fields(ctx context.Context) ([]Field, error) {
	fields := []Field{{Path: "externalId", Type: String, Label: "External ID"}}

	var model struct {
		Schema json.RawMessage `json:"schema"`
	}
	var base []Field
	err := c.call(ctx, request{method: http.MethodGet, path: "/models/properties/base"}, &model)
	switch {
	case err == nil:
		if base, err = ParseFieldSchema("base", schemaText(model.Schema)); err != nil {
			return nil, fmt.Errorf("contacthub: base property schema: %w", err)
		}
	case errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound):
		base = StandardBaseFields()
	default:
		return nil, err
	}

	var settings struct {
		Elements []struct {
			Name    string `json:"name"`
			Enabled *bool  `json:"enabled"`
		} `json:"elements"`
	}
	err = c.call(ctx, request{method: http.MethodGet, path: "/configuration/properties/base"}, &settings)
	if err != nil && !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	disabled := map[string]bool{}
	for _, s := range settings.Elements {
		if s.Enabled != nil && !*s.Enabled {
			disabled["base."+s.Name] = true
		}
	}
	for _, f := range base {
		if !disabledPath(disabled, f.Path) {
			fields = append(fields, f)
		}
	}

	var extended struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/configuration/properties/extended"}, &extended); err != nil {
		return nil, err
	}
	if text := schemaText(extended.Schema); len(text) > 0 {
		ext, err := ParseFieldSchema("extended", text)
		if err != nil {
			return nil, fmt.Errorf("contacthub: extended property schema: %w", err)
		}
		fields = append(fields, ext...)
	}
	return fields, nil
}

// disabledPath reports whether path or one of its parents is disabled.
func disabledPath(disabled map[string]bool, path string) bool {
	for p := path; ; {
		if disabled[p] {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// schemaText unwraps a schema member that the spec types as a string holding
// JSON, while also accepting the schema object itself.
func schemaText(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	}
	return raw
}

// ParseFieldSchema flattens a JSON Schema object into fields under prefix
// ("base", "extended"): nested objects become dotted paths, arrays and
// free-form objects are skipped, and so are properties whose
// contactlabProperties.enabled is false. Types may be a name or a list with
// "null"; string formats email, date and date-time give Email, Date and
// DateTime. Labels come from contactlabProperties.label, then title, and are
// joined with their parents' as "Address › City". Fields keep the schema's
// property order.
func ParseFieldSchema(prefix string, schema []byte) ([]Field, error) {
	if len(bytes.TrimSpace(schema)) == 0 {
		return nil, nil
	}
	var root schemaNode
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, err
	}
	var fields []Field
	collectFields(&fields, prefix, "", root)
	return fields, nil
}

type schemaNode struct {
	Type                 json.RawMessage `json:"type"`
	Format               string          `json:"format"`
	Title                string          `json:"title"`
	Properties           orderedSchemas  `json:"properties"`
	ContactlabProperties struct {
		Label   string `json:"label"`
		Enabled *bool  `json:"enabled"`
	} `json:"contactlabProperties"`
}

type namedSchema struct {
	name   string
	schema schemaNode
}

// orderedSchemas keeps "properties" in document order; a map would lose it
// and the order is how people expect to see the fields.
type orderedSchemas []namedSchema

func (o *orderedSchemas) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("properties must be an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var s schemaNode
		if err := dec.Decode(&s); err != nil {
			return fmt.Errorf("property %q: %w", name, err)
		}
		*o = append(*o, namedSchema{name: name, schema: s})
	}
	_, err = dec.Token()
	return err
}

// mainType is the schema's type other than "null".
func (s schemaNode) mainType() string {
	var one string
	if json.Unmarshal(s.Type, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(s.Type, &many) == nil {
		for _, t := range many {
			if t != "null" {
				return t
			}
		}
	}
	if len(s.Properties) > 0 {
		return "object"
	}
	return ""
}

func collectFields(fields *[]Field, path, label string, node schemaNode) {
	for _, p := range node.Properties {
		s := p.schema
		if s.ContactlabProperties.Enabled != nil && !*s.ContactlabProperties.Enabled {
			continue
		}
		childPath := path + "." + p.name
		childLabel := s.ContactlabProperties.Label
		if childLabel == "" {
			childLabel = s.Title
		}
		if childLabel == "" {
			childLabel = p.name
		}
		if label != "" {
			childLabel = label + " › " + childLabel
		}
		var t FieldType
		switch s.mainType() {
		case "object":
			collectFields(fields, childPath, childLabel, s)
			continue
		case "array", "":
			continue
		case "integer":
			t = Integer
		case "number":
			t = Number
		case "boolean":
			t = Boolean
		default:
			switch s.Format {
			case "email":
				t = Email
			case "date":
				t = Date
			case "date-time":
				t = DateTime
			default:
				t = String
			}
		}
		*fields = append(*fields, Field{Path: childPath, Type: t, Label: childLabel})
	}
}

// StandardBaseFields are the scalar base properties every workspace has, as
// Contacthub's published customer base schema defines them.
func StandardBaseFields() []Field {
	return []Field{
		{"base.pictureUrl", String, "Picture"},
		{"base.title", String, "Title"},
		{"base.prefix", String, "Prefix"},
		{"base.firstName", String, "First name"},
		{"base.lastName", String, "Last name"},
		{"base.middleName", String, "Middle name"},
		{"base.gender", String, "Gender"},
		{"base.dob", Date, "Date of birth"},
		{"base.locale", String, "Locale"},
		{"base.timezone", String, "Timezone"},
		{"base.contacts.email", Email, "Contacts › Email"},
		{"base.contacts.fax", String, "Contacts › Fax"},
		{"base.contacts.mobilePhone", String, "Contacts › Mobile phone"},
		{"base.contacts.phone", String, "Contacts › Phone"},
		{"base.address.street", String, "Address › Street"},
		{"base.address.city", String, "Address › City"},
		{"base.address.country", String, "Address › Country"},
		{"base.address.region", String, "Address › Region"},
		{"base.address.province", String, "Address › Province"},
		{"base.address.zip", String, "Address › Zip"},
		{"base.address.geo.lat", Number, "Address › Geo › Latitude"},
		{"base.address.geo.lon", Number, "Address › Geo › Longitude"},
		{"base.credential.username", String, "Credential › Username"},
		{"base.credential.password", String, "Credential › Password"},
		{"base.socialProfile.facebook", String, "Social profile › Facebook"},
		{"base.socialProfile.google", String, "Social profile › Google"},
		{"base.socialProfile.instagram", String, "Social profile › Instagram"},
		{"base.socialProfile.linkedin", String, "Social profile › Linkedin"},
		{"base.socialProfile.qzone", String, "Social profile › Qzone"},
		{"base.socialProfile.twitter", String, "Social profile › Twitter"},
	}
}
