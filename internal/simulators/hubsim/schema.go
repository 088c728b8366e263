package hubsim

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// timeLayout is Contacthub's timestamp format.
const timeLayout = "2006-01-02T15:04:05.000-0700"

var parseLayouts = []string{
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
}

// parseTime reads a timestamp in the service's format or RFC 3339.
func parseTime(s string) (time.Time, bool) {
	for _, layout := range parseLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// FieldError is one errors[] entry of an error body.
type FieldError struct {
	Message string `json:"message"`
	Path    string `json:"path"`
	Data    any    `json:"data"`
	Code    any    `json:"code"`
}

// validator checks decoded JSON (numbers as json.Number) against the subset
// of JSON Schema that Contacthub's property schemas use: type (a name or a
// list with "null"), format (email, date, date-time, uri), enum, pattern,
// properties, additionalProperties: false, items and required. It returns
// the value normalised (timestamps rewritten in the service's format) and
// appends what is wrong to errs.
type validator struct {
	errs []FieldError
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Message: fmt.Sprintf(format, args...), Path: path})
}

func (v *validator) check(schema map[string]any, value any, path string) any {
	if schema == nil {
		return value
	}
	types := schemaTypes(schema)
	kind := jsonKind(value)
	if len(types) > 0 && !typeAllowed(types, kind) {
		v.fail(path, "expected %s, found %s", strings.Join(types, " or "), kind)
		return value
	}
	if enum, ok := schema["enum"].([]any); ok && value != nil {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(value) {
				found = true
				break
			}
		}
		if !found {
			v.fail(path, "value %v is not one of the allowed values", value)
		}
	}
	switch val := value.(type) {
	case string:
		return v.checkString(schema, val, path)
	case map[string]any:
		return v.checkObject(schema, val, path)
	case []any:
		items, _ := schema["items"].(map[string]any)
		for i, item := range val {
			val[i] = v.check(items, item, fmt.Sprintf("%s/%d", path, i))
		}
		return val
	}
	return value
}

func (v *validator) checkString(schema map[string]any, s, path string) any {
	if pattern, ok := schema["pattern"].(string); ok {
		if re, err := regexp.Compile(pattern); err == nil && !re.MatchString(s) {
			v.fail(path, "string does not match pattern %s", pattern)
		}
	}
	switch schema["format"] {
	case "email":
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s || a.Name != "" {
			v.fail(path, "%q is not a valid email address", s)
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			v.fail(path, "%q is not a date (YYYY-MM-DD)", s)
		}
	case "date-time":
		t, ok := parseTime(s)
		if !ok {
			v.fail(path, "%q is not a date-time", s)
			return s
		}
		return formatTime(t)
	case "uri":
		if u, err := url.Parse(s); err != nil || !u.IsAbs() {
			v.fail(path, "%q is not an absolute URI", s)
		}
	}
	return s
}

func (v *validator) checkObject(schema map[string]any, obj map[string]any, path string) any {
	props, _ := schema["properties"].(map[string]any)
	closed := schema["additionalProperties"] == false
	for name, value := range obj {
		sub, known := props[name].(map[string]any)
		if !known {
			if closed {
				v.fail(path+"/"+name, "property %s is not defined in the schema", name)
			}
			continue
		}
		obj[name] = v.check(sub, value, path+"/"+name)
	}
	if required, ok := schema["required"].([]any); ok {
		for _, r := range required {
			name, _ := r.(string)
			if _, ok := obj[name]; !ok {
				v.fail(path+"/"+name, "property %s is required", name)
			}
		}
	}
	return obj
}

