package contactsend

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// FieldType is the type of a userDb (subscriber source) column, as the
// service's "field" enumeration names it.
type FieldType string

// The field types of a subscriber source.
const (
	Flag            FieldType = "FLAG"
	Date            FieldType = "DATE"
	DateTime        FieldType = "DATETIME"
	Double          FieldType = "DOUBLE"
	Integer         FieldType = "INTEGER"
	PositiveInteger FieldType = "POSITIVE_INTEGER"
	Long            FieldType = "LONG"
	Char            FieldType = "CHAR"
	String          FieldType = "STRING"
	Text            FieldType = "TEXT"
	Time            FieldType = "TIME"
	Timestamp       FieldType = "TIMESTAMP"
)

// Layouts of the temporal field types on the wire. Contactsend's official
// PHP and Magento clients and its Java samples send dates as plain strings in
// MySQL's formats ("2017-02-10 14:23:52"), so the client does the same, typed
// xs:string; the server stores them in MySQL DATE/DATETIME/TIME columns.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02 15:04:05"
	TimeLayout     = "15:04:05"
)

// Valid reports whether t is one of the enumeration's values.
func (t FieldType) Valid() bool {
	switch t {
	case Flag, Date, DateTime, Double, Integer, PositiveInteger, Long, Char, String, Text, Time, Timestamp:
		return true
	}
	return false
}

// kind groups the field types by the Go value they hold.
type kind int

const (
	kindNull kind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindTime
)

func (t FieldType) kind() kind {
	switch t {
	case Flag:
		return kindBool
	case Integer, PositiveInteger, Long:
		return kindInt
	case Double:
		return kindFloat
	case Date, DateTime, Timestamp, Time:
		return kindTime
	}
	return kindString
}

// Value is a typed attribute value. The zero Value is null: it is never sent
// (the schema does not let a value be nil) and is what a returned nil decodes to.
type Value struct {
	typ FieldType
	k   kind
	s   string
	i   int64
	f   float64
	b   bool
	t   time.Time
}

// StringValue returns a STRING value.
func StringValue(s string) Value { return Value{typ: String, k: kindString, s: s} }

// TextValue returns a value of a text type (STRING, TEXT or CHAR); any
// other t gives a STRING.
func TextValue(t FieldType, s string) Value {
	if t.kind() != kindString || !t.Valid() {
		t = String
	}
	return Value{typ: t, k: kindString, s: s}
}

// IntValue returns an INTEGER value.
func IntValue(n int32) Value { return Value{typ: Integer, k: kindInt, i: int64(n)} }

// LongValue returns a LONG value.
func LongValue(n int64) Value { return Value{typ: Long, k: kindInt, i: n} }

// DoubleValue returns a DOUBLE value.
func DoubleValue(f float64) Value { return Value{typ: Double, k: kindFloat, f: f} }

// FlagValue returns a FLAG value.
func FlagValue(b bool) Value { return Value{typ: Flag, k: kindBool, b: b} }

// TimeValue returns a value of a temporal type (DATE, DATETIME, TIMESTAMP or
// TIME). The wall clock of t is sent as it is: Contactsend columns carry no
// zone, so callers convert to the zone the userDb is kept in first.
// Any other t gives a DATETIME.
func TimeValue(t FieldType, tm time.Time) Value {
	if t.kind() != kindTime {
		t = DateTime
	}
	return Value{typ: t, k: kindTime, t: tm}
}

// NewValue converts a Go value to a Value of field type t: strings, integers,
// floats, bools and time.Time are accepted where they fit, and strings are
// parsed for the other types. It fails with ErrInvalidValue.
func NewValue(t FieldType, v any) (Value, error) {
	switch x := v.(type) {
	case string:
		return ParseValue(t, x)
	case bool:
		if t == Flag {
			return FlagValue(x), nil
		}
	case int:
		return intValue(t, int64(x))
	case int32:
		return intValue(t, int64(x))
	case int64:
		return intValue(t, x)
	case float64:
		switch t.kind() {
		case kindFloat:
			return DoubleValue(x), nil
		case kindInt:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return intValue(t, int64(x))
			}
		}
	case time.Time:
		if t.kind() == kindTime {
			return TimeValue(t, x), nil
		}
	}
	return Value{}, fmt.Errorf("%w: %T %v does not fit a %s field", ErrInvalidValue, v, v, t)
}

