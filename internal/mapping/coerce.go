package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Length limits of Contactsend's text columns, in characters.
const (
	MaxStringLen = 255   // STRING and CHAR (VARCHAR(255))
	MaxTextLen   = 65535 // TEXT
)

// Canonical text layouts of Contactsend's temporal columns (MySQL's).
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02 15:04:05"
	TimeLayout     = "15:04:05"
)

// Rule is one field mapping as coercion sees it. It mirrors the source's
// field mapping; the caller converts, so this package stays below package
// source.
type Rule struct {
	HubField  string
	SendField string
	// Match marks a field used to find the subscriber: its value, when it
	// holds an email address, is normalised like an email field.
	Match bool
	// ClearOnNull turns a null or missing Contacthub value into a Clear
	// value instead of leaving the Contactsend value alone.
	ClearOnNull bool
}

// Value is one mapped attribute in Contactsend's canonical text form: the
// form the service stores and returns, so equal values compare equal as text.
type Value struct {
	Field string
	Type  SendType
	Text  string
	// Clear asks for the Contactsend value to be emptied (ClearOnNull on a
	// null). Text is then "".
	Clear bool
}

// Attributes are the mapped values of one customer, sorted by field name.
type Attributes []Value

// Get returns the value mapped to field.
func (a Attributes) Get(field string) (Value, bool) {
	i, ok := slices.BinarySearchFunc(a, field, func(v Value, f string) int { return strings.Compare(v.Field, f) })
	if !ok {
		return Value{}, false
	}
	return a[i], true
}

