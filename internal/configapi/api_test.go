package configapi_test

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// validSource is a source body that every check accepts.
func validSource() map[string]any {
	return map[string]any{
		"name":        "Newsletter Italia",
		"description": "Clienti italiani verso la newsletter",
		"nodes":       []string{"node-it"},
		"properties": map[string]any{
			"userKey":  sendUserKey,
			"apiKey":   sendAPIKey,
			"userDbId": 6,
			"fieldMapping": []map[string]any{
				{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
				{"hubField": "base.firstName", "sendField": "NAME", "match": false},
			},
			"subscriptions": []map[string]any{
				{"hubSubscriptionId": "newsletter", "sendSubscriptionId": 1, "webformCode": "230004001355"},
			},
		},
	}
}

func with(body map[string]any, change func(body, props map[string]any)) map[string]any {
	change(body, body["properties"].(map[string]any))
	return body
}

func TestCreateAndRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id, _ := created.body["id"].(string)
	if id == "" || created.headers["Location"] != "/v1/sources/"+id || created.headers["ETag"] != `"1"` {
		t.Fatalf("create answer: headers %v body %s", created.headers, created.raw)
	}
	props := created.body["properties"].(map[string]any)
	if props["apiKey"] != "••••6789" || props["userKey"] != "••••6789" {
		t.Errorf("secrets not masked: apiKey %v userKey %v", props["apiKey"], props["userKey"])
	}
	if created.body["provider"] != "CONTACTSEND" || created.body["enabled"] != true {
		t.Errorf("create answer %s", created.raw)
	}
	got := e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusOK)
	if got.body["name"] != "Newsletter Italia" || got.headers["ETag"] != `"1"` {
		t.Errorf("GET answer %s", got.raw)
	}
	list := e.expect(e.call("ws1", "GET", "/v1/sources?nodeId=node-it", nil, nil), http.StatusOK)
	if n := len(list.body["elements"].([]any)); n != 1 {
		t.Errorf("list has %d sources, want 1", n)
	}
}

func TestValidationNamesEveryProblem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		body   any
		status int
		paths  []string
	}{
		{"malformed JSON", `{"name": `, http.StatusBadRequest, nil},
		{"trailing data", `{"name": "a"} {}`, http.StatusBadRequest, []string{""}},
		{"unknown field", with(validSource(), func(b, _ map[string]any) { b["colour"] = "red" }), http.StatusBadRequest, []string{"colour"}},
		{"wrong type", with(validSource(), func(_, p map[string]any) { p["userDbId"] = "six" }), http.StatusBadRequest, []string{"properties.userDbId"}},
		{"body over 1 MiB", with(validSource(), func(b, _ map[string]any) { b["description"] = strings.Repeat("x", configapi.MaxBodyBytes) }), http.StatusRequestEntityTooLarge, nil},
		{"control characters in name", with(validSource(), func(b, _ map[string]any) { b["name"] = "news\u0007letter" }), http.StatusUnprocessableEntity, []string{"name"}},
		{"everything wrong at once", with(validSource(), func(b, p map[string]any) {
			b["name"] = ""
			b["nodes"] = []string{"node-it", "node-es"}
			p["fieldMapping"] = []map[string]any{{"hubField": "base.firstName", "sendField": "NAME", "match": false}}
			p["subscriptions"] = []map[string]any{{"hubSubscriptionId": "", "sendSubscriptionId": 1, "webformCode": "230004001355"}}
		}), http.StatusUnprocessableEntity, []string{"name", "nodes", "properties.fieldMapping", "properties.subscriptions[0].hubSubscriptionId"}},
		{"node that does not exist", with(validSource(), func(b, _ map[string]any) { b["nodes"] = []string{"node-nope"} }), http.StatusUnprocessableEntity, []string{"nodes[0]"}},
		{"subscriptions on an aggregate node", with(validSource(), func(b, _ map[string]any) { b["nodes"] = []string{"node-agg"} }), http.StatusUnprocessableEntity, []string{"properties.subscriptions"}},
		{"unknown Contacthub field", with(validSource(), func(_, p map[string]any) {
			p["fieldMapping"].([]map[string]any)[1]["hubField"] = "base.nope"
		}), http.StatusUnprocessableEntity, []string{"properties.fieldMapping[1].hubField"}},
		{"Contactsend field of the wrong type", with(validSource(), func(_, p map[string]any) {
			p["fieldMapping"].([]map[string]any)[1]["sendField"] = "PRIVACY"
		}), http.StatusUnprocessableEntity, []string{"properties.fieldMapping[1].sendField"}},
		{"Contactsend field mapped twice", with(validSource(), func(_, p map[string]any) {
			p["fieldMapping"].([]map[string]any)[1]["sendField"] = "EMAIL"
		}), http.StatusUnprocessableEntity, []string{"properties.fieldMapping[1].sendField"}},
		{"web form code of another system", with(validSource(), func(_, p map[string]any) {
			p["subscriptions"].([]map[string]any)[0]["webformCode"] = "230004001356"
		}), http.StatusUnprocessableEntity, []string{"properties.subscriptions[0].webformCode"}},
		{"refused credentials", with(validSource(), func(_, p map[string]any) { p["apiKey"] = "wrong-api-key-000000" }),
			http.StatusUnprocessableEntity, []string{"properties.apiKey", "properties.userKey"}},
		{"unknown userdb", with(validSource(), func(_, p map[string]any) { p["userDbId"] = 99 }), http.StatusUnprocessableEntity, []string{"properties.userDbId"}},
		{"masked key on create", with(validSource(), func(_, p map[string]any) { p["apiKey"] = "••••6789" }), http.StatusUnprocessableEntity, []string{"properties.apiKey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("ws1", "POST", "/v1/sources", tt.body, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if msg, _ := r.body["message"].(string); msg == "" {
				t.Errorf("no message: %s", r.raw)
			}
			if tt.paths != nil && !slices.Equal(r.errorPaths(), tt.paths) {
				t.Errorf("problems at %v, want %v: %s", r.errorPaths(), tt.paths, r.raw)
			}
		})
	}
	if list := e.call("ws1", "GET", "/v1/sources", nil, nil); len(list.body["elements"].([]any)) != 0 {
		t.Errorf("a refused request stored a source: %s", list.raw)
	}
}

