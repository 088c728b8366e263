package contactsend

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/mapping"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		typ      FieldType
		in, want string
		wantXSI  string
		wantErr  bool
	}{
		{String, " keep spaces ", " keep spaces ", "xs:string", false},
		{Char, "F", "F", "xs:string", false},
		{Integer, "42", "42", "xs:int", false},
		{Integer, "2147483648", "", "", true},
		{PositiveInteger, "-1", "", "", true},
		{Long, "9223372036854775807", "9223372036854775807", "xs:long", false},
		{Double, "1.50", "1.5", "xs:double", false},
		{Double, "NaN", "", "", true},
		{Flag, "1", "true", "xs:boolean", false},
		{Flag, "maybe", "", "", true},
		{Date, "2024-02-29", "2024-02-29", "xs:string", false},
		{Date, "2024-02-30", "", "", true},
		{DateTime, "2024-01-02T03:04:05Z", "2024-01-02 03:04:05", "xs:string", false},
		{Timestamp, "2024-01-02 03:04:05", "2024-01-02 03:04:05", "xs:string", false},
		{Time, "23:59:59", "23:59:59", "xs:string", false},
		{FieldType("EMAIL"), "x", "", "", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ)+"/"+tt.in, func(t *testing.T) {
			v, err := ParseValue(tt.typ, tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("got %v, %v; want ErrInvalidValue", v, err)
				}
				return
			}
			if err != nil || v.String() != tt.want || v.xsiType() != tt.wantXSI || v.Type() != tt.typ {
				t.Fatalf("got %q %s %s, %v; want %q %s %s", v.String(), v.xsiType(), v.Type(), err, tt.want, tt.wantXSI, tt.typ)
			}
		})
	}
}

func TestNewValueAndAs(t *testing.T) {
	if v, err := NewValue(Long, 1<<40); err != nil || v.String() != "1099511627776" {
		t.Fatalf("NewValue(Long) = %v, %v", v, err)
	}
	if _, err := NewValue(Flag, 3); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("NewValue(Flag, 3) = %v", err)
	}
	if v, err := NewValue(Date, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)); err != nil || v.String() != "2024-05-06" {
		t.Fatalf("NewValue(Date) = %v, %v", v, err)
	}
	// What the service returns, typed by its xsi:type, converted to the field's type.
	wire, _ := valueFromWire("ns3:string", "2024-05-06 07:08:09", false)
	v, err := wire.As(DateTime)
	if tm, ok := v.Time(); err != nil || !ok || tm.Hour() != 7 {
		t.Fatalf("As(DateTime) = %v, %v", v, err)
	}
	flag, _ := valueFromWire("xsd:boolean", "true", false)
	if n, err := flag.As(Integer); err != nil || n.String() != "1" {
		t.Fatalf("boolean As(Integer) = %v, %v", n, err)
	}
	null, _ := valueFromWire("", "", true)
	if !null.IsNull() {
		t.Fatal("xsi:nil is not null")
	}
	if v, _ := valueFromWire("", "untyped", false); v.Type() != String || v.String() != "untyped" {
		t.Fatalf("untyped = %v", v)
	}
	if v, _ := valueFromWire("xs:long", "2147483648", false); v.Type() != Long {
		t.Fatalf("xs:long = %v", v.Type())
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		reason string
		want   error
	}{
		{"Invalid token: the authorization token is expired or unknown", ErrTokenExpired},
		{"Token expired", ErrTokenExpired},
		{"AuthToken not valid", ErrTokenExpired},
		{"Authentication failed: invalid apiKey or userKey", ErrBadCredentials},
		{"Unauthorized operation from IP address 1.2.3.4", ErrBadCredentials},
		{"Subscriber source not found: 12", ErrUnknownUserDB},
		{"Invalid sourceIdentifier 12", ErrUnknownUserDB},
		{"Subscriber not found: 2147483648", ErrUnknownSubscriber},
		{"Recipient 5 does not exist", ErrUnknownSubscriber},
		{"Web form code not found: \"123\"", ErrUnknownWebForm},
		{"Invalid value for field AGE of type INTEGER: \"x\"", ErrInvalidValue},
		{"Unknown field: \"NOPE\" is not a column of subscriber source 101", ErrInvalidValue},
		{"java.lang.NumberFormatException: For input string: \"abc\"", ErrInvalidValue},
		{"Duplicate value for unique field EMAIL", ErrInvalidValue},
		{"java.lang.NullPointerException", nil},
	}
	for _, tt := range tests {
		if got := classify(tt.reason); got != tt.want {
			t.Errorf("classify(%q) = %v, want %v", tt.reason, got, tt.want)
		}
	}
}

func TestStatusErrorOutcome(t *testing.T) {
	tests := []struct {
		status               int
		temporary, ambiguous bool
	}{
		{429, true, false}, {503, true, false}, {500, true, true}, {502, true, true}, {504, true, true}, {404, false, false},
	}
	for _, tt := range tests {
		e := &StatusError{StatusCode: tt.status}
		if e.Temporary() != tt.temporary || errors.Is(e, ErrOutcomeUnknown) != tt.ambiguous {
			t.Errorf("HTTP %d: temporary %v, ambiguous %v", tt.status, e.Temporary(), errors.Is(e, ErrOutcomeUnknown))
		}
	}
}

func TestMappingFields(t *testing.T) {
	src := SubscriberSource{Fields: []Field{
		{Name: "EMAIL", Type: String, EmailField: true},
		{Name: "BIRTH_DATE", Type: Date},
		{Name: "PHONE", Type: String, PhoneField: true},
	}}
	want := []mapping.SendField{
		{Name: "EMAIL", Type: mapping.SendString, EmailField: true},
		{Name: "BIRTH_DATE", Type: mapping.SendDate},
		{Name: "PHONE", Type: mapping.SendString},
	}
	if got := src.MappingFields(); !slices.Equal(got, want) {
		t.Fatalf("MappingFields = %+v, want %+v", got, want)
	}
	if got := (SubscriberSource{}).MappingFields(); got == nil || len(got) != 0 {
		t.Fatalf("no fields = %#v, want an empty list", got)
	}
}