// Hash is a stable digest of the attributes (SHA-256 over sorted
// "field=value" lines), which the ledger keeps to skip unchanged customers.
// A cleared field hashes differently from an empty string so that turning
// ClearOnNull on is a change.
func (a Attributes) Hash() string {
	h := sha256.New()
	var line []byte
	for _, v := range a {
		line = append(line[:0], v.Field...)
		if v.Clear {
			line = append(line, "\x00clear"...)
		} else {
			// A length prefix keeps a value holding "\n" or "=" from
			// imitating another line.
			line = append(line, '=')
			line = strconv.AppendInt(line, int64(len(v.Text)), 10)
			line = append(line, ':')
			line = append(line, v.Text...)
		}
		line = append(line, '\n')
		h.Write(line)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// Problem is a value that cannot be written to its Contactsend field.
type Problem struct {
	HubField  string
	SendField string
	// Reason says why, with the offending value shortened.
	Reason string
}

func (p Problem) Error() string { return p.HubField + ": " + p.Reason }

// Problems are all the problems of one customer's mapping.
type Problems []Problem

// String joins the problems' messages with "; ", the form a failed record
// shows.
func (p Problems) String() string {
	parts := make([]string, len(p))
	for i, x := range p {
		parts[i] = x.Error()
	}
	return strings.Join(parts, "; ")
}

// Fields lists "hubField→sendField" for each problem: the part of a
// problem that is safe to log, since it holds no customer data.
func (p Problems) Fields() []string {
	out := make([]string, len(p))
	for i, x := range p {
		out[i] = x.HubField + "→" + x.SendField
	}
	return out
}

// resolved is a rule with its target field's description.
type resolved struct {
	Rule
	typ   SendType
	email bool
}

// Mapper applies one source's rules to customers. Build it once per source
// and userdb description (NewMapper), then call Map per customer; Map does
// not allocate beyond the result and the canonical texts it makes.
type Mapper struct {
	rules    []resolved // sorted by SendField
	problems Problems   // rules that can never be applied
}

// NewMapper resolves rules against the userdb's fields. A rule naming a
// field the userdb lacks, a registration column, or a field mapped twice is
// a problem of every customer, reported by each Map.
func NewMapper(rules []Rule, fields []SendField) *Mapper {
	m := &Mapper{rules: make([]resolved, 0, len(rules))}
	for _, r := range rules {
		i := slices.IndexFunc(fields, func(f SendField) bool { return f.Name == r.SendField })
		switch {
		case RegistrationField(r.SendField):
			m.problems = append(m.problems, Problem{r.HubField, r.SendField, fmt.Sprintf("%s is a subscription status column and cannot be mapped", r.SendField)})
		case i < 0:
			m.problems = append(m.problems, Problem{r.HubField, r.SendField, fmt.Sprintf("the userdb has no field %s", r.SendField)})
		default:
			f := fields[i]
			m.rules = append(m.rules, resolved{Rule: r, typ: f.Type, email: f.EmailField || isEmailPath(r.HubField)})
		}
	}
	slices.SortStableFunc(m.rules, func(a, b resolved) int { return strings.Compare(a.SendField, b.SendField) })
	kept := m.rules[:0]
	for i, r := range m.rules {
		if i > 0 && r.SendField == m.rules[i-1].SendField {
			m.problems = append(m.problems, Problem{r.HubField, r.SendField, fmt.Sprintf("field %s is mapped more than once", r.SendField)})
			continue
		}
		kept = append(kept, r)
	}
	m.rules = kept
	return m
}

// isEmailPath reports whether a Contacthub path holds an email address
// (base.contacts.email and extended fields named like it).
func isEmailPath(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	return strings.EqualFold(last, "email")
}

// Map reads each mapped field through lookup (which returns decoded JSON:
// string, json.Number, float64, bool, nil, maps or slices; found false when
// absent) and coerces it into its Contactsend field's type. A null or absent
// value is left out unless its rule clears on null.
func (m *Mapper) Map(lookup func(path string) (any, bool)) (Attributes, Problems) {
	var problems Problems
	if len(m.problems) > 0 {
		problems = slices.Clone(m.problems)
	}
	attrs := make(Attributes, 0, len(m.rules))
	for _, r := range m.rules {
		raw, found := lookup(r.HubField)
		if !found || raw == nil {
			if r.ClearOnNull {
				attrs = append(attrs, Value{Field: r.SendField, Type: r.typ, Clear: true})
			}
			continue
		}
		if s, ok := raw.(string); ok && (r.email || (r.Match && looksLikeEmail(s))) {
			raw = normaliseEmail(s)
		}
		text, err := Coerce(raw, r.typ)
		if err != nil {
			problems = append(problems, Problem{r.HubField, r.SendField, fmt.Sprintf("%s for %s field %s", err.Error(), r.typ, r.SendField)})
			continue
		}
		attrs = append(attrs, Value{Field: r.SendField, Type: r.typ, Text: text})
	}
	return attrs, problems
}

// Map maps one customer in a single call; see Mapper for repeated use.
func Map(lookup func(path string) (any, bool), rules []Rule, fields []SendField) (Attributes, Problems) {
	return NewMapper(rules, fields).Map(lookup)
}

// normaliseEmail trims an address and lower-cases it, the form match
// fields compare in.
func normaliseEmail(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
	}
	return s
}

func looksLikeEmail(s string) bool {
	s = strings.TrimSpace(s)
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n")
}

// Coerce converts a decoded JSON value into the canonical text of a
// Contactsend field of type t. Its error says what is wrong with the value
// (quoting at most a short prefix of it), without naming the field.
func Coerce(v any, t SendType) (string, error) {
	switch t {
	case SendString, SendChar:
		return textOf(v, MaxStringLen)
	case SendText:
		return textOf(v, MaxTextLen)
	case SendInteger:
		return integerOf(v, math.MinInt32, math.MaxInt32, "an integer")
	case SendPositiveInteger:
		return integerOf(v, 0, math.MaxInt32, "a positive integer")
	case SendLong:
		return integerOf(v, math.MinInt64, math.MaxInt64, "a long integer")
	case SendDouble:
		return doubleOf(v)
	case SendFlag:
		return flagOf(v)
	case SendDate:
		return temporalOf(v, DateLayout, "a date")
	case SendDateTime, SendTimestamp:
		return temporalOf(v, DateTimeLayout, "a date-time")
	case SendTime:
		return temporalOf(v, TimeLayout, "a time")
	}
	return "", fmt.Errorf("unknown Contactsend type %q", t)
}

// quote shows a value in a problem, shortened so that a reason stays
// readable and does not copy a whole text field.
func quote(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		s = fmt.Sprint(x)
	}
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return "'" + s + "'"
}