func intValue(t FieldType, n int64) (Value, error) {
	switch t.kind() {
	case kindInt:
		v := Value{typ: t, k: kindInt, i: n}
		return v, v.check()
	case kindFloat:
		return DoubleValue(float64(n)), nil
	case kindString:
		return TextValue(t, strconv.FormatInt(n, 10)), nil
	}
	return Value{}, fmt.Errorf("%w: integer %d does not fit a %s field", ErrInvalidValue, n, t)
}

// ParseValue reads s as a value of field type t, in the formats the service
// uses (see DateLayout and friends; RFC 3339 is accepted for temporal types).
func ParseValue(t FieldType, s string) (Value, error) {
	switch t.kind() {
	case kindString:
		if !t.Valid() {
			return Value{}, fmt.Errorf("%w: unknown field type %q", ErrInvalidValue, t)
		}
		return TextValue(t, s), nil
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("%w: %q is not an integer for a %s field", ErrInvalidValue, s, t)
		}
		return intValue(t, n)
	case kindFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Value{}, fmt.Errorf("%w: %q is not a number for a DOUBLE field", ErrInvalidValue, s)
		}
		return DoubleValue(f), nil
	case kindBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1":
			return FlagValue(true), nil
		case "false", "0":
			return FlagValue(false), nil
		}
		return Value{}, fmt.Errorf("%w: %q is not a boolean for a FLAG field", ErrInvalidValue, s)
	case kindTime:
		tm, err := parseTime(t, strings.TrimSpace(s))
		if err != nil {
			return Value{}, fmt.Errorf("%w: %q is not a %s", ErrInvalidValue, s, t)
		}
		return TimeValue(t, tm), nil
	}
	return Value{}, fmt.Errorf("%w: unknown field type %q", ErrInvalidValue, t)
}

func parseTime(t FieldType, s string) (time.Time, error) {
	layouts := []string{DateTimeLayout, time.RFC3339Nano, "2006-01-02T15:04:05", DateLayout}
	switch t {
	case Date:
		layouts = []string{DateLayout, DateTimeLayout, time.RFC3339Nano, "2006-01-02Z07:00"}
	case Time:
		layouts = []string{TimeLayout, "15:04:05.999999999", "15:04:05Z07:00"}
	}
	var err error
	for _, layout := range layouts {
		var tm time.Time
		if tm, err = time.Parse(layout, s); err == nil {
			return tm, nil
		}
	}
	return time.Time{}, err
}

// Type returns the field type the value was made for.
func (v Value) Type() FieldType { return v.typ }

// IsNull reports whether v holds no value.
func (v Value) IsNull() bool { return v.k == kindNull }

// String returns the value as it is written on the wire.
func (v Value) String() string {
	switch v.k {
	case kindString:
		return v.s
	case kindInt:
		return strconv.FormatInt(v.i, 10)
	case kindFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindTime:
		switch v.typ {
		case Date:
			return v.t.Format(DateLayout)
		case Time:
			return v.t.Format(TimeLayout)
		}
		return v.t.Format(DateTimeLayout)
	}
	return ""
}

// Int returns an integer value; ok is false for other kinds.
func (v Value) Int() (n int64, ok bool) { return v.i, v.k == kindInt }

// Float returns a DOUBLE value, or an integer one widened; ok is false otherwise.
func (v Value) Float() (f float64, ok bool) {
	switch v.k {
	case kindFloat:
		return v.f, true
	case kindInt:
		return float64(v.i), true
	}
	return 0, false
}

// Bool returns a FLAG value; ok is false for other kinds.
func (v Value) Bool() (b bool, ok bool) { return v.b, v.k == kindBool }

// Time returns a temporal value; ok is false for other kinds.
func (v Value) Time() (t time.Time, ok bool) { return v.t, v.k == kindTime }

// Equal reports whether two values have the same type and content.
func (v Value) Equal(w Value) bool {
	return v.typ == w.typ && v.k == w.k && v.String() == w.String()
}

