package configapi_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configapi"
)

// TestStoredTokenNeverFollowsANewAddress tries to have the stored
// Contacthub token sent to a host of the caller's choosing.
func TestStoredTokenNeverFollowsANewAddress(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		http.Error(w, "{}", http.StatusUnauthorized)
	}))
	t.Cleanup(trap.Close)
	e := newEnv(t)
	current := e.expect(e.call("ws1", "GET", "/v1/workspace", nil, nil), http.StatusOK).body["contacthub"].(map[string]any)
	masked := current["token"]
	tests := []struct {
		name    string
		baseURL string
		hubWS   string
		token   any // nil: left out
	}{
		{"new address, token left out", trap.URL + "/hub/v1", "hub-ws", nil},
		{"new address, masked token", trap.URL + "/hub/v1", "hub-ws", masked},
		{"new workspace id, token left out", current["baseUrl"].(string), "other-ws", nil},
		{"new workspace id, masked token", current["baseUrl"].(string), "other-ws", masked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := map[string]any{"baseUrl": tt.baseURL, "workspaceId": tt.hubWS}
			if tt.token != nil {
				hub["token"] = tt.token
			}
			r := e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": hub}, nil)
			if r.status != http.StatusUnprocessableEntity || !slices.Equal(r.errorPaths(), []string{"contacthub.token"}) {
				t.Fatalf("answer %d %s, want 422 asking for the token", r.status, r.raw)
			}
			e.call("ws1", "GET", "/v1/nodes", nil, nil)
			if leaked.Load() != 0 {
				t.Fatalf("the stored token was sent to the new address")
			}
			if got := e.call("ws1", "GET", "/v1/workspace", nil, nil).body["contacthub"].(map[string]any); got["baseUrl"] != current["baseUrl"] || got["workspaceId"] != "hub-ws" {
				t.Errorf("a refused change was stored: %v", got)
			}
		})
	}
	// The same address with the masked token keeps it; a new address with a
	// token of its own is the admin's choice.
	e.expect(e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": map[string]any{"baseUrl": current["baseUrl"], "workspaceId": "hub-ws", "token": masked}}, nil), http.StatusOK)
	e.expect(e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": map[string]any{"baseUrl": trap.URL + "/hub/v1", "workspaceId": "hub-ws", "token": "a-token-for-the-new-host"}}, nil), http.StatusOK)
	for _, token := range []string{hubToken + " ", "\t" + hubToken, hubToken + "\n"} {
		r := e.call("ws2", "PUT", "/v1/workspace", map[string]any{"contacthub": map[string]any{"baseUrl": current["baseUrl"], "workspaceId": "hub-ws", "token": token}}, nil)
		if r.status != http.StatusUnprocessableEntity || !slices.Equal(r.errorPaths(), []string{"contacthub.token"}) {
			t.Errorf("token %q: answer %d %s, want 422 at contacthub.token", token, r.status, r.raw)
		}
	}
}

// TestContacthubWorkspaceIsFixedWhileSourcesExist: sources hold nodes of
// the Contacthub workspace they were made in.
func TestContacthubWorkspaceIsFixedWhileSourcesExist(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hub := e.expect(e.call("ws1", "GET", "/v1/workspace", nil, nil), http.StatusOK).body["contacthub"].(map[string]any)
	e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	r := e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": map[string]any{"baseUrl": hub["baseUrl"], "workspaceId": "other-ws", "token": hubToken}}, nil)
	if r.status != http.StatusConflict || !slices.Equal(r.errorPaths(), []string{"contacthub.workspaceId"}) {
		t.Fatalf("answer %d %s, want 409 at contacthub.workspaceId", r.status, r.raw)
	}
}

// TestStoredKeysStayWithTheirAccount: a stored userKey is never sent with
// an apiKey (an account) it was not saved with.
func TestStoredKeysStayWithTheirAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id := created.body["id"].(string)
	disabled := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	next := disabled.body
	next["properties"].(map[string]any)["apiKey"] = "fresh-api-key-0123456789"
	r := e.call("ws1", "PUT", "/v1/sources/"+id, next, map[string]string{"If-Match": disabled.headers["ETag"]})
	if r.status != http.StatusUnprocessableEntity || !slices.Contains(r.errorPaths(), "properties.userKey") {
		t.Fatalf("new apiKey with the stored userKey: %d %s, want 422 at properties.userKey", r.status, r.raw)
	}
	for _, route := range []string{"/v1/field-options", "/v1/subscription-systems", "/v1/connection-tests"} {
		draft := map[string]any{"sourceId": id, "properties": map[string]any{"apiKey": "fresh-api-key-0123456789", "userDbId": 6}}
		r := e.call("ws1", "POST", route, draft, nil)
		if r.status != http.StatusUnprocessableEntity || !slices.Contains(r.errorPaths(), "properties.userKey") {
			t.Errorf("%s with a new apiKey and the stored userKey: %d %s, want 422 at properties.userKey", route, r.status, r.raw)
		}
	}
}

func TestStrictJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	valid := `{"name":"N","nodes":["node-it"],"properties":{"apiKey":"` + sendAPIKey + `","userKey":"` + sendUserKey + `","userDbId":6,` +
		`"fieldMapping":[{"hubField":"base.contacts.email","sendField":"EMAIL","match":true}]}}`
	tests := []struct {
		name   string
		body   string
		status int
		path   string
	}{
		{"member name in another case", strings.Replace(valid, `"name"`, `"NAME"`, 1), http.StatusBadRequest, "NAME"},
		{"nested member name in another case", strings.Replace(valid, `"userDbId"`, `"userdbid"`, 1), http.StatusBadRequest, "properties.userdbid"},
		{"repeated member", strings.Replace(valid, `"name":"N"`, `"name":"N","name":"M"`, 1), http.StatusBadRequest, "name"},
		{"repeated nested member", strings.Replace(valid, `"match":true`, `"match":true,"match":false`, 1), http.StatusBadRequest, "properties.fieldMapping[0].match"},
		{"unknown nested member", strings.Replace(valid, `"userDbId":6`, `"userDbId":6,"bogus":1`, 1), http.StatusBadRequest, "properties.bogus"},
		{"unknown member in an array item", strings.Replace(valid, `"match":true`, `"match":true,"transform":"upper"`, 1), http.StatusBadRequest, "properties.fieldMapping[0].transform"},
		{"wrong type in an array item", strings.Replace(valid, `"match":true`, `"match":"yes"`, 1), http.StatusBadRequest, "properties.fieldMapping[0].match"},
		{"null instead of an object", `null`, http.StatusBadRequest, ""},
		{"array instead of an object", `[]`, http.StatusBadRequest, ""},
		{"too deep", strings.Repeat(`{"properties":`, 40) + "1" + strings.Repeat("}", 40), http.StatusBadRequest, "properties.properties"},
		{"userdb id beyond Contactsend's int", strings.Replace(valid, `"userDbId":6`, `"userDbId":1099511627776`, 1), http.StatusUnprocessableEntity, "properties.userDbId"},
		{"node id that climbs out of its path", strings.Replace(valid, `"node-it"`, `".."`, 1), http.StatusUnprocessableEntity, "nodes[0]"},
		{"integer out of range", strings.Replace(valid, `"userDbId":6`, `"userDbId":1e400`, 1), http.StatusBadRequest, "properties.userDbId"},
		{"control character in a subscription id", strings.Replace(valid, `"fieldMapping"`, `"subscriptions":[{"hubSubscriptionId":"news\u001bletter","sendSubscriptionId":1,"webformCode":"230004001355"}],"fieldMapping"`, 1),
			http.StatusUnprocessableEntity, "properties.subscriptions[0].hubSubscriptionId"},
		{"bidi override in the name", strings.Replace(valid, `"name":"N"`, `"name":"N\u202eevil"`, 1), http.StatusUnprocessableEntity, "name"},
		{"apiKey with a trailing space", strings.Replace(valid, sendAPIKey, sendAPIKey+" ", 1), http.StatusUnprocessableEntity, "properties.apiKey"},
		{"credential password mapped", strings.Replace(valid, `"match":true}`, `"match":true},{"hubField":"base.credential.password","sendField":"NAME"}`, 1),
			http.StatusUnprocessableEntity, "properties.fieldMapping[1].hubField"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("ws1", "POST", "/v1/sources", tt.body, nil)
			if r.status != tt.status || !slices.Contains(r.errorPaths(), tt.path) {
				t.Fatalf("answer %d %s, want %d naming %s", r.status, r.raw, tt.status, tt.path)
			}
		})
	}
	r := e.call("ws1", "PUT", "/v1/workspace", `{"contacthub":{"baseUrl":"http://x","workspaceId":"w","workspaceId":"v","token":"t"}}`, nil)
	if r.status != http.StatusBadRequest || !slices.Equal(r.errorPaths(), []string{"contacthub.workspaceId"}) {
		t.Errorf("repeated member in the workspace: %d %s", r.status, r.raw)
	}
	big := e.call("ws1", "POST", "/v1/sources", `{"name":"`+strings.Repeat("x", configapi.MaxBodyBytes)+`"}`, nil)
	if big.status != http.StatusRequestEntityTooLarge || len(big.errorPaths()) != 1 {
		t.Errorf("413 answer lacks errors[]: %s", big.raw[:min(len(big.raw), 300)])
	}
	if list := e.call("ws1", "GET", "/v1/sources", nil, nil); len(list.body["elements"].([]any)) != 0 {
		t.Errorf("a refused request stored a source: %s", list.raw)
	}
	// Unmappable fields are not offered either.
	options := e.expect(e.call("ws1", "POST", "/v1/field-options", map[string]any{"properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 6}}, nil), http.StatusOK)
	if strings.Contains(options.raw, "base.credential") {
		t.Errorf("field options offer a credential field")
	}
}

// TestHostileIDsQueriesAndCursors: input no request of the console makes
// is a 4xx, never a 500, and a long id is not logged whole.
func TestHostileIDsQueriesAndCursors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("a", 3000)
	for _, route := range []string{
		"GET /v1/sources/{id}", "PUT /v1/sources/{id}", "DELETE /v1/sources/{id}",
		"POST /v1/sources/{id}/enable", "POST /v1/sources/{id}/disable",
		"GET /v1/sources/{id}/field-options", "GET /v1/sources/{id}/subscription-systems",
		"POST /v1/sources/{id}/webhook-secret", "POST /v1/sources/{id}/resync",
		"GET /v1/sources/{id}/status", "GET /v1/sources/{id}/failures", "POST /v1/sources/{id}/preview",
	} {
		for _, id := range []string{long, "a.b", "%00", "a%20b"} {
			method, path, _ := strings.Cut(route, " ")
			r := e.call("ws1", method, strings.ReplaceAll(path, "{id}", id), `{}`, map[string]string{"If-Match": `"1"`})
			if r.status != http.StatusNotFound {
				t.Errorf("%s with id %.20q: %d %s, want 404", route, id, r.status, r.raw)
			}
		}
	}
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	for _, customer := range []string{strings.Repeat("c", 300), "%1b%5b31m", ".."} {
		r := e.call("ws1", "POST", "/v1/sources/"+id+"/failures/"+customer+"/retry", nil, nil)
		if r.status != http.StatusNotFound {
			t.Errorf("retry of customer %.20q: %d %s, want 404", customer, r.status, r.raw)
		}
	}
	for _, customer := range []string{"..", "a\u202eb", " c", strings.Repeat("c", 300)} {
		r := e.call("ws1", "POST", "/v1/sources/"+id+"/preview", map[string]any{"customerId": customer}, nil)
		if r.status != http.StatusUnprocessableEntity || !slices.Equal(r.errorPaths(), []string{"customerId"}) {
			t.Errorf("preview of customer %.20q: %d %s, want 422 at customerId", customer, r.status, r.raw)
		}
	}
	for _, node := range []string{"..", "node-it\u202e", " node-it"} {
		draft := map[string]any{"nodes": []string{node}, "properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 6}}
		r := e.call("ws1", "POST", "/v1/connection-tests", draft, nil)
		if r.status != http.StatusUnprocessableEntity || !slices.Equal(r.errorPaths(), []string{"nodes[0]"}) {
			t.Errorf("connection test of node %q: %d %s, want 422 at nodes[0]", node, r.status, r.raw)
		}
	}
	if strings.Contains(e.logs.String(), strings.Repeat("a", 300)) {
		t.Errorf("a long id was logged whole")
	}
	cursor := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	for _, tt := range []struct{ name, query, path string }{
		{"empty key", "cursor=" + cursor(`{"p":"","s":"","g":"WS#ws1","h":""}`), "cursor"},
		{"empty sort key", "cursor=" + cursor(`{"p":"SOURCE#x","s":"ITEM","g":"WS#ws1","h":""}`), "cursor"},
		{"oversized key", "cursor=" + cursor(`{"p":"SOURCE#`+long+`","s":"ITEM","g":"WS#ws1","h":"SOURCE#2026-01-01T00:00:00Z#x"}`), "cursor"},
		{"extra member", "cursor=" + cursor(`{"p":"SOURCE#x","s":"ITEM","g":"WS#ws1","h":"SOURCE#2026-01-01T00:00:00Z#x","z":1}`), "cursor"},
		{"another workspace", "cursor=" + cursor(`{"p":"SOURCE#x","s":"ITEM","g":"WS#ws2","h":"SOURCE#2026-01-01T00:00:00Z#x"}`), "cursor"},
		{"not base64", "cursor=a.b!", "cursor"},
		{"control character in nodeId", "nodeId=%1b", "nodeId"},
		{"misspelt filter", "enable=true", "enable"},
		{"limit zero", "limit=0", "limit"},
		{"limit repeated", "limit=1,2", "limit"}, // as API Gateway joins repeated parameters
		{"limit with a sign", "limit=+5", "limit"},
		{"limit empty", "limit=", "limit"},
		{"enabled spelt otherwise", "enabled=1", "enabled"},
	} {
		r := e.call("ws1", "GET", "/v1/sources?"+tt.query, nil, nil)
		if r.status != http.StatusBadRequest || !slices.Contains(r.errorPaths(), tt.path) {
			t.Errorf("list with %s: %d %s, want 400 at %s", tt.name, r.status, r.raw, tt.path)
		}
	}
	for _, q := range []string{"cursor=" + cursor(`{"s":"`+id+`","c":"`+long+`"}`), "cursor=" + long + long, "nodeId=x"} {
		r := e.call("ws1", "GET", "/v1/sources/"+id+"/failures?"+q, nil, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("failures with %.40s: %d %s, want 400", q, r.status, r.raw)
		}
	}
}

// TestOneNodeAcrossWorkspacesAndAggregates: a Contacthub node has one
// source whichever hubsend workspace asks; an aggregate node and one of its
// entry nodes may each have one, because they never write the same thing
// (see the configstore package documentation).
func TestOneNodeAcrossWorkspacesAndAggregates(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // ws1 and ws2 are both connected to Contacthub workspace hub-ws
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	r := e.call("ws2", "POST", "/v1/sources", with(validSource(), func(_, p map[string]any) { p["userDbId"] = 7; delete(p, "subscriptions") }), nil)
	if r.status != http.StatusConflict || !slices.Equal(r.errorPaths(), []string{"nodes[0]"}) {
		t.Fatalf("second workspace on the same Contacthub node: %d %s, want 409 at nodes[0]", r.status, r.raw)
	}
	if _, named := r.body["owner"]; named || strings.Contains(r.raw, id) || strings.Contains(r.raw, "ws1") {
		t.Errorf("the conflict reveals the other workspace or its source: %s", r.raw)
	}
	// The aggregate over node-it reads the same customers but writes only
	// its own userdb: no subscription rows, so nothing back to Contacthub.
	e.expect(e.call("ws1", "POST", "/v1/sources", with(validSource(), func(b, p map[string]any) {
		b["nodes"] = []string{"node-agg"}
		p["userDbId"] = 7
		delete(p, "subscriptions")
	}), nil), http.StatusCreated)
}

// TestWorkspaceClaimMustBeAWorkspaceID: the claim names table keys, so one
// that could collide with another key is no workspace.
func TestWorkspaceClaimMustBeAWorkspaceID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, claim := range []string{"ws1#x", "ws1\x00", " ws1", strings.Repeat("w", 200)} {
		if r := e.call(claim, "GET", "/v1/sources", nil, nil); r.status != http.StatusUnauthorized {
			t.Errorf("claim %.20q: %d %s, want 401", claim, r.status, r.raw)
		}
	}
}

func TestWorkspaceAddressIsAPublicBaseURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, baseURL := range []string{"https://user:secret@api.contactlab.it/hub/v1", "https://api.contactlab.it/hub/v1?x=1", "https://api.contactlab.it/hub/v1#f"} {
		r := e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": map[string]any{"baseUrl": baseURL, "workspaceId": "hub-ws", "token": hubToken}}, nil)
		if r.status != http.StatusUnprocessableEntity || !slices.Equal(r.errorPaths(), []string{"contacthub.baseUrl"}) {
			t.Errorf("baseUrl %s: %d %s, want 422 at contacthub.baseUrl", baseURL, r.status, r.raw)
		}
	}
	r := e.call("ws1", "PUT", "/v1/workspace", "{\"contacthub\":{\"baseUrl\":\"https://x\",\"workspaceId\":\"w\xff\",\"token\":\"t\"}}", nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("invalid UTF-8: %d %s, want 400", r.status, r.raw)
	}
	r = e.call("ws1", "PUT", "/v1/workspace", `{}`, map[string]string{"Content-Type": "application/jsonp"})
	if r.status != http.StatusUnsupportedMediaType {
		t.Errorf("application/jsonp: %d %s, want 415", r.status, r.raw)
	}
}

