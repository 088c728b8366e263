package devstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// CallT calls the stack's config API as the demo workspace with body as
// JSON (none when nil; a json.RawMessage goes as it is) and returns the
// status and the decoded JSON object answered. It fails the test if the
// request cannot be made.
func (s *Stack) CallT(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.APIURL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// SubscribersByEmailT reads the Contactsend simulator's demo userdb, keyed
// by lower-case email, failing the test on two subscribers for one email.
func (s *Stack) SubscribersByEmailT(t testing.TB) map[string]map[string]any {
	t.Helper()
	subs, err := s.Send.Subscribers(DemoUserDB)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, sub := range subs {
		email := strings.ToLower(fmt.Sprint(sub.Attributes["EMAIL"]))
		if _, dup := out[email]; dup {
			t.Fatalf("two subscribers for %s", email)
		}
		out[email] = sub.Attributes
	}
	return out
}