func textOf(v any, limit int) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("%s is not a finite number", quote(v))
		}
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", fmt.Errorf("%s is not text", quote(v))
	}
	if len(s) > limit { // cheap check first: runes never outnumber bytes
		if n := utf8.RuneCountInString(s); n > limit {
			return "", fmt.Errorf("a text of %d characters is longer than %d", n, limit)
		}
	}
	if !utf8.ValidString(s) {
		return "", errors.New("the text is not valid UTF-8")
	}
	return s, nil
}

func integerOf(v any, lo, hi int64, what string) (string, error) {
	var n int64
	switch x := v.(type) {
	case json.Number:
		var ok bool
		if n, ok = parseInteger(string(x)); !ok {
			return "", fmt.Errorf("%s is not %s", quote(v), what)
		}
	case string:
		var ok bool
		if n, ok = parseInteger(strings.TrimSpace(x)); !ok {
			return "", fmt.Errorf("%s is not %s", quote(v), what)
		}
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || x < -(1<<63) || x >= 1<<63 {
			return "", fmt.Errorf("%s is not %s", quote(v), what)
		}
		n = int64(x)
	case int:
		n = int64(x)
	case int64:
		n = x
	default:
		return "", fmt.Errorf("%s is not %s", quote(v), what)
	}
	if n < lo || n > hi {
		return "", fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return strconv.FormatInt(n, 10), nil
}

// parseInteger reads an integer, also in the forms JSON numbers take for
// whole values ("12.0", "1e3").
func parseInteger(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

func doubleOf(v any) (string, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return "", fmt.Errorf("%s is not a finite number", quote(v))
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return "", fmt.Errorf("%s is not a number", quote(v))
		}
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return "", fmt.Errorf("%s is not a number", quote(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%s is not a finite number", quote(v))
	}
	return strconv.FormatFloat(f, 'g', -1, 64), nil
}

func flagOf(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1":
			return "true", nil
		case "false", "0":
			return "false", nil
		}
	case json.Number:
		switch x {
		case "1":
			return "true", nil
		case "0":
			return "false", nil
		}
	case float64:
		switch x {
		case 1:
			return "true", nil
		case 0:
			return "false", nil
		}
	}
	return "", fmt.Errorf("%s is not a boolean", quote(v))
}

// temporalLayouts are the forms Contacthub writes dates and timestamps in
// (its own 2017-03-09T11:31:31.842+0000, RFC 3339, plain dates), plus the
// canonical Contactsend forms so that values read back parse again.
var temporalLayouts = [...]string{
	DateLayout,
	"2006-01-02T15:04:05.999999999-0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05-0700",
	DateTimeLayout,
	"2006-01-02T15:04:05.999999999",
}

func temporalOf(v any, layout, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s is not %s", quote(v), what)
	}
	s = strings.TrimSpace(s)
	if layout == TimeLayout {
		if t, err := time.Parse("15:04:05.999999999", s); err == nil {
			return t.Format(TimeLayout), nil
		}
	}
	for _, l := range temporalLayouts {
		if !plausible(l, s) {
			continue // spares a failed parse and its error allocation
		}
		if t, err := time.Parse(l, s); err == nil {
			// Contactsend columns carry no zone; hubsend writes UTC.
			return t.UTC().Format(layout), nil
		}
	}
	return "", fmt.Errorf("%s is not %s", quote(v), what)
}

// plausible reports whether s has the shape of layout: a plain date is ten
// characters, a Contactsend date-time has a space, the rest have a 'T'.
func plausible(layout, s string) bool {
	switch layout {
	case DateLayout:
		return len(s) == len(DateLayout)
	case DateTimeLayout:
		return len(s) == len(DateTimeLayout) && s[10] == ' '
	}
	return len(s) > 10 && s[10] == 'T'
}
