package configapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAnswersInTheCallersLanguage: an Italian caller gets the message and
// every problem in Italian, an English one (or one asking for a language
// the API does not speak) in English; names and values stay as sent.
func TestAnswersInTheCallersLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	invalid := with(validSource(), func(b, p map[string]any) {
		b["name"] = ""
		p["fieldMapping"] = []map[string]any{{"hubField": "base.contacts.email", "sendField": "NOPE", "match": true}}
	})
	problems := func(r response) map[string]string {
		out := map[string]string{}
		for _, item := range r.body["errors"].([]any) {
			p := item.(map[string]any)
			out[p["path"].(string)] = p["message"].(string)
		}
		return out
	}
	it := e.expect(e.call("ws1", "POST", "/v1/sources", invalid, map[string]string{"Accept-Language": "it-IT,it;q=0.9,en;q=0.8"}), http.StatusUnprocessableEntity)
	if it.body["message"] != "la source non è valida" {
		t.Errorf("Italian message = %q", it.body["message"])
	}
	if got := problems(it); got["name"] != "è obbligatorio" || got["properties.fieldMapping[0].sendField"] != "il campo Contactsend NOPE non esiste nello userdb 6" {
		t.Errorf("Italian problems = %v", got)
	}
	if it.headers["Content-Language"] != "it" || !strings.Contains(it.headers["Vary"], "Accept-Language") {
		t.Errorf("Italian answer headers = %v", it.headers)
	}
	for _, header := range []string{"", "en-GB", "fr-FR"} {
		en := e.expect(e.call("ws1", "POST", "/v1/sources", invalid, map[string]string{"Accept-Language": header}), http.StatusUnprocessableEntity)
		if en.body["message"] != "the source is not valid" || problems(en)["name"] != "is required" {
			t.Errorf("Accept-Language %q: %s", header, en.raw)
		}
	}
	// A malformed body and an unknown route answer in Italian too.
	bad := e.expect(e.call("ws1", "POST", "/v1/sources", `{"name": 1}`, map[string]string{"Accept-Language": "it"}), http.StatusBadRequest)
	if strings.Contains(bad.raw, "must be") {
		t.Errorf("a malformed body's answer in Italian: %s", bad.raw)
	}
	// A connection test's checks say what they found in Italian.
	test := e.expect(e.call("ws1", "POST", "/v1/connection-tests", map[string]any{"nodes": []string{"node-it"},
		"properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 6}}, map[string]string{"Accept-Language": "it"}), http.StatusOK)
	if !strings.Contains(test.raw, "Contactsend ha accettato apiKey e userKey") || !strings.Contains(test.raw, "è raggiungibile") {
		t.Errorf("connection test in Italian: %s", test.raw)
	}
}