func schemaTypes(schema map[string]any) []string {
	switch t := schema["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func typeAllowed(types []string, kind string) bool {
	for _, t := range types {
		if t == kind || (t == "number" && kind == "integer") {
			return true
		}
	}
	return false
}

// jsonKind names a decoded value's JSON Schema type.
func jsonKind(value any) string {
	switch val := value.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := val.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case float64:
		if val == float64(int64(val)) {
			return "integer"
		}
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", value)
}

// fillNulls gives an object every property its schema declares, as the
// service echoes them: null for scalars and objects, [] for arrays; nested
// objects that are present are filled too.
func fillNulls(schema map[string]any, obj map[string]any) {
	props, _ := schema["properties"].(map[string]any)
	for name, raw := range props {
		sub, _ := raw.(map[string]any)
		value, present := obj[name]
		switch {
		case !present || value == nil:
			if containsType(schemaTypes(sub), "array") {
				obj[name] = []any{}
			} else {
				obj[name] = nil
			}
		default:
			if nested, ok := value.(map[string]any); ok {
				fillNulls(sub, nested)
			}
		}
	}
}

func containsType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// Schema builders for the standard base schema below.

func nullable(t string, extra map[string]any, label string) map[string]any {
	s := map[string]any{"type": []any{t, "null"}}
	for k, v := range extra {
		s[k] = v
	}
	if label != "" {
		s["contactlabProperties"] = map[string]any{"label": label}
	}
	return s
}

func str(label string) map[string]any { return nullable("string", nil, label) }

func strFormat(format, label string) map[string]any {
	return nullable("string", map[string]any{"format": format}, label)
}

func object(label string, props map[string]any) map[string]any {
	return nullable("object", map[string]any{"properties": props, "additionalProperties": false}, label)
}

func arrayOf(item map[string]any, required ...string) map[string]any {
	item = map[string]any{"type": "object", "properties": item, "additionalProperties": false}
	if len(required) > 0 {
		var req []any
		for _, r := range required {
			req = append(req, r)
		}
		item["required"] = req
	}
	return map[string]any{"type": "array", "items": item}
}

// StandardBaseSchema is the customer base schema a workspace gets unless its
// seed brings its own: the properties, types and formats Contacthub
// publishes for customer.base.
func StandardBaseSchema() map[string]any {
	id := map[string]any{"type": "string"}
	return map[string]any{
		"$schema":              "http://json-schema.org/draft-04/schema#",
		"type":                 "object",
		"additionalProperties": false,
		"description":          "The customer data structure included in Contacthub",
		"properties": map[string]any{
			"pictureUrl": strFormat("uri", "Picture"),
			"title":      str("Title"),
			"prefix":     str("Prefix"),
			"firstName":  str("First name"),
			"lastName":   str("Last name"),
			"middleName": str("Middle name"),
			"gender":     str("Gender"),
			"dob":        strFormat("date", "Date of birth"),
			"locale":     nullable("string", map[string]any{"pattern": `^[a-z]{2}(_([a-zA-Z]{2}){1,2})?_[A-Z]{2}$`}, "Locale"),
			"timezone":   str("Timezone"),
			"contacts": object("Contacts", map[string]any{
				"email":       strFormat("email", "Email"),
				"fax":         str("Fax"),
				"mobilePhone": str("Mobile phone"),
				"phone":       str("Phone"),
				"otherContacts": arrayOf(map[string]any{
					"name":  map[string]any{"type": "string"},
					"type":  nullable("string", map[string]any{"enum": []any{"MOBILE", "PHONE", "EMAIL", "FAX", "OTHER", nil}}, ""),
					"value": map[string]any{"type": "string"},
				}, "name", "value"),
				"mobileDevices": arrayOf(map[string]any{
					"identifier":          map[string]any{"type": "string"},
					"appId":               map[string]any{"type": "string"},
					"name":                map[string]any{"type": "string"},
					"type":                nullable("string", map[string]any{"enum": []any{"IOS", "ANDROID", "WINDOWS_PHONE", "FIREOS", nil}}, ""),
					"notificationService": nullable("string", map[string]any{"enum": []any{"APN", "GCM", "WNS", "ADM", "SNS", nil}}, ""),
				}),
			}),
			"address": object("Address", map[string]any{
				"street":   str("Street"),
				"city":     str("City"),
				"country":  str("Country"),
				"region":   str("Region"),
				"province": str("Province"),
				"zip":      str("Zip"),
				"geo": object("Geo", map[string]any{
					"lat": nullable("number", nil, "Latitude"),
					"lon": nullable("number", nil, "Longitude"),
				}),
			}),
			"credential": object("Credential", map[string]any{
				"username": str("Username"),
				"password": str("Password"),
			}),
			"educations": arrayOf(map[string]any{
				"id":                  id,
				"schoolType":          nullable("string", map[string]any{"enum": []any{"PRIMARY_SCHOOL", "SECONDARY_SCHOOL", "HIGH_SCHOOL", "COLLEGE", "OTHER", nil}}, ""),
				"schoolName":          str(""),
				"schoolConcentration": str(""),
				"startYear":           nullable("integer", nil, ""),
				"endYear":             nullable("integer", nil, ""),
				"isCurrent":           nullable("boolean", nil, ""),
			}, "id"),
			"likes": arrayOf(map[string]any{
				"id":          id,
				"category":    str(""),
				"name":        str(""),
				"createdTime": strFormat("date-time", ""),
			}, "id"),
			"socialProfile": object("Social profile", map[string]any{
				"facebook":  str("Facebook"),
				"google":    str("Google"),
				"instagram": str("Instagram"),
				"linkedin":  str("Linkedin"),
				"qzone":     str("Qzone"),
				"twitter":   str("Twitter"),
			}),
			"jobs": arrayOf(map[string]any{
				"id":              id,
				"companyIndustry": str(""),
				"companyName":     str(""),
				"jobTitle":        str(""),
				"startDate":       strFormat("date", ""),
				"endDate":         strFormat("date", ""),
				"isCurrent":       nullable("boolean", nil, ""),
			}, "id"),
			"subscriptions": arrayOf(subscriptionProperties(), "id"),
		},
	}
}

func subscriptionProperties() map[string]any {
	return map[string]any{
		"id":           map[string]any{"type": "string"},
		"name":         str(""),
		"type":         str(""),
		"kind":         nullable("string", map[string]any{"enum": []any{"DIGITAL_MESSAGE", "SERVICE", "OTHER", nil}}, ""),
		"subscribed":   nullable("boolean", nil, ""),
		"startDate":    strFormat("date-time", ""),
		"endDate":      strFormat("date-time", ""),
		"subscriberId": str(""),
		"registeredAt": strFormat("date-time", ""),
		"updatedAt":    strFormat("date-time", ""),
		"preferences": arrayOf(map[string]any{
			"key":   str(""),
			"value": str(""),
		}),
	}
}

// subscriptionSchema is the item schema of base.subscriptions in schema, or
// the standard one.
func subscriptionSchema(base map[string]any) map[string]any {
	if props, ok := base["properties"].(map[string]any); ok {
		if subs, ok := props["subscriptions"].(map[string]any); ok {
			if items, ok := subs["items"].(map[string]any); ok {
				return items
			}
		}
	}
	return map[string]any{"type": "object", "properties": subscriptionProperties(), "additionalProperties": false, "required": []any{"id"}}
}
