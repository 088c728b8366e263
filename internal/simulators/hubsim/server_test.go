package hubsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testWS    = "ws-test"
	testToken = "test-token"
	italy     = "9d57e0e4-42cd-4b84-9eab-7dc28fb5a220"
	spain     = "3f1c2a8e-5b7d-4e0a-9c61-2d4f8a9b0c11"
	giulia    = "6f1a4a5e-8a2b-4c3d-9e0f-112233445566"
)

func testSeed(t testing.TB) Seed {
	t.Helper()
	seed, err := LoadSeed(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

func newTestServer(t testing.TB) *Server {
	t.Helper()
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return New(Options{Seed: testSeed(t), Clock: func() time.Time { return start }, RandomSeed: 3})
}

// call serves one request and decodes the JSON answer, if any.
func call(t testing.TB, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if !strings.HasPrefix(path, "/_sim/") {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	data, _ := io.ReadAll(rec.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, data)
		}
	}
	return rec.Code, out
}

const api = "/hub/v1/workspaces/" + testWS

func TestCreateValidation(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantPaths  []string
	}{
		{"empty body", ``, 400, []string{""}},
		{"empty object", `{}`, 400, []string{"/nodeId"}},
		{"array", `[]`, 400, []string{""}},
		{"unknown member", `{"nodeId":"` + italy + `","shoe":1}`, 400, []string{"/shoe"}},
		{"bad email", `{"nodeId":"` + italy + `","base":{"contacts":{"email":"not an email"}}}`, 400, []string{"/base/contacts/email"}},
		{"bad dob", `{"nodeId":"` + italy + `","base":{"dob":"1990-13-01"}}`, 400, []string{"/base/dob"}},
		{"subscription without id", `{"nodeId":"` + italy + `","base":{"subscriptions":[{"subscribed":true}]}}`, 400, []string{"/base/subscriptions/0/id"}},
		{"subscribed not a boolean", `{"nodeId":"` + italy + `","base":{"subscriptions":[{"id":"a","subscribed":"yes"}]}}`, 400, []string{"/base/subscriptions/0/subscribed"}},
		{"extended type", `{"nodeId":"` + italy + `","extended":{"loyaltyPoints":1.5}}`, 400, []string{"/extended/loyaltyPoints"}},
		{"extended unknown", `{"nodeId":"` + italy + `","extended":{"shoe":1}}`, 400, []string{"/extended/shoe"}},
		{"tags", `{"nodeId":"` + italy + `","tags":{"manual":[1]}}`, 400, []string{"/tags/manual/0"}},
		{"aggregate node", `{"nodeId":"c0ffee00-1111-4222-8333-444455556666"}`, 400, []string{"/nodeId"}},
		{"unknown node", `{"nodeId":"nope"}`, 404, nil},
		{"duplicate external id", `{"nodeId":"` + italy + `","externalId":"CRM-000001"}`, 409, nil},
		{"minimal", `{"nodeId":"` + italy + `"}`, 201, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			status, body := call(t, s, "POST", api+"/customers", tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %v", status, tt.wantStatus, body)
			}
			if tt.wantPaths != nil {
				var paths []string
				for _, e := range body["errors"].([]any) {
					paths = append(paths, e.(map[string]any)["path"].(string))
				}
				if !reflect.DeepEqual(paths, tt.wantPaths) {
					t.Errorf("paths = %v, want %v (%v)", paths, tt.wantPaths, body)
				}
			}
		})
	}
}