func TestConcurrentCreatesForOneNodeOrUserDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(i int) map[string]any
		path  string
	}{
		{"same node", func(i int) map[string]any {
			// Each would-be source uses its own userdb, so only the node collides.
			return with(validSource(), func(b, p map[string]any) { p["userDbId"] = []int{6, 7, 8}[i%3]; delete(p, "subscriptions") })
		}, "nodes[0]"},
		{"same userdb", func(i int) map[string]any {
			return with(validSource(), func(b, p map[string]any) {
				b["nodes"] = []string{fmt.Sprintf("node-u%02d", i)}
			})
		}, "properties.userDbId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			const n = 20
			results := make([]response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { results[i] = e.call("ws1", "POST", "/v1/sources", tt.build(i), nil) })
			}
			wg.Wait()
			var winner string
			for _, r := range results {
				if r.status == http.StatusCreated {
					if winner != "" {
						t.Fatalf("two creates won")
					}
					winner = r.body["id"].(string)
				}
			}
			if winner == "" {
				t.Fatalf("no create won: %+v", results[0].raw)
			}
			for _, r := range results {
				if r.status == http.StatusCreated {
					continue
				}
				if r.status != http.StatusConflict || r.body["owner"] != winner || !slices.Contains(r.errorPaths(), tt.path) {
					t.Errorf("loser got %d %s, want 409 naming %s at %s", r.status, r.raw, winner, tt.path)
				}
			}
		})
	}
}

func TestModificationRulesWithLiveChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		start   func(b, p map[string]any) // the source as created
		disable bool
		change  func(b, p map[string]any)
		empty   []string // nodes emptied before the change
		status  int
		missing []string
	}{
		{"rename while enabled", nil, false, func(b, _ map[string]any) { b["name"] = "Nuovo nome" }, nil, http.StatusOK, nil},
		{"userKey rotation while enabled", nil, false, func(_, p map[string]any) { p["userKey"] = sendUserKey }, nil, http.StatusOK, nil},
		{"mapping while enabled", nil, false, func(_, p map[string]any) {
			p["fieldMapping"] = []map[string]any{{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true}}
		}, nil, http.StatusConflict, []string{"sourceDisabled"}},
		{"mapping while disabled", nil, true, func(_, p map[string]any) {
			p["fieldMapping"] = []map[string]any{{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true}}
		}, nil, http.StatusOK, nil},
		{"subscriptions while enabled", nil, false, func(_, p map[string]any) { p["subscriptions"] = []any{} }, nil, http.StatusConflict, []string{"sourceDisabled"}},
		{"node while enabled and populated", nil, false, func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }, nil,
			http.StatusConflict, []string{"sourceDisabled", "currentNodeEmpty"}},
		{"node while disabled and populated", nil, true, func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }, nil,
			http.StatusConflict, []string{"currentNodeEmpty"}},
		{"node while disabled and empty", func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }, true,
			func(b, _ map[string]any) { b["nodes"] = []string{"node-es"} }, nil, http.StatusOK, nil},
		{"userdb onto a populated node", func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }, true,
			func(b, p map[string]any) {
				b["nodes"] = []string{"node-es"}
				p["userDbId"] = 7
				p["subscriptions"] = []any{}
			}, nil,
			http.StatusConflict, []string{"newNodeEmpty"}},
		{"userdb with both nodes empty", func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }, true,
			func(b, p map[string]any) {
				b["nodes"] = []string{"node-empty-2"}
				p["userDbId"] = 7
				p["subscriptions"] = []any{}
			}, nil, http.StatusOK, nil},
		{"apiKey while enabled and populated", nil, false, func(_, p map[string]any) { p["apiKey"], p["userKey"] = "fresh-api-key-0123456789", sendUserKey }, nil,
			http.StatusConflict, []string{"sourceDisabled", "currentNodeEmpty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			body := validSource()
			if tt.start != nil {
				body = with(body, tt.start)
			}
			created := e.expect(e.call("ws1", "POST", "/v1/sources", body, nil), http.StatusCreated)
			id := created.body["id"].(string)
			current := created
			if tt.disable {
				current = e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
			}
			// Send back what was read, masked keys included, with the change.
			next := current.body
			tt.change(next, next["properties"].(map[string]any))
			r := e.call("ws1", "PUT", "/v1/sources/"+id, next, map[string]string{"If-Match": current.headers["ETag"]})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status == http.StatusConflict {
				var got []string
				for _, req := range r.body["requirements"].([]any) {
					got = append(got, req.(map[string]any)["requirement"].(string))
				}
				if !slices.Equal(got, tt.missing) {
					t.Errorf("unmet requirements %v, want %v: %s", got, tt.missing, r.raw)
				}
				after := e.call("ws1", "GET", "/v1/sources/"+id, nil, nil)
				if after.headers["ETag"] != current.headers["ETag"] {
					t.Errorf("a refused change was stored: %s", after.raw)
				}
			}
		})
	}
}

func TestReplaceNeedsTheCurrentVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id := created.body["id"].(string)
	body := created.body
	body["name"] = "Renamed"
	e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, body, nil), http.StatusPreconditionRequired)
	e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, body, map[string]string{"If-Match": `"7"`}), http.StatusPreconditionFailed)
	saved := e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, body, map[string]string{"If-Match": `"1"`}), http.StatusOK)
	if saved.headers["ETag"] != `"2"` || saved.body["name"] != "Renamed" {
		t.Fatalf("replace answer %v %s", saved.headers, saved.raw)
	}
	// The same If-Match again is now stale.
	e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, body, map[string]string{"If-Match": `"1"`}), http.StatusPreconditionFailed)
}

func TestEnableDisableDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	e.expect(e.call("ws1", "DELETE", "/v1/sources/"+id, nil, nil), http.StatusConflict)
	if r := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK); r.body["enabled"] != false {
		t.Fatalf("disable answer %s", r.raw)
	}
	if list := e.call("ws1", "GET", "/v1/sources?enabled=true", nil, nil); len(list.body["elements"].([]any)) != 0 {
		t.Errorf("disabled source listed as enabled: %s", list.raw)
	}
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, nil), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	e.expect(e.call("ws1", "DELETE", "/v1/sources/"+id, nil, nil), http.StatusNoContent)
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusNotFound)
	// The node and userdb are free again.
	e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
}

func TestWorkspacesNeverSeeEachOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id := created.body["id"].(string)
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/sources/" + id},
		{"POST", "/v1/sources/" + id + "/disable"},
		{"DELETE", "/v1/sources/" + id},
		{"GET", "/v1/sources/" + id + "/field-options"},
		{"GET", "/v1/sources/" + id + "/subscription-systems"},
	} {
		e.expect(e.call("ws2", req.method, req.path, nil, nil), http.StatusNotFound)
	}
	e.expect(e.call("ws2", "PUT", "/v1/sources/"+id, created.body, map[string]string{"If-Match": `"1"`}), http.StatusNotFound)
	if list := e.call("ws2", "GET", "/v1/sources", nil, nil); len(list.body["elements"].([]any)) != 0 {
		t.Errorf("ws2 lists ws1's source: %s", list.raw)
	}
	// A userdb taken in another workspace is refused without naming the owner.
	r := e.expect(e.call("ws2", "POST", "/v1/sources", with(validSource(), func(b, _ map[string]any) { b["nodes"] = []string{"node-es"} }), nil), http.StatusConflict)
	if _, named := r.body["owner"]; named || strings.Contains(r.raw, id) {
		t.Errorf("conflict across workspaces reveals the owner: %s", r.raw)
	}
	e.expect(e.call("", "GET", "/v1/sources", nil, nil), http.StatusUnauthorized)
}

func TestFieldOptionsAndSubscriptionSystems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	draft := map[string]any{"properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 6}}
	options := e.expect(e.call("ws1", "POST", "/v1/field-options", draft, nil), http.StatusOK)
	byPath := map[string][]string{}
	for _, f := range options.body["hubFields"].([]any) {
		field := f.(map[string]any)
		var names []string
		for _, o := range field["options"].([]any) {
			names = append(names, o.(map[string]any)["name"].(string))
		}
		byPath[field["path"].(string)] = names
	}
	if got := byPath["base.contacts.email"]; !slices.Equal(got, []string{"EMAIL", "NAME"}) {
		t.Errorf("options for base.contacts.email = %v, want the userdb's text fields", got)
	}
	if got := byPath["extended.vip"]; !slices.Equal(got, []string{"EMAIL", "NAME", "PRIVACY"}) {
		t.Errorf("options for extended.vip = %v", got)
	}
	for path, names := range byPath {
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "__cls") }) {
			t.Errorf("%s offers a registration field: %v", path, names)
		}
	}

	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	saved := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/field-options", nil, nil), http.StatusOK)
	// The saved source names a node, so its fields come with samples from
	// a customer of the node; a draft without a node has none. Apart from
	// the samples, both answers are the same.
	samples := map[string]any{}
	for _, f := range saved.body["hubFields"].([]any) {
		field := f.(map[string]any)
		if v, ok := field["sample"]; ok {
			samples[field["path"].(string)] = v
			delete(field, "sample")
		}
	}
	if !reflect.DeepEqual(saved.body, options.body) || strings.Contains(options.raw, `"sample"`) {
		t.Errorf("saved source's field options differ from the draft's beyond the samples")
	}
	if samples["base.firstName"] != "Giulia" || samples["base.contacts.email"] != "giulia.rossi@example.com" {
		t.Errorf("samples of node-it = %v, want Giulia's values", samples)
	}
	if _, ok := samples["extended.vip"]; ok {
		t.Errorf("a field no customer has got a sample: %v", samples["extended.vip"])
	}
	systems := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/subscription-systems", nil, nil), http.StatusOK)
	if got := fmt.Sprint(systems.body["elements"]); !strings.Contains(got, "230004001355") || !strings.Contains(got, "__cls2") {
		t.Errorf("subscription systems = %s", systems.raw)
	}
	e.expect(e.call("ws1", "POST", "/v1/subscription-systems", map[string]any{"properties": map[string]any{"apiKey": sendAPIKey, "userKey": "nope-nope-nope", "userDbId": 6}}, nil), http.StatusUnprocessableEntity)
	// A saved source's id stands in for its masked keys.
	masked := map[string]any{"sourceId": id, "properties": map[string]any{"apiKey": "••••6789", "userKey": "••••6789", "userDbId": 7}}
	e.expect(e.call("ws1", "POST", "/v1/subscription-systems", masked, nil), http.StatusOK)
}

func TestConnectionTestSaysWhichPartFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		body map[string]any
		want map[string]bool
	}{
		{"all good", map[string]any{"nodes": []string{"node-it"}, "properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 6}},
			map[string]bool{"contacthub": true, "credentials": true, "userdb": true}},
		{"wrong keys", map[string]any{"properties": map[string]any{"apiKey": sendAPIKey, "userKey": "wrong-user-key-000000", "userDbId": 6}},
			map[string]bool{"contacthub": true, "credentials": false, "userdb": false}},
		{"unknown userdb and node", map[string]any{"nodes": []string{"node-nope"}, "properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 42}},
			map[string]bool{"contacthub": false, "credentials": true, "userdb": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.expect(e.call("ws1", "POST", "/v1/connection-tests", tt.body, nil), http.StatusOK)
			got := map[string]bool{}
			allOK := true
			for _, c := range r.body["checks"].([]any) {
				check := c.(map[string]any)
				got[check["name"].(string)] = check["ok"].(bool)
				allOK = allOK && check["ok"].(bool)
				if check["message"] == "" {
					t.Errorf("check %v has no message", check["name"])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || r.body["ok"] != allOK {
				t.Errorf("checks %v (ok %v), want %v: %s", got, r.body["ok"], tt.want, r.raw)
			}
		})
	}
}

func TestWorkspaceConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.expect(e.call("ws1", "GET", "/v1/workspace", nil, nil), http.StatusOK)
	hub := r.body["contacthub"].(map[string]any)
	if hub["token"] != "••••cdef" || hub["workspaceId"] != "hub-ws" {
		t.Errorf("workspace answer %s", r.raw)
	}
	// Sending the masked token back keeps the stored one.
	hub["workspaceId"] = "hub-ws"
	delete(hub, "updatedAt")
	e.expect(e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": hub}, nil), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/field-options", map[string]any{"properties": map[string]any{"apiKey": sendAPIKey, "userKey": sendUserKey, "userDbId": 6}}, nil), http.StatusOK)

	bad := e.call("ws1", "PUT", "/v1/workspace", map[string]any{"contacthub": map[string]any{"baseUrl": "ftp://x", "workspaceId": ""}}, nil)
	if bad.status != http.StatusUnprocessableEntity || !slices.Equal(bad.errorPaths(), []string{"contacthub.baseUrl", "contacthub.workspaceId"}) {
		t.Errorf("invalid workspace answer %d %s", bad.status, bad.raw)
	}
	e.expect(e.call("ws3", "GET", "/v1/workspace", nil, nil), http.StatusOK)
	e.expect(e.call("ws3", "POST", "/v1/sources", validSource(), nil), http.StatusConflict)
}

func TestUpstreamFailuresAreClearAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.send.Faults().Add(faultRule("status", 503)); err != nil {
		t.Fatal(err)
	}
	r := e.call("ws1", "POST", "/v1/sources", validSource(), nil)
	if r.status != http.StatusBadGateway || !strings.Contains(r.body["message"].(string), "Contactsend") {
		t.Fatalf("answer %d %s, want 502 naming Contactsend", r.status, r.raw)
	}
	e.send.Faults().Reset()
	if _, err := e.hub.Faults().Add(faultRule("status", 500)); err != nil {
		t.Fatal(err)
	}
	r = e.call("ws1", "POST", "/v1/sources", validSource(), nil)
	if r.status != http.StatusBadGateway || !strings.Contains(r.body["message"].(string), "Contacthub") {
		t.Fatalf("answer %d %s, want 502 naming Contacthub", r.status, r.raw)
	}
}

