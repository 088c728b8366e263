package contacthub

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/retry"
)

func TestTimeJSON(t *testing.T) {
	want := time.Date(2017, 3, 9, 11, 31, 31, 842e6, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2017-03-09T11:31:31.842+0000"`, want},
		{`"2017-03-09T12:31:31.842+0100"`, want},
		{`"2017-03-09T11:31:31.842Z"`, want},
		{`"2017-03-09T13:31:31.842+02:00"`, want},
		{`"2017-03-09T11:31:31+0000"`, want.Truncate(time.Second)},
		{`null`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got Time
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`"09/03/2017"`, `12`, `""`} {
		var got Time
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	out, _ := json.Marshal(struct {
		A Time `json:"a"`
		B Time `json:"b,omitzero"`
	}{A: NewTime(want)})
	if string(out) != `{"a":"2017-03-09T11:31:31.842+0000"}` {
		t.Errorf("marshal = %s", out)
	}
}

func TestCustomerRoundTrip(t *testing.T) {
	in := `{"id":"c1","nodeId":"n1","externalId":null,"extra":null,"enabled":true,
	"registeredAt":"2017-03-09T11:31:31.842+0000","updatedAt":"2017-03-09T11:31:31.842+0000",
	"base":{"firstName":"Giulia","lastName":null,"jobs":[{"id":"j1"}],
	  "contacts":{"email":"g@example.com","otherContacts":[],"mobileDevices":[]},
	  "subscriptions":[{"id":"nl","subscribed":true,"preferences":[{"key":"k","value":"v"}],"futureFlag":1}]},
	"extended":{"points":12345678901234567890},"consents":{"marketing":null},"tags":{"auto":[],"manual":["a"]},
	"sourceInfo":{"registeredBy":"s1"}}`
	c, err := DecodeCustomer([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Base.Subscriptions[0].Unknown["futureFlag"] == nil || c.Unknown["sourceInfo"] == nil || c.Base.Unknown["jobs"] == nil {
		t.Fatalf("unknown members lost: %+v", c)
	}
	if c.Extended["points"] != json.Number("12345678901234567890") {
		t.Errorf("big number = %#v", c.Extended["points"])
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeCustomer(out)
	if err != nil {
		t.Fatal(err)
	}
	// Compared as JSON: parsed offsets make distinct *time.Location values.
	if second, _ := json.Marshal(again); string(second) != string(out) {
		t.Errorf("round trip changed the customer:\n%s\n%s", out, second)
	}
	for _, member := range []string{`"sourceInfo"`, `"futureFlag"`, `"jobs"`, `"consents"`} {
		if !strings.Contains(string(out), member) {
			t.Errorf("%s lost: %s", member, out)
		}
	}
	if v, ok := c.Lookup("base.contacts.email"); !ok || v != "g@example.com" {
		t.Errorf("Lookup email = %v, %v", v, ok)
	}
	if v, ok := c.Lookup("extended.points"); !ok || v != json.Number("12345678901234567890") {
		t.Errorf("Lookup points = %v, %v", v, ok)
	}
	if _, ok := c.Lookup("base.address.city"); ok {
		t.Error("Lookup found an absent path")
	}
}

func TestParseFieldSchema(t *testing.T) {
	schema := `{"type":"object","properties":{
	  "zeta":{"type":"string","title":"Zeta"},
	  "alpha":{"type":["integer","null"]},
	  "when":{"type":"string","format":"date-time"},
	  "day":{"type":["null","string"],"format":"date"},
	  "mail":{"type":"string","format":"email"},
	  "ratio":{"type":"number"},
	  "ok":{"type":"boolean"},
	  "hidden":{"type":"string","contactlabProperties":{"enabled":false}},
	  "list":{"type":"array","items":{"type":"string"}},
	  "free":{"type":"object"},
	  "nested":{"type":["object","null"],"contactlabProperties":{"label":"Nested"},"properties":{"leaf":{"type":"string","contactlabProperties":{"label":"Leaf"}}}}
	}}`
	got, err := ParseFieldSchema("extended", []byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{
		{"extended.zeta", String, "Zeta"},
		{"extended.alpha", Integer, "alpha"},
		{"extended.when", DateTime, "when"},
		{"extended.day", Date, "day"},
		{"extended.mail", Email, "mail"},
		{"extended.ratio", Number, "ratio"},
		{"extended.ok", Boolean, "ok"},
		{"extended.nested.leaf", String, "Nested › Leaf"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if _, err := ParseFieldSchema("x", []byte(`{"properties":[]}`)); err == nil {
		t.Error("malformed schema accepted")
	}
	if f, err := ParseFieldSchema("x", nil); err != nil || f != nil {
		t.Errorf("empty schema = %v, %v", f, err)
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter string
		wantMsg    string
		wantTemp   bool
		wantWait   time.Duration
		wantID     string
	}{
		{"conflict", 409, `{"message":"Conflict with exiting customer abc","logref":"l1","data":{"customer":{"id":"abc","href":"h"}},"errors":[]}`, "", "Conflict with exiting customer abc", false, 0, "abc"},
		{"throttled", 429, `{"message":"slow down","logref":"l2","data":null,"errors":[]}`, "3", "slow down", true, 3 * time.Second, ""},
		{"gateway html", 502, `<html>bad gateway</html>`, "", "Bad Gateway", true, 0, ""},
		{"locked", 423, `{"message":"Reindexing in progress"}`, "", "Reindexing in progress", true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			e := decodeError("POST", "/customers", resp, []byte(tt.body))
			if e.Message != tt.wantMsg || e.Temporary() != tt.wantTemp || e.RetryAfter() != tt.wantWait || e.ExistingCustomerID() != tt.wantID {
				t.Errorf("got %+v", e)
			}
		})
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := retry.ParseRetryAfter(now.Add(5*time.Second).Format(http.TimeFormat), now); d != 5*time.Second {
		t.Errorf("HTTP-date Retry-After = %v", d)
	}
}
