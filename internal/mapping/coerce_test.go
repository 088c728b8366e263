package mapping

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestCoerce(t *testing.T) {
	tests := []struct {
		name    string
		typ     SendType
		in      any
		want    string
		wantErr string
	}{
		{"string", SendString, "Mario", "Mario", ""},
		{"string keeps spaces", SendString, "  a b ", "  a b ", ""},
		{"string from number", SendString, json.Number("12.5"), "12.5", ""},
		{"string from bool", SendString, true, "true", ""},
		{"string at limit", SendString, strings.Repeat("é", 255), strings.Repeat("é", 255), ""},
		{"string too long", SendString, strings.Repeat("a", 256), "", "a text of 256 characters is longer than 255"},
		{"char too long", SendChar, strings.Repeat("a", 256), "", "longer than 255"},
		{"string from object", SendString, map[string]any{"a": 1}, "", "an object is not text"},
		{"string from list", SendString, []any{"a"}, "", "a list is not text"},
		{"invalid utf8", SendString, "a\xffb", "", "not valid UTF-8"},
		{"text long", SendText, strings.Repeat("a", 65535), strings.Repeat("a", 65535), ""},
		{"text too long", SendText, strings.Repeat("a", 65536), "", "longer than 65535"},

		{"integer", SendInteger, json.Number("42"), "42", ""},
		{"integer whole float", SendInteger, json.Number("42.0"), "42", ""},
		{"integer exponent", SendInteger, json.Number("1e3"), "1000", ""},
		{"integer float64", SendInteger, float64(-7), "-7", ""},
		{"integer string", SendInteger, " 12 ", "12", ""},
		{"integer max", SendInteger, json.Number("2147483647"), "2147483647", ""},
		{"integer overflow", SendInteger, json.Number("2147483648"), "", "out of range"},
		{"integer underflow", SendInteger, json.Number("-2147483649"), "", "out of range"},
		{"integer fraction", SendInteger, json.Number("1.5"), "", "'1.5' is not an integer"},
		{"integer text", SendInteger, "abc", "", "'abc' is not an integer"},
		{"integer bool", SendInteger, true, "", "is not an integer"},
		{"positive zero", SendPositiveInteger, json.Number("0"), "0", ""},
		{"positive negative", SendPositiveInteger, json.Number("-1"), "", "out of range"},
		{"long big", SendLong, json.Number("9007199254740993"), "9007199254740993", ""},
		{"long max", SendLong, json.Number("9223372036854775807"), "9223372036854775807", ""},
		{"long overflow", SendLong, json.Number("9223372036854775808"), "", "is not a long integer"},
		{"long int", SendLong, int64(-5), "-5", ""},

		{"double", SendDouble, json.Number("3.25"), "3.25", ""},
		{"double canonical", SendDouble, json.Number("1.50"), "1.5", ""},
		{"double integer", SendDouble, json.Number("10"), "10", ""},
		{"double string", SendDouble, "2.5", "2.5", ""},
		{"double NaN", SendDouble, math.NaN(), "", "not a finite number"},
		{"double Inf text", SendDouble, "Inf", "", "not a finite number"},
		{"double huge", SendDouble, json.Number("1e400"), "", "not a finite number"},
		{"double text", SendDouble, "x", "", "'x' is not a number"},

		{"flag true", SendFlag, true, "true", ""},
		{"flag false", SendFlag, false, "false", ""},
		{"flag string", SendFlag, "TRUE", "true", ""},
		{"flag string zero", SendFlag, "0", "false", ""},
		{"flag number one", SendFlag, json.Number("1"), "true", ""},
		{"flag float zero", SendFlag, float64(0), "false", ""},
		{"flag other", SendFlag, "yes", "", "'yes' is not a boolean"},
		{"flag two", SendFlag, json.Number("2"), "", "is not a boolean"},

		{"date", SendDate, "1980-05-17", "1980-05-17", ""},
		{"date from hub timestamp", SendDate, "2017-03-09T11:31:31.842+0000", "2017-03-09", ""},
		{"date from offset timestamp is UTC", SendDate, "2017-03-10T00:30:00+0100", "2017-03-09", ""},
		{"date bad", SendDate, "abc", "", "'abc' is not a date"},
		{"date number", SendDate, json.Number("20200101"), "", "is not a date"},
		{"date impossible", SendDate, "2021-02-30", "", "is not a date"},
		{"datetime hub", SendDateTime, "2017-03-09T11:31:31.842+0000", "2017-03-09 11:31:31", ""},
		{"datetime rfc3339 zone", SendDateTime, "2017-03-09T13:31:31+02:00", "2017-03-09 11:31:31", ""},
		{"datetime rfc3339 nano", SendDateTime, "2017-03-09T11:31:31.123456Z", "2017-03-09 11:31:31", ""},
		{"datetime from date", SendDateTime, "2017-03-09", "2017-03-09 00:00:00", ""},
		{"datetime canonical", SendDateTime, "2017-03-09 11:31:31", "2017-03-09 11:31:31", ""},
		{"timestamp", SendTimestamp, "2017-03-09T11:31:31.842+0000", "2017-03-09 11:31:31", ""},
		{"time", SendTime, "08:15:00", "08:15:00", ""},
		{"time from timestamp", SendTime, "2017-03-09T11:31:31.842+0100", "10:31:31", ""},
		{"time bad", SendTime, "25:00:00", "", "is not a time"},

		{"unknown type", SendType("BLOB"), "x", "", "unknown Contactsend type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Coerce(tt.in, tt.typ)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Coerce(%v, %s) = %q, %v; want error containing %q", tt.in, tt.typ, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Coerce(%v, %s) = %q, %v; want %q", tt.in, tt.typ, got, err, tt.want)
			}
		})
	}
}