func TestCustomerEcho(t *testing.T) {
	s := newTestServer(t)
	status, c := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"firstName":"Ada","contacts":{"email":"ada@example.com"},
		"subscriptions":[{"id":"nl","subscribed":true,"startDate":"2024-01-02T03:04:05+01:00"}]}}`)
	if status != 201 {
		t.Fatalf("status %d: %v", status, c)
	}
	base := c["base"].(map[string]any)
	for _, member := range []string{"title", "lastName", "address", "credential"} {
		if v, ok := base[member]; !ok || v != nil {
			t.Errorf("base.%s = %v, %v; want null", member, v, ok)
		}
	}
	if jobs, ok := base["jobs"].([]any); !ok || len(jobs) != 0 {
		t.Errorf("base.jobs = %v, want []", base["jobs"])
	}
	contacts := base["contacts"].(map[string]any)
	if v, ok := contacts["fax"]; !ok || v != nil || len(contacts["otherContacts"].([]any)) != 0 {
		t.Errorf("contacts = %v", contacts)
	}
	sub := base["subscriptions"].([]any)[0].(map[string]any)
	if sub["startDate"] != "2024-01-02T02:04:05.000+0000" || sub["registeredAt"] != "2024-05-01T12:00:00.000+0000" {
		t.Errorf("subscription = %v", sub)
	}
	if c["registeredAt"] != "2024-05-01T12:00:00.000+0000" || c["externalId"] != nil || c["enabled"] != true {
		t.Errorf("customer = %v", c)
	}
	// The clock stands still: updatedAt must still advance.
	_, patched := call(t, s, "PATCH", api+"/customers/"+c["id"].(string), `{"base":{"lastName":"Lovelace"}}`)
	if patched["updatedAt"] != "2024-05-01T12:00:00.001+0000" {
		t.Errorf("updatedAt = %v", patched["updatedAt"])
	}
}

func TestListParameters(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		query      string
		wantStatus int
		wantTotal  float64
	}{
		{"", 400, 0},
		{"nodeId=nope", 404, 0},
		{"nodeId=" + italy + "&size=51", 400, 0},
		{"nodeId=" + italy + "&size=0", 400, 0},
		{"nodeId=" + italy + "&page=-1", 400, 0},
		{"nodeId=" + italy + "&sort=base.firstName,sideways", 400, 0},
		{"nodeId=" + italy + "&query=notjson", 400, 0},
		{"nodeId=" + italy + `&query={"type":"combined"}`, 400, 0},
		{"nodeId=" + italy, 200, 2},
		{"nodeId=" + italy + `&query={"type":"composite","conjunction":"or","conditions":[{"type":"atomic","attribute":"base.firstName","operator":"EQUALS","value":"Marco"},{"type":"atomic","attribute":"externalId","operator":"IS_NOT_NULL"}]}`, 200, 2},
		{"nodeId=" + italy + `&query={"type":"atomic","attribute":"tags.manual","operator":"IN","value":["gold","silver"]}`, 200, 1},
		{"nodeId=" + italy + `&query={"type":"atomic","attribute":"externalId","operator":"IS_NULL"}`, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := call(t, s, "GET", api+"/customers?"+strings.ReplaceAll(tt.query, " ", "%20"), "")
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %v", status, tt.wantStatus, body)
			}
			if status == 200 && body["page"].(map[string]any)["totalElements"] != tt.wantTotal {
				t.Errorf("page = %v", body["page"])
			}
			// Counted before the query and externalId filters: the node's two.
			if status == 200 && body["page"].(map[string]any)["totalUnfilteredElements"] != 2.0 {
				t.Errorf("totalUnfilteredElements = %v, want 2 (the node's customers before filtering)", body["page"].(map[string]any)["totalUnfilteredElements"])
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, path, header string
		wantStatus         int
		wantMessage        string
	}{
		{"no header", api + "/customers/" + giulia, "", 401, "The client is not authorized to access the API"},
		{"unknown token", api + "/customers/" + giulia, "Bearer nope", 401, "The client is not authorized to access the API"},
		{"not bearer", api + "/customers/" + giulia, "Basic " + testToken, 401, "The client is not authorized to access the API"},
		{"unknown workspace", "/hub/v1/workspaces/ws-none/customers/" + giulia, "Bearer " + testToken, 403, "workspace not found: ws-none"},
		{"another workspace's token", api + "/customers/" + giulia, "Bearer other-token", 403, "workspace not found: ws-test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tt.wantStatus || body["message"] != tt.wantMessage {
				t.Errorf("got %d %v", rec.Code, body)
			}
		})
	}
}

func TestUpdatesPaging(t *testing.T) {
	s := newTestServer(t)
	for i := range 5 {
		node := italy
		if i%2 == 1 {
			node = spain
		}
		if status, body := call(t, s, "POST", api+"/customers", fmt.Sprintf(`{"nodeId":%q,"externalId":"n%d"}`, node, i)); status != 201 {
			t.Fatalf("create: %d %v", status, body)
		}
	}
	tests := []struct {
		query      string
		wantCount  int
		wantNext   float64
		wantStatus int
	}{
		{"", 5, 5, 200},
		{"offset=2", 3, 5, 200},
		{"offset=0&size=2", 2, 2, 200},
		{"offset=5", 0, 5, 200},
		{"size=0&offset=3", 0, 3, 200},
		{"nodeId=" + spain, 2, 5, 200},
		{"nodeId=" + spain + "&size=1", 1, 2, 200},
		{"entity=EVENT", 0, 5, 200},
		{"timestamp=" + fmt.Sprint(time.Date(2024, 5, 1, 12, 0, 0, 3e6, time.UTC).UnixMilli()), 2, 5, 200},
		{"size=4001", 0, 0, 400},
		{"entity=THING", 0, 0, 400},
		{"offset=x", 0, 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := call(t, s, "GET", api+"/updates?"+tt.query, "")
			if status != tt.wantStatus {
				t.Fatalf("status = %d: %v", status, body)
			}
			if status != 200 {
				return
			}
			if n := len(body["updates"].([]any)); n != tt.wantCount || body["nextOffset"] != tt.wantNext {
				t.Errorf("got %d updates, nextOffset %v; want %d, %v", n, body["nextOffset"], tt.wantCount, tt.wantNext)
			}
		})
	}
	_, last := call(t, s, "GET", api+"/updates/last-offset?nodeId="+italy, "")
	if last["lastOffset"] != float64(5) {
		t.Errorf("lastOffset = %v", last)
	}
}

func TestAdminSurface(t *testing.T) {
	s := newTestServer(t)
	status, created := call(t, s, "PUT", "/_sim/workspaces/"+testWS+"/customers/11111111-2222-4333-8444-555555555555",
		`{"nodeId":"`+italy+`","base":{"contacts":{"email":"ui@example.com"}}}`)
	if status != 200 || created["id"] != "11111111-2222-4333-8444-555555555555" {
		t.Fatalf("admin put: %d %v", status, created)
	}
	status, sub := call(t, s, "PUT", "/_sim/workspaces/"+testWS+"/customers/"+giulia+"/subscriptions/newsletter", `{"subscribed":false}`)
	if status != 200 || sub["subscribed"] != false {
		t.Fatalf("subscribed: %d %v", status, sub)
	}
	if status, _ := call(t, s, "DELETE", "/_sim/workspaces/"+testWS+"/customers/"+giulia, ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	_, feed := call(t, s, "GET", api+"/updates", "")
	var ops []string
	for _, u := range feed["updates"].([]any) {
		ops = append(ops, u.(map[string]any)["operation"].(string))
	}
	if !reflect.DeepEqual(ops, []string{"CREATE", "UPDATE", "DELETE"}) {
		t.Errorf("feed = %v", ops)
	}
	if status, body := call(t, s, "POST", "/_sim/faults", `{"operation":"customers.get","kind":"status","status":503,"count":1,"retryAfterSeconds":1}`); status != 201 || body["id"] == "" {
		t.Fatalf("add fault: %d %v", status, body)
	}
	req := httptest.NewRequest("GET", api+"/customers/"+giulia, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("fault: %d %v", rec.Code, rec.Header())
	}
	_, calls := call(t, s, "GET", "/_sim/calls", "")
	if calls["counts"].(map[string]any)["customers.get"] != float64(1) {
		t.Errorf("calls = %v", calls)
	}
	if status, _ := call(t, s, "POST", "/_sim/faults", `{"kind":"bogus","count":1}`); status != 400 {
		t.Errorf("bogus fault: %d", status)
	}
	call(t, s, "DELETE", "/_sim/calls", "")
	if s.Calls().Total() != 0 {
		t.Error("calls not reset")
	}
	if status, _ := call(t, s, "POST", "/_sim/reset", ""); status != 204 {
		t.Fatalf("reset: %d", status)
	}
	if _, ok := s.Customer(testWS, giulia); !ok || s.LastOffset(testWS) != 0 {
		t.Error("reset did not restore the seed")
	}
	if status, _ := call(t, s, "POST", "/_sim/reset", `{"workspaces":[{"id":"x","tokens":["t"],"entryNodes":[{"id":"n","name":"N"}]}]}`); status != 204 {
		t.Fatalf("reset with seed: %d", status)
	}
	if len(s.Customers(testWS)) != 0 || len(s.Snapshot().Workspaces) != 1 {
		t.Error("reset with a body did not load it")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newTestServer(t)
	call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"firstName":"Nina"}}`)
	data, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	seed, err := ParseSeed(data)
	if err != nil {
		t.Fatal(err)
	}
	again := New(Options{Seed: seed})
	if !reflect.DeepEqual(normalise(s.Customers(testWS)), normalise(again.Customers(testWS))) {
		t.Error("customers changed through a snapshot")
	}
	if again.LastOffset(testWS) != 1 {
		t.Errorf("lastOffset = %d", again.LastOffset(testWS))
	}
	call(t, again, "POST", api+"/customers", `{"nodeId":"`+italy+`"}`)
	if again.LastOffset(testWS) != 2 {
		t.Errorf("offsets restart after a snapshot: %d", again.LastOffset(testWS))
	}
}