// TestDeployedAPICallsNoInternalHost: outside a local stack, the Contacthub
// address cannot name this machine or a private network.
func TestDeployedAPICallsNoInternalHost(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, slog.New(slog.DiscardHandler), 1)
	api := configapi.New(configapi.Config{Store: fx.store})
	for _, baseURL := range []string{"https://localhost/hub/v1", "https://127.0.0.1/hub/v1", "https://169.254.169.254/latest", "https://[::1]/x", "https://10.0.0.8/x", "https://[::ffff:192.168.1.1]/x", "https://0.0.0.0/x"} {
		event := events.APIGatewayV2HTTPRequest{
			RouteKey: "PUT /v1/workspace", RawPath: "/v1/workspace",
			Body: `{"contacthub":{"baseUrl":"` + baseURL + `","workspaceId":"hub-ws","token":"t0123456789"}}`,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "PUT", Path: "/v1/workspace"},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"custom:workspace": "ws1", "custom:role": "admin"}},
				},
			},
		}
		resp, _ := api.Handle(t.Context(), event)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Body, "contacthub.baseUrl") {
			t.Errorf("baseUrl %s: %d %s, want 422 at contacthub.baseUrl", baseURL, resp.StatusCode, resp.Body)
		}
	}
}

// TestOneUserDBWhateverTheKey: a second apiKey of the account that reaches
// the same userdb, in this workspace or another, meets the same guard.
func TestOneUserDBWhateverTheKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	for _, ws := range []string{"ws1", "ws2"} {
		r := e.call(ws, "POST", "/v1/sources", with(validSource(), func(b, p map[string]any) {
			b["nodes"] = []string{"node-es"}
			p["apiKey"] = "fresh-api-key-0123456789"
		}), nil)
		if r.status != http.StatusConflict || !slices.Equal(r.errorPaths(), []string{"properties.userDbId"}) {
			t.Fatalf("%s, second apiKey on userdb 6: %d %s, want 409 at properties.userDbId", ws, r.status, r.raw)
		}
		if named := strings.Contains(r.raw, id); named != (ws == "ws1") {
			t.Errorf("%s: owner named %v: %s", ws, named, r.raw)
		}
	}
}