func TestRoutesMatchTheTemplate(t *testing.T) {
	root, err := samtemplate.Locate(".")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := samtemplate.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := tmpl.Routes()
	if err != nil {
		t.Fatal(err)
	}
	inTemplate := map[string]bool{}
	for _, r := range routes {
		if r.FunctionID == "ConfigApiFunction" {
			inTemplate[r.Method+" "+r.Path] = r.Public()
		}
	}
	served := configapi.New(configapi.Config{}).RouteKeys()
	for key, public := range served {
		inTmpl, ok := inTemplate[key]
		if !ok {
			t.Errorf("route %s is served but not in template.yaml", key)
		} else if inTmpl != public {
			t.Errorf("route %s: public %v in template.yaml, %v in the API", key, inTmpl, public)
		}
	}
	for key := range inTemplate {
		if _, ok := served[key]; !ok {
			t.Errorf("template.yaml routes %s to the config API, which does not serve it", key)
		}
	}
}

func faultRule(kind string, status int) faults.Rule {
	return faults.Rule{Kind: faults.Kind(kind), Status: status, Rate: 1}
}

func TestFirstEnableAndResyncStartBackfills(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", with(validSource(), func(b, _ map[string]any) { b["enabled"] = false }), nil), http.StatusCreated)
	id := created.body["id"].(string)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/resync", nil, nil), http.StatusConflict)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, nil), http.StatusOK)
	status, err := e.intake.Status(t.Context(), id)
	if err != nil || status.Backfill == nil || status.Backfill.NextPage != 0 {
		t.Fatalf("after the first enable: %+v, %v; want a backfill from page 0", status, err)
	}
	firstRun := status.Backfill.RunID
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, nil), http.StatusOK)
	if status, _ := e.intake.Status(t.Context(), id); status.Backfill.RunID != firstRun {
		t.Errorf("enabling again started another backfill")
	}
	r := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/resync", nil, nil), http.StatusAccepted)
	if r.body["status"] != "started" || r.body["backfill"].(map[string]any)["runId"] == firstRun {
		t.Errorf("resync answer %s", r.raw)
	}
	e.expect(e.call("ws2", "POST", "/v1/sources/"+id+"/resync", nil, nil), http.StatusNotFound)
}

func TestConsoleFiles(t *testing.T) {
	api := configapi.New(configapi.Config{Console: fstest.MapFS{
		"index.html":   {Data: []byte("<!doctype html><title>hubsend</title>")},
		"app/main.js":  {Data: []byte("console.log(1)")},
		"img/logo.png": {Data: []byte{0x89, 'P', 'N', 'G', 0}},
	}})
	get := func(path string, headers map[string]string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		resp, err := api.Handle(t.Context(), events.APIGatewayV2HTTPRequest{
			RouteKey: "$default", RawPath: path, Headers: headers,
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	index := get("/", nil)
	if index.StatusCode != 200 || !strings.HasPrefix(index.Headers["Content-Type"], "text/html") || !strings.Contains(index.Body, "hubsend") {
		t.Fatalf("index: %+v", index)
	}
	if index.Headers["Content-Security-Policy"] == "" {
		t.Error("console served without a content security policy")
	}
	if js := get("/console/app/main.js", nil); js.StatusCode != 200 || !strings.Contains(js.Headers["Content-Type"], "javascript") {
		t.Errorf("main.js: %+v", js)
	}
	if png := get("/console/img/logo.png", nil); !png.IsBase64Encoded {
		t.Errorf("binary file not base64-encoded: %+v", png)
	}
	if again := get("/", map[string]string{"if-none-match": index.Headers["ETag"]}); again.StatusCode != 304 {
		t.Errorf("revalidation: %d", again.StatusCode)
	}
	for _, path := range []string{"/console/missing.js", "/console/../go.mod", "/console/%2e%2e/secret"} {
		if r := get(path, nil); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
	}
}

func TestSyncVisibilityEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	status := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/status", nil, nil), http.StatusOK)
	if status.body["enabled"] != true || status.body["intake"].(map[string]any)["backfill"] == nil {
		t.Errorf("status %s", status.raw)
	}
	if r := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures?limit=10", nil, nil), http.StatusOK); len(r.body["elements"].([]any)) != 0 {
		t.Errorf("failures of a new source: %s", r.raw)
	}
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures?cursor=nope", nil, nil), http.StatusBadRequest)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/failures/unknown/retry", nil, nil), http.StatusNotFound)

	customer := e.hub.Customers("hub-ws")[0]
	preview := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/preview", map[string]any{"customerId": customer["id"]}, nil), http.StatusOK)
	// The seeded subscriber already holds Giulia's mapped values.
	if preview.body["action"] != "none" || preview.body["subscriberId"] != float64(2147483648) {
		t.Errorf("preview of a customer whose subscriber is up to date: %s", preview.raw)
	}
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/preview", map[string]any{}, nil), http.StatusUnprocessableEntity)
	for _, path := range []string{"/status", "/failures"} {
		e.expect(e.call("ws2", "GET", "/v1/sources/"+id+path, nil, nil), http.StatusNotFound)
	}
	e.expect(e.call("ws2", "POST", "/v1/sources/"+id+"/preview", map[string]any{"customerId": customer["id"]}, nil), http.StatusNotFound)
}

func TestChangesThatNeedItStartAResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", with(validSource(), func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }), nil), http.StatusCreated)
	id := created.body["id"].(string)
	first, _ := e.intake.Status(t.Context(), id)
	current := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	next := current.body
	next["name"] = "renamed only"
	current = e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, next, map[string]string{"If-Match": current.headers["ETag"]}), http.StatusOK)
	if st, _ := e.intake.Status(t.Context(), id); st.Backfill.RunID != first.Backfill.RunID {
		t.Errorf("a rename started a resync")
	}
	next = current.body
	next["nodes"] = []string{"node-es"}
	e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, next, map[string]string{"If-Match": current.headers["ETag"]}), http.StatusOK)
	if st, _ := e.intake.Status(t.Context(), id); st.Backfill.RunID == first.Backfill.RunID || st.Backfill.NextPage != 0 {
		t.Errorf("moving to a populated node did not start a resync: %+v", st.Backfill)
	}
}

func TestNodesListTheChoicesAndWhoServesThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	r := e.expect(e.call("ws1", "GET", "/v1/nodes", nil, nil), http.StatusOK)
	kinds := map[string]string{}
	servedBy := map[string]any{}
	for _, n := range r.body["elements"].([]any) {
		node := n.(map[string]any)
		kinds[node["id"].(string)] = node["kind"].(string)
		servedBy[node["id"].(string)] = node["sourceId"]
	}
	if kinds["node-it"] != "ENTRY" || kinds["node-agg"] != "AGGREGATE" || servedBy["node-it"] != id || servedBy["node-es"] != nil {
		t.Errorf("nodes %s", r.raw)
	}
	if other := e.expect(e.call("ws2", "GET", "/v1/nodes", nil, nil), http.StatusOK); strings.Contains(other.raw, id) {
		t.Errorf("another workspace sees which source serves a node: %s", other.raw)
	}
	e.expect(e.call("ws3", "GET", "/v1/nodes", nil, nil), http.StatusConflict)
}

// TestNodeNotEmptyWhileItsCustomersAreIndexed: a customer Contacthub's
// search does not count yet (the index lags) still makes its node not
// empty, through the change feed; once deleted, the node is empty again.
func TestNodeNotEmptyWhileItsCustomersAreIndexed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hub.SetSearchIndexDelay(time.Hour)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", with(validSource(), func(b, _ map[string]any) { b["nodes"] = []string{"node-empty"} }), nil), http.StatusCreated)
	id := created.body["id"].(string)
	current := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	customer, err := e.hub.PutCustomer("hub-ws", map[string]any{"nodeId": "node-empty", "base": map[string]any{"contacts": map[string]any{"email": "just-created@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	move := current.body
	move["nodes"] = []string{"node-es"}
	r := e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, move, map[string]string{"If-Match": current.headers["ETag"]}), http.StatusConflict)
	if !strings.Contains(r.raw, "currentNodeEmpty") {
		t.Fatalf("a node with a customer not yet indexed counted as empty: %s", r.raw)
	}
	if err := e.hub.DeleteCustomer("hub-ws", customer["id"].(string)); err != nil {
		t.Fatal(err)
	}
	e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, move, map[string]string{"If-Match": current.headers["ETag"]}), http.StatusOK)
}