func TestDemoSeed(t *testing.T) {
	a := DemoSeed(DemoOptions{Customers: 200, RandomSeed: 9})
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	b := DemoSeed(DemoOptions{Customers: 200, RandomSeed: 9})
	if !reflect.DeepEqual(a, b) {
		t.Error("DemoSeed is not deterministic")
	}
	s := New(Options{Seed: a})
	if n := len(s.Customers("demo")); n != 200 {
		t.Errorf("customers = %d", n)
	}
}

func TestInvalidSeeds(t *testing.T) {
	tests := map[string]string{
		"unknown member":   `{"workspaces":[],"extra":1}`,
		"duplicate node":   `{"workspaces":[{"id":"w","tokens":["t"],"entryNodes":[{"id":"n"},{"id":"n"}]}]}`,
		"bad aggregate":    `{"workspaces":[{"id":"w","tokens":["t"],"entryNodes":[{"id":"n"}],"aggregateNodes":[{"id":"a","entryNodes":["x"]}]}]}`,
		"invalid customer": `{"workspaces":[{"id":"w","tokens":["t"],"entryNodes":[{"id":"n"}],"customers":[{"nodeId":"n","base":{"dob":"yesterday"}}]}]}`,
		"shared token":     `{"workspaces":[{"id":"w","tokens":["t"]},{"id":"v","tokens":["t"]}]}`,
	}
	for name, seed := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSeed([]byte(seed)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestConcurrentWrites races creates and patches; every change must get
// its own increasing offset and uniqueness must hold.
func TestConcurrentWrites(t *testing.T) {
	s := New(Options{Seed: testSeed(t)})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			email := fmt.Sprintf("same%d@example.com", i%10)
			status, body := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"contacts":{"email":"`+email+`"}}}`)
			if status == 201 {
				call(t, s, "PATCH", api+"/customers/"+body["id"].(string), `{"base":{"firstName":"X"}}`)
			} else if status != 409 {
				t.Errorf("create: %d %v", status, body)
			}
		})
	}
	wg.Wait()
	if n := len(s.Customers(testWS)); n != 13 {
		t.Errorf("customers = %d, want 13", n)
	}
	if s.LastOffset(testWS) != 20 {
		t.Errorf("lastOffset = %d, want 20", s.LastOffset(testWS))
	}
}

// TestSearchIndexDelay checks that GET /customers, a search, sees created
// and changed customers only after the index delay, while reads by id see
// every write at once.
func TestSearchIndexDelay(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := New(Options{Seed: testSeed(t), Clock: clock, RandomSeed: 3, SearchIndexDelay: 30 * time.Second})

	byEmail := func(email string) []any {
		t.Helper()
		q := `{"type":"atomic","attribute":"base.contacts.email","operator":"EQUALS","value":"` + email + `"}`
		status, body := call(t, s, "GET", api+"/customers?nodeId="+italy+"&query="+q, "")
		if status != 200 {
			t.Fatalf("search: %d %v", status, body)
		}
		return body["elements"].([]any)
	}
	listed := func() float64 {
		t.Helper()
		_, body := call(t, s, "GET", api+"/customers?nodeId="+italy, "")
		return body["page"].(map[string]any)["totalElements"].(float64)
	}

	status, created := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"firstName":"Nuova","contacts":{"email":"nuova@example.com"}}}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, created)
	}
	id := created["id"].(string)
	if status, _ := call(t, s, "GET", api+"/customers/"+id, ""); status != 200 {
		t.Fatalf("read by id right after create: %d, want 200", status)
	}
	if got := byEmail("nuova@example.com"); len(got) != 0 || listed() != 2 {
		t.Fatalf("a new customer is searchable at once: %v, %v listed", got, listed())
	}
	// A second create with the same email is refused at once: uniqueness
	// is the database's, not the index's.
	if status, _ := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"contacts":{"email":"nuova@example.com"}}}`); status != http.StatusConflict {
		t.Errorf("duplicate create before indexing: %d, want 409", status)
	}
	advance(29 * time.Second)
	if got := byEmail("nuova@example.com"); len(got) != 0 {
		t.Fatalf("searchable after 29 s of a 30 s delay: %v", got)
	}
	advance(time.Second)
	if got := byEmail("nuova@example.com"); len(got) != 1 || listed() != 3 {
		t.Fatalf("not searchable after the delay: %v, %v listed", got, listed())
	}

	// A change: the search keeps the old version until it is indexed.
	if status, body := call(t, s, "PATCH", api+"/customers/"+id, `{"base":{"firstName":"Cambiata","contacts":{"email":"cambiata@example.com"}}}`); status != 200 {
		t.Fatalf("patch: %d %v", status, body)
	}
	_, byID := call(t, s, "GET", api+"/customers/"+id, "")
	if byID["base"].(map[string]any)["firstName"] != "Cambiata" {
		t.Errorf("read by id after a change = %v", byID["base"])
	}
	old := byEmail("nuova@example.com")
	if len(old) != 1 || old[0].(map[string]any)["base"].(map[string]any)["firstName"] != "Nuova" || len(byEmail("cambiata@example.com")) != 0 {
		t.Fatalf("search during indexing: old email %v, new email %v", old, byEmail("cambiata@example.com"))
	}
	advance(30 * time.Second)
	if len(byEmail("nuova@example.com")) != 0 || len(byEmail("cambiata@example.com")) != 1 {
		t.Fatal("the change did not reach the search after the delay")
	}

	// Without a delay, writes are searchable at once.
	s.SetSearchIndexDelay(0)
	call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"contacts":{"email":"subito@example.com"}}}`)
	if len(byEmail("subito@example.com")) != 1 {
		t.Error("with no delay a new customer is not searchable at once")
	}
}

// TestListingSeesEveryWrite: listings are cached between writes (a bulk
// load pages through one large listing); every create, change and delete
// shows in the next listing.
func TestListingSeesEveryWrite(t *testing.T) {
	s := newTestServer(t)
	list := func() []any {
		t.Helper()
		status, body := call(t, s, "GET", api+"/customers?nodeId="+italy+"&sort=registeredAt,asc&size=50", "")
		if status != 200 {
			t.Fatalf("list: %d %v", status, body)
		}
		return body["elements"].([]any)
	}
	before := len(list())
	status, created := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"firstName":"Nuova","contacts":{"email":"nuova.cache@example.com"}}}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, created)
	}
	id := created["id"].(string)
	if got := len(list()); got != before+1 {
		t.Fatalf("after a create: %d listed, want %d", got, before+1)
	}
	if status, body := call(t, s, "PATCH", api+"/customers/"+id, `{"base":{"firstName":"Cambiata"}}`); status != 200 {
		t.Fatalf("patch: %d %v", status, body)
	}
	found := false
	for _, c := range list() {
		if c.(map[string]any)["id"] == id {
			found = c.(map[string]any)["base"].(map[string]any)["firstName"] == "Cambiata"
		}
	}
	if !found {
		t.Fatal("the listing after a change shows the old value")
	}
	if status, _ := call(t, s, "DELETE", api+"/customers/"+id, ""); status/100 != 2 {
		t.Fatalf("delete: %d", status)
	}
	if got := len(list()); got != before {
		t.Fatalf("after a delete: %d listed, want %d", got, before)
	}
}

// TestUniqueValuesFollowChanges: an e-mail or external id is held by the
// customer that has it now, case-insensitively for e-mails and within a
// node: a changed or deleted customer frees its old values.
func TestUniqueValuesFollowChanges(t *testing.T) {
	s := New(Options{Seed: testSeed(t), RandomSeed: 3})
	create := func(body string) (int, string) {
		t.Helper()
		status, created := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`",`+body+`}`)
		id, _ := created["id"].(string)
		return status, id
	}
	status, first := create(`"externalId":"U-1","base":{"contacts":{"email":"Prima@example.com"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	steps := []struct {
		name   string
		method string
		path   string
		body   string
		want   int
	}{
		{"the same e-mail in another case", "POST", "/customers", `{"nodeId":"` + italy + `","base":{"contacts":{"email":"prima@EXAMPLE.com"}}}`, http.StatusConflict},
		{"the same external id", "POST", "/customers", `{"nodeId":"` + italy + `","externalId":"U-1"}`, http.StatusConflict},
		{"the first changes its e-mail", "PATCH", "/customers/" + first, `{"base":{"contacts":{"email":"seconda@example.com"}}}`, http.StatusOK},
		{"its old e-mail is free", "POST", "/customers", `{"nodeId":"` + italy + `","base":{"contacts":{"email":"prima@example.com"}}}`, http.StatusCreated},
		{"its new one is not", "POST", "/customers", `{"nodeId":"` + italy + `","base":{"contacts":{"email":"seconda@example.com"}}}`, http.StatusConflict},
		{"the first is deleted", "DELETE", "/customers/" + first, ``, http.StatusOK},
		{"its e-mail is free", "POST", "/customers", `{"nodeId":"` + italy + `","base":{"contacts":{"email":"seconda@example.com"}}}`, http.StatusCreated},
		{"its external id is free", "POST", "/customers", `{"nodeId":"` + italy + `","externalId":"U-1"}`, http.StatusCreated},
	}
	for _, st := range steps {
		if status, body := call(t, s, st.method, api+st.path, st.body); status != st.want {
			t.Fatalf("%s: %d %v, want %d", st.name, status, body, st.want)
		}
	}
}

// TestListingsShowWritesAtOnce: with no search index delay, a listing
// read again after a change, a creation and a deletion shows each (the
// simulator keeps listings between writes; a page must never serve a
// customer as it was).
func TestListingsShowWritesAtOnce(t *testing.T) {
	s := New(Options{Seed: testSeed(t), RandomSeed: 3})
	list := func() []any {
		t.Helper()
		status, body := call(t, s, "GET", api+"/customers?nodeId="+italy+"&size=50&sort=registeredAt,asc", "")
		if status != 200 {
			t.Fatalf("list: %d %v", status, body)
		}
		return body["elements"].([]any)
	}
	firstName := func(c any) any { return c.(map[string]any)["base"].(map[string]any)["firstName"] }
	before := list()
	first := before[0].(map[string]any)["id"].(string)
	if status, _ := call(t, s, "PATCH", api+"/customers/"+first, `{"base":{"firstName":"Cambiata"}}`); status != 200 {
		t.Fatalf("patch: %d", status)
	}
	if got := firstName(list()[0]); got != "Cambiata" {
		t.Fatalf("first customer's firstName after a change = %v, want Cambiata", got)
	}
	if status, _ := call(t, s, "POST", api+"/customers", `{"nodeId":"`+italy+`","base":{"firstName":"Nuova","contacts":{"email":"nuova.lista@example.com"}}}`); status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	if after := list(); len(after) != len(before)+1 || firstName(after[len(after)-1]) != "Nuova" {
		t.Fatalf("after a creation: %d customers, last %v; want %d, the new one last", len(after), firstName(after[len(after)-1]), len(before)+1)
	}
	if status, _ := call(t, s, "DELETE", api+"/customers/"+first, ""); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if after := list(); len(after) != len(before) || after[0].(map[string]any)["id"] == first {
		t.Fatalf("after a deletion: %d customers, first %v", len(after), after[0].(map[string]any)["id"])
	}
}