// As converts v to field type t. Returned values are typed from their
// xsi:type, which the service does not always choose as the field's type
// (dates come back as strings); As brings them to the field's type.
func (v Value) As(t FieldType) (Value, error) {
	if v.IsNull() {
		return Value{typ: t}, nil
	}
	if v.typ == t {
		return v, v.check()
	}
	switch {
	case v.k == kindBool && t.kind() == kindInt:
		if v.b {
			return intValue(t, 1)
		}
		return intValue(t, 0)
	case v.k == kindTime && t.kind() == kindTime:
		return TimeValue(t, v.t), nil
	}
	return ParseValue(t, v.String())
}

// check says whether the value fits its field type's range.
func (v Value) check() error {
	switch v.typ {
	case Integer:
		if v.i < math.MinInt32 || v.i > math.MaxInt32 {
			return fmt.Errorf("%w: %d is out of range for an INTEGER field", ErrInvalidValue, v.i)
		}
	case PositiveInteger:
		// Read as MySQL's INT UNSIGNED: zero is allowed, and the wire type is
		// xs:int, so the upper bound is int32's.
		if v.i < 0 || v.i > math.MaxInt32 {
			return fmt.Errorf("%w: %d is out of range for a POSITIVE_INTEGER field", ErrInvalidValue, v.i)
		}
	case Double:
		if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
			return fmt.Errorf("%w: %v is not a finite DOUBLE", ErrInvalidValue, v.f)
		}
	}
	if v.k != kindNull && v.typ != "" && !v.typ.Valid() {
		return fmt.Errorf("%w: unknown field type %q", ErrInvalidValue, v.typ)
	}
	return nil
}

// xsiType is the schema type the value is sent as.
func (v Value) xsiType() string {
	switch v.typ {
	case Integer, PositiveInteger:
		return "xs:int"
	case Long:
		return "xs:long"
	case Double:
		return "xs:double"
	case Flag:
		return "xs:boolean"
	}
	return "xs:string"
}

// valueFromWire types a returned value by its xsi:type (prefix ignored, since
// servers pick their own). Unknown or missing types read as STRING.
func valueFromWire(xsiType, text string, null bool) (Value, error) {
	if null {
		return Value{}, nil
	}
	local := xsiType
	if i := strings.LastIndexByte(local, ':'); i >= 0 {
		local = local[i+1:]
	}
	switch local {
	case "int", "short", "byte", "unsignedShort", "unsignedByte":
		return ParseValue(Integer, text)
	case "long", "integer", "unsignedInt", "nonNegativeInteger", "positiveInteger", "negativeInteger", "nonPositiveInteger":
		return ParseValue(Long, text)
	case "double", "float", "decimal":
		return ParseValue(Double, text)
	case "boolean":
		return ParseValue(Flag, text)
	case "date":
		return ParseValue(Date, text)
	case "dateTime":
		return ParseValue(DateTime, text)
	case "time":
		return ParseValue(Time, text)
	}
	return StringValue(text), nil
}

// Attribute is one column of a subscriber.
type Attribute struct {
	Key   string
	Value Value
}

// Subscriber is one row of a userDb. ID is zero before the service assigns one.
type Subscriber struct {
	ID         int64
	Attributes []Attribute
}

// Get returns the value of the attribute named key.
func (s Subscriber) Get(key string) (Value, bool) {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return Value{}, false
}

// SubscriptionStatus reads a registration column (__clsN) of s.
func (s Subscriber) SubscriptionStatus(registrationField string) (SubscriptionStatus, bool) {
	v, ok := s.Get(registrationField)
	if !ok || v.IsNull() {
		return Pending, ok
	}
	n, err := v.As(Integer)
	if err != nil {
		return Pending, false
	}
	i, _ := n.Int()
	return SubscriptionStatus(i), true
}

// SubscriptionStatus is the value of a registration column (__clsN).
type SubscriptionStatus int

// The values a registration column holds.
const (
	Unsubscribed SubscriptionStatus = -1
	Pending      SubscriptionStatus = 0 // default, or double opt-in not confirmed
	Subscribed   SubscriptionStatus = 1
)

func (s SubscriptionStatus) String() string {
	switch s {
	case Unsubscribed:
		return "unsubscribed"
	case Pending:
		return "pending"
	case Subscribed:
		return "subscribed"
	}
	return "SubscriptionStatus(" + strconv.Itoa(int(s)) + ")"
}