func lookupIn(doc map[string]any) func(string) (any, bool) {
	return func(path string) (any, bool) {
		v, ok := doc[path]
		return v, ok
	}
}

var userDB = []SendField{
	{Name: "EMAIL", Type: SendString, EmailField: true},
	{Name: "CONTACT", Type: SendString},
	{Name: "FIRST_NAME", Type: SendString},
	{Name: "BIRTH_DATE", Type: SendDate},
	{Name: "POINTS", Type: SendInteger},
	{Name: "VIP", Type: SendFlag},
	{Name: "NOTES", Type: SendText},
	{Name: "__cls1", Type: SendInteger},
}

func TestMap(t *testing.T) {
	tests := []struct {
		name         string
		rules        []Rule
		doc          map[string]any
		want         map[string]string // field → text; "∅" for Clear
		wantProblems []string
	}{
		{
			name:  "types and email",
			rules: []Rule{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}, {HubField: "base.dob", SendField: "BIRTH_DATE"}, {HubField: "extended.points", SendField: "POINTS"}, {HubField: "extended.vip", SendField: "VIP"}},
			doc:   map[string]any{"base.contacts.email": "  Mario.Rossi@Example.COM ", "base.dob": "1980-05-17", "extended.points": json.Number("120"), "extended.vip": true},
			want:  map[string]string{"EMAIL": "mario.rossi@example.com", "BIRTH_DATE": "1980-05-17", "POINTS": "120", "VIP": "true"},
		},
		{
			name:  "match field holding an email is normalised",
			rules: []Rule{{HubField: "extended.login", SendField: "CONTACT", Match: true}},
			doc:   map[string]any{"extended.login": " A@B.IT"},
			want:  map[string]string{"CONTACT": "a@b.it"},
		},
		{
			name:  "non-match text is not lower-cased",
			rules: []Rule{{HubField: "base.firstName", SendField: "FIRST_NAME"}},
			doc:   map[string]any{"base.firstName": "Mario@Home"},
			want:  map[string]string{"FIRST_NAME": "Mario@Home"},
		},
		{
			name:  "null and missing are left alone",
			rules: []Rule{{HubField: "base.firstName", SendField: "FIRST_NAME"}, {HubField: "base.dob", SendField: "BIRTH_DATE"}},
			doc:   map[string]any{"base.firstName": nil},
			want:  map[string]string{},
		},
		{
			name:  "clear on null",
			rules: []Rule{{HubField: "base.firstName", SendField: "FIRST_NAME", ClearOnNull: true}, {HubField: "base.dob", SendField: "BIRTH_DATE", ClearOnNull: true}},
			doc:   map[string]any{"base.firstName": nil},
			want:  map[string]string{"FIRST_NAME": "∅", "BIRTH_DATE": "∅"},
		},
		{
			name:         "problem names both fields and the reason",
			rules:        []Rule{{HubField: "base.dob", SendField: "BIRTH_DATE"}, {HubField: "base.firstName", SendField: "FIRST_NAME"}},
			doc:          map[string]any{"base.dob": "abc", "base.firstName": "Mario"},
			want:         map[string]string{"FIRST_NAME": "Mario"},
			wantProblems: []string{"base.dob: 'abc' is not a date for DATE field BIRTH_DATE"},
		},
		{
			name:         "unknown, registration and duplicate fields",
			rules:        []Rule{{HubField: "a", SendField: "NOPE"}, {HubField: "b", SendField: "__cls1"}, {HubField: "c", SendField: "NOTES"}, {HubField: "d", SendField: "NOTES"}},
			doc:          map[string]any{"c": "x", "d": "y"},
			want:         map[string]string{"NOTES": "x"},
			wantProblems: []string{"a: the userdb has no field NOPE", "b: __cls1 is a subscription status column and cannot be mapped", "d: field NOTES is mapped more than once"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs, problems := Map(lookupIn(tt.doc), tt.rules, userDB)
			got := map[string]string{}
			for i, v := range attrs {
				if i > 0 && attrs[i-1].Field >= v.Field {
					t.Errorf("attributes not sorted: %v", attrs)
				}
				if v.Clear {
					got[v.Field] = "∅"
				} else {
					got[v.Field] = v.Text
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("attributes = %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
			if len(problems) != len(tt.wantProblems) {
				t.Fatalf("problems = %q, want %q", problems.String(), tt.wantProblems)
			}
			for i, p := range problems {
				if p.Error() != tt.wantProblems[i] {
					t.Errorf("problem %d = %q, want %q", i, p.Error(), tt.wantProblems[i])
				}
			}
		})
	}
}

func TestHash(t *testing.T) {
	a := Attributes{{Field: "A", Text: "1"}, {Field: "B", Text: "x"}}
	if a.Hash() != (Attributes{{Field: "A", Text: "1"}, {Field: "B", Text: "x"}}).Hash() {
		t.Error("equal attributes hash differently")
	}
	distinct := []Attributes{
		a,
		{{Field: "A", Text: "1"}, {Field: "B", Text: "y"}},
		{{Field: "A", Text: "1"}},
		{{Field: "A", Text: "1"}, {Field: "B", Clear: true}},
		{{Field: "A", Text: "1"}, {Field: "B", Text: ""}},
		{{Field: "A", Text: "1\nB=x"}},
		{},
	}
	seen := map[string]int{}
	for i, x := range distinct {
		h := x.Hash()
		if j, ok := seen[h]; ok {
			t.Errorf("attributes %d and %d share a hash", i, j)
		}
		seen[h] = i
		if len(h) != 64 {
			t.Errorf("hash %q is not hex SHA-256", h)
		}
	}
	if v, ok := a.Get("B"); !ok || v.Text != "x" {
		t.Errorf("Get(B) = %v, %v", v, ok)
	}
	if _, ok := a.Get("C"); ok {
		t.Error("Get(C) found a value")
	}
}

func FuzzMap(f *testing.F) {
	f.Add("base.dob", "2017-03-09T11:31:31.842+0000", "12", true)
	f.Add("x", " A@B.C ", "1e3", false)
	f.Add("", "\xff", "NaN", true)
	rules := []Rule{
		{HubField: "s", SendField: "EMAIL", Match: true},
		{HubField: "s", SendField: "BIRTH_DATE"},
		{HubField: "n", SendField: "POINTS"},
		{HubField: "n", SendField: "VIP"},
		{HubField: "s", SendField: "NOTES", ClearOnNull: true},
		{HubField: "missing", SendField: "FIRST_NAME", ClearOnNull: true},
	}
	f.Fuzz(func(t *testing.T, path, s, number string, flag bool) {
		doc := map[string]any{"s": s, "n": json.Number(number), path: flag}
		attrs, problems := Map(lookupIn(doc), rules, userDB)
		if len(attrs)+len(problems) == 0 {
			t.Fatal("nothing mapped and no problem")
		}
		for _, v := range attrs {
			if v.Clear {
				continue
			}
			// Canonical text coerces to itself: what is stored reads back equal.
			again, err := Coerce(v.Text, v.Type)
			if err != nil || again != v.Text {
				t.Fatalf("%s: canonical %q re-coerces to %q, %v", v.Field, v.Text, again, err)
			}
		}
		// Mapping the same customer again must hash the same, or every
		// sync would count as a change.
		if again, _ := Map(lookupIn(doc), rules, userDB); again.Hash() != attrs.Hash() {
			t.Fatal("hash not stable")
		}
	})
}

// benchmarkInput maps 20 fields of every common type.
func benchmarkInput() (*Mapper, func(string) (any, bool)) {
	var rules []Rule
	var fields []SendField
	doc := map[string]any{}
	add := func(name string, typ SendType, v any) {
		rules = append(rules, Rule{HubField: "f." + name, SendField: name})
		fields = append(fields, SendField{Name: name, Type: typ})
		doc["f."+name] = v
	}
	for _, name := range []string{"A", "B", "C", "D", "E", "F"} {
		add("S"+name, SendString, "some text value "+name)
		add("I"+name, SendInteger, json.Number("12345"))
	}
	add("EMAIL", SendString, "Mario.Rossi@Example.com")
	rules[len(rules)-1].Match = true
	add("D1", SendDate, "1980-05-17")
	add("D2", SendDateTime, "2017-03-09T11:31:31.842+0000")
	add("F1", SendFlag, true)
	add("F2", SendFlag, false)
	add("X1", SendDouble, json.Number("3.25"))
	add("L1", SendLong, json.Number("9007199254740993"))
	add("T1", SendText, "a longer note about the customer")
	return NewMapper(rules, fields), lookupIn(doc)
}

func BenchmarkMap20Fields(b *testing.B) {
	m, lookup := benchmarkInput()
	if attrs, problems := m.Map(lookup); len(attrs) != 20 || len(problems) != 0 {
		b.Fatalf("mapped %d, problems %v", len(attrs), problems)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Map(lookup)
	}
}

func BenchmarkMap20FieldsWithHash(b *testing.B) {
	m, lookup := benchmarkInput()
	b.ReportAllocs()
	for b.Loop() {
		attrs, _ := m.Map(lookup)
		_ = attrs.Hash()
	}
}
