package configapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// draftOf is validSource as the form sends it before saving: no name, and
// the customer to preview.
func draftOf(customer map[string]any) map[string]any {
	d := validSource()
	delete(d, "name")
	delete(d, "description")
	for k, v := range customer {
		d[k] = v
	}
	return d
}

// TestPreviewOfADraft: a draft is previewed before it is saved, by
// customer id or by e-mail, and what the draft maps is what the preview
// shows; an invalid draft is a 422 naming the field.
func TestPreviewOfADraft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	giulia := ""
	for _, c := range e.hub.Customers("hub-ws") {
		if c["nodeId"] == "node-it" {
			giulia = c["id"].(string)
		}
	}
	byID := e.expect(e.call("ws1", "POST", "/v1/preview", draftOf(map[string]any{"customerId": giulia}), nil), http.StatusOK)
	byEmail := e.expect(e.call("ws1", "POST", "/v1/preview", draftOf(map[string]any{"email": "giulia.rossi@example.com"}), nil), http.StatusOK)
	if byEmail.body["customerId"] != giulia || byID.body["customerId"] != giulia {
		t.Fatalf("preview by e-mail found %v, want %s", byEmail.body["customerId"], giulia)
	}
	if !strings.Contains(byID.raw, `"field":"NAME"`) || !strings.Contains(byID.raw, `"value":"Giulia"`) {
		t.Errorf("preview does not show the draft's mapping: %s", byID.raw)
	}
	// A field mapping only in the draft shows in its preview.
	changed := draftOf(map[string]any{"customerId": giulia})
	changed["properties"].(map[string]any)["fieldMapping"] = []map[string]any{
		{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
		{"hubField": "base.lastName", "sendField": "NAME"},
	}
	if r := e.expect(e.call("ws1", "POST", "/v1/preview", changed, nil), http.StatusOK); !strings.Contains(r.raw, `"value":"Rossi"`) {
		t.Errorf("preview of a changed mapping: %s", r.raw)
	}

	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		path   string
	}{
		{"no customer", draftOf(nil), http.StatusUnprocessableEntity, "customerId"},
		{"both", draftOf(map[string]any{"customerId": giulia, "email": "giulia.rossi@example.com"}), http.StatusUnprocessableEntity, "email"},
		{"not an address", draftOf(map[string]any{"email": "giulia"}), http.StatusUnprocessableEntity, "email"},
		{"unknown address", draftOf(map[string]any{"email": "nobody@example.com"}), http.StatusNotFound, "email"},
		{"unknown userdb field", with(draftOf(map[string]any{"customerId": giulia}), func(_, p map[string]any) {
			p["fieldMapping"] = []map[string]any{{"hubField": "base.contacts.email", "sendField": "NOPE", "match": true}}
		}), http.StatusUnprocessableEntity, "properties.fieldMapping[0].sendField"},
		{"unknown member", draftOf(map[string]any{"customer": giulia}), http.StatusBadRequest, "customer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.expect(e.call("ws1", "POST", "/v1/preview", tc.body, nil), tc.status)
			if !strings.Contains(strings.Join(r.errorPaths(), " "), tc.path) {
				t.Errorf("problems at %v, want %s: %s", r.errorPaths(), tc.path, r.raw)
			}
		})
	}
}

// TestPreviewDraftKeepsStoredKeysWithTheirAccount: a saved source's id
// stands in for its masked keys, but its stored userKey never goes with
// another apiKey, and another workspace's source id is not found.
func TestPreviewDraftKeepsStoredKeysWithTheirAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	masked := draftOf(map[string]any{"sourceId": id, "email": "giulia.rossi@example.com"})
	props := masked["properties"].(map[string]any)
	props["apiKey"], props["userKey"] = "••••6789", "••••6789"
	r := e.expect(e.call("ws1", "POST", "/v1/preview", masked, nil), http.StatusOK)
	// The draft keeps the saved source's userdb and account, so the
	// preview knows the subscriber the seed links.
	if r.body["subscriberId"] != float64(2147483648) {
		t.Errorf("preview with a saved source's keys: %s", r.raw)
	}
	props["apiKey"] = "fresh-api-key-0123456789"
	r = e.expect(e.call("ws1", "POST", "/v1/preview", masked, nil), http.StatusUnprocessableEntity)
	if !strings.Contains(strings.Join(r.errorPaths(), " "), "properties.userKey") {
		t.Errorf("a new apiKey with the stored userKey: %s", r.raw)
	}
	props["apiKey"] = "••••6789"
	e.expect(e.call("ws2", "POST", "/v1/preview", masked, nil), http.StatusNotFound)
}

// TestPreviewByEmail: a saved source's preview finds the customer by
// e-mail; one just created is not in Contacthub's search yet, and the
// answer says so instead of claiming it does not exist.
func TestPreviewByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	r := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/preview", map[string]any{"email": "giulia.rossi@example.com"}, nil), http.StatusOK)
	if r.body["action"] != "none" {
		t.Errorf("preview by e-mail: %s", r.raw)
	}
	e.hub.SetSearchIndexDelay(time.Hour)
	if _, err := e.hub.PutCustomer("hub-ws", map[string]any{"nodeId": "node-it", "base": map[string]any{"contacts": map[string]any{"email": "new@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	r = e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/preview", map[string]any{"email": "new@example.com"}, nil), http.StatusNotFound)
	if !strings.Contains(r.body["message"].(string), "minute") {
		t.Errorf("a customer not yet searchable: %s", r.raw)
	}
}
