package configapi

import (
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/mapping"
)

// TestSamplesNeverShowSecrets: a field whose name suggests a secret, or a
// login credential, gets no sample even when the customer has a value;
// the others get the first customer's value that exists, shortened.
func TestSamplesNeverShowSecrets(t *testing.T) {
	customers := []contacthub.Customer{
		{ID: "1", Base: &contacthub.Base{FirstName: ""}, Extended: map[string]any{"accessToken": "tok-1", "shopPin": "1234", "note": strings.Repeat("x", 200)}},
		{ID: "2", Base: &contacthub.Base{FirstName: "Ada"}, Extended: map[string]any{"apiKey": "k", "userPassword": "p"},
			Unknown: nil},
	}
	fields := []mapping.HubField{
		{Path: "base.firstName"}, {Path: "extended.accessToken"}, {Path: "extended.shopPin"}, {Path: "extended.apiKey"},
		{Path: "extended.userPassword"}, {Path: "base.credential.password"}, {Path: "extended.note"}, {Path: "base.lastName"},
	}
	got := samples(customers, fields)
	if got["base.firstName"] != "Ada" {
		t.Errorf("base.firstName sample = %q, want the first customer's value that exists", got["base.firstName"])
	}
	for _, secret := range []string{"extended.accessToken", "extended.shopPin", "extended.apiKey", "extended.userPassword", "base.credential.password"} {
		if v, ok := got[secret]; ok {
			t.Errorf("%s has a sample %q", secret, v)
		}
	}
	if note := got["extended.note"]; len([]rune(note)) != maxSampleLen || !strings.HasSuffix(note, "…") {
		t.Errorf("a long value's sample = %q, want %d characters ending in …", note, maxSampleLen)
	}
	if _, ok := got["base.lastName"]; ok {
		t.Error("a field no customer has got a sample")
	}
}
