package contacthub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/testkit"
)

const (
	workspace = "ws-test"
	token     = "test-token"
	italy     = "9d57e0e4-42cd-4b84-9eab-7dc28fb5a220"
	spain     = "3f1c2a8e-5b7d-4e0a-9c61-2d4f8a9b0c11"
	europe    = "c0ffee00-1111-4222-8333-444455556666"
	giulia    = "6f1a4a5e-8a2b-4c3d-9e0f-112233445566"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// sleeps records the waits retry asked for without waiting.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

type env struct {
	sim    *hubsim.Server
	client *contacthub.Client
	url    string
	sleeps *sleeps
	clock  *testkit.Clock
}

func loadSeed(t *testing.T) hubsim.Seed {
	t.Helper()
	seed, err := hubsim.LoadSeed(filepath.Join("..", "simulators", "hubsim", "testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// newEnv starts a simulator with the test seed and a client for it whose
// retries do not wait. wrap, if not nil, sits in front of the simulator.
func newEnv(t *testing.T, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	// Each reading a second later than the last, as the simulator's
	// timestamps would be in real use.
	clock := testkit.NewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	clock.SetStep(time.Second)
	sim := hubsim.New(hubsim.Options{Seed: loadSeed(t), Clock: clock.Now, RandomSeed: 7})
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{sim: sim, url: srv.URL, sleeps: &sleeps{}, clock: clock}
	e.client = e.newClient(t, token, workspace)
	return e
}

func (e *env) newClient(t *testing.T, tok, ws string) *contacthub.Client {
	t.Helper()
	c, err := contacthub.New(contacthub.Config{
		BaseURL: e.url + "/hub/v1", WorkspaceID: ws, Token: tok,
		Timeout: 2 * time.Second,
		Retry:   retry.Policy{Attempts: 4, Base: time.Millisecond, Max: 10 * time.Second, Sleep: e.sleeps.sleep},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) addFault(t *testing.T, r faults.Rule) {
	t.Helper()
	if _, err := e.sim.Faults().Add(r); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  contacthub.Config
	}{
		{"relative base URL", contacthub.Config{BaseURL: "/hub/v1", WorkspaceID: "w", Token: "t"}},
		{"no workspace", contacthub.Config{Token: "t"}},
		{"no token", contacthub.Config{WorkspaceID: "w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := contacthub.New(tt.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	c, err := contacthub.New(contacthub.Config{WorkspaceID: "w", Token: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); s != "contacthub.Client(https://api.contactlab.it/hub/v1/workspaces/w)" {
		t.Errorf("String() = %q", s)
	}
}

func TestCustomerLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	created, err := e.client.CreateCustomer(ctx, contacthub.Customer{
		NodeID:     italy,
		ExternalID: "CRM-000100",
		Base: &contacthub.Base{
			FirstName: "Chiara", LastName: "Ricci",
			Contacts: &contacthub.Contacts{Email: "chiara.ricci@example.com"},
			Subscriptions: []contacthub.Subscription{
				{ID: "newsletter", Name: "Newsletter", Kind: "DIGITAL_MESSAGE", Subscribed: true},
			},
		},
		Extended: map[string]any{"loyaltyPoints": 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !uuidPattern.MatchString(created.ID) {
		t.Errorf("id %q is not a UUID", created.ID)
	}
	if created.RegisteredAt.IsZero() || !created.UpdatedAt.Equal(created.RegisteredAt.Time) {
		t.Errorf("registeredAt %v updatedAt %v", created.RegisteredAt, created.UpdatedAt)
	}
	sub, ok := created.Subscription("newsletter")
	if !ok || !sub.Subscribed || sub.RegisteredAt.IsZero() {
		t.Errorf("subscription = %+v, %v", sub, ok)
	}
	if got := created.Extended["loyaltyPoints"]; got != json.Number("10") {
		t.Errorf("loyaltyPoints = %#v", got)
	}

	got, err := e.client.Customer(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email() != "chiara.ricci@example.com" || got.NodeID != italy {
		t.Errorf("got %+v", got)
	}

	patched, err := e.client.PatchCustomer(ctx, created.ID, map[string]any{
		"base": map[string]any{"lastName": "Ricci-Bruni", "address": map[string]any{"city": "Torino"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if patched.Base.FirstName != "Chiara" || patched.Base.LastName != "Ricci-Bruni" || patched.Base.Address.City != "Torino" {
		t.Errorf("patch lost or missed data: %+v", patched.Base)
	}
	if !patched.UpdatedAt.After(created.UpdatedAt.Time) {
		t.Errorf("updatedAt did not advance: %v then %v", created.UpdatedAt, patched.UpdatedAt)
	}

	patched.Base.FirstName = "Kiara"
	put, err := e.client.PutCustomer(ctx, patched)
	if err != nil {
		t.Fatal(err)
	}
	if put.Base.FirstName != "Kiara" || put.Base.Address == nil || put.Base.Address.City != "Torino" || put.ExternalID != "CRM-000100" {
		t.Errorf("put = %+v", put.Base)
	}

	if err := e.client.DeleteCustomer(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Customer(ctx, created.ID); !errors.Is(err, contacthub.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
}

// TestPutKeepsUnknownData reads a customer carrying members the Go types
// do not name and writes it back: nothing may be lost.
func TestPutKeepsUnknownData(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, err := e.sim.PutCustomer(workspace, map[string]any{
		"id": giulia, "nodeId": italy, "externalId": "CRM-000001",
		"base": map[string]any{
			"firstName":  "Giulia",
			"contacts":   map[string]any{"email": "giulia.rossi@example.com", "otherContacts": []any{map[string]any{"name": "work", "type": "EMAIL", "value": "g@work.example"}}},
			"jobs":       []any{map[string]any{"id": "j1", "companyName": "Acme", "startDate": "2020-01-01"}},
			"credential": map[string]any{"username": "giulia"},
		},
		"consents": map[string]any{"marketing": map[string]any{"automatic": map[string]any{"email": map[string]any{"status": true}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.client.Customer(ctx, giulia)
	if err != nil {
		t.Fatal(err)
	}
	c.Base.LastName = "Rossi"
	if _, err := e.client.PutCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	after, _ := e.sim.Customer(workspace, giulia)
	for _, path := range []string{"base.jobs", "base.credential", "base.contacts.otherContacts", "consents"} {
		if v, ok := (contacthub.Customer{}).Lookup(path); ok {
			t.Fatalf("empty customer has %s = %v", path, v)
		}
		raw, _ := json.Marshal(after)
		cust, _ := contacthub.DecodeCustomer(raw)
		v, ok := cust.Lookup(path)
		if !ok || v == nil {
			t.Errorf("%s lost by PUT: %v", path, v)
		}
	}
	if got := after["base"].(map[string]any)["lastName"]; got != "Rossi" {
		t.Errorf("lastName = %v", got)
	}
}

func TestListCustomers(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for i, name := range []string{"Zeno", "Anna", "Bruno"} {
		_, err := e.client.CreateCustomer(ctx, contacthub.Customer{NodeID: italy, Base: &contacthub.Base{
			FirstName: name, Contacts: &contacthub.Contacts{Email: name + "@example.com"},
		}, Extended: map[string]any{"loyaltyPoints": i}})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		query     contacthub.ListQuery
		wantNames []string
		wantTotal int64
		wantPages int
	}{
		{"first page sorted", contacthub.ListQuery{NodeID: italy, Size: 2, Sort: "base.firstName,asc"}, []string{"Anna", "Bruno"}, 5, 3},
		{"last page", contacthub.ListQuery{NodeID: italy, Size: 2, Page: 2, Sort: "base.firstName,asc"}, []string{"Zeno"}, 5, 3},
		{"beyond the end", contacthub.ListQuery{NodeID: italy, Size: 2, Page: 9}, nil, 5, 3},
		{"descending", contacthub.ListQuery{NodeID: italy, Size: 1, Sort: "base.firstName,desc"}, []string{"Zeno"}, 5, 5},
		{"by email", contacthub.ListQuery{NodeID: italy, Query: contacthub.EmailQuery("Anna@example.com")}, []string{"Anna"}, 1, 1},
		{"by external id", contacthub.ListQuery{NodeID: italy, ExternalID: "CRM-000001"}, []string{"Giulia"}, 1, 1},
		{"extended range", contacthub.ListQuery{NodeID: italy, Query: contacthub.AttributeQuery("extended.loyaltyPoints", "BETWEEN", []int{1, 40}), Sort: "base.firstName"}, []string{"Anna", "Bruno", "Marco"}, 3, 1},
		{"aggregate node", contacthub.ListQuery{NodeID: europe, Size: 50}, nil, 6, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.client.Customers(ctx, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNames != nil {
				var names []string
				for _, c := range page.Elements {
					names = append(names, c.Base.FirstName)
				}
				if !slices.Equal(names, tt.wantNames) {
					t.Errorf("names = %v, want %v", names, tt.wantNames)
				}
			}
			if page.Page.TotalElements != tt.wantTotal || page.Page.TotalPages != tt.wantPages || page.Page.Number != tt.query.Page {
				t.Errorf("page = %+v, want total %d pages %d", page.Page, tt.wantTotal, tt.wantPages)
			}
		})
	}
	if _, err := e.client.Customers(ctx, contacthub.ListQuery{NodeID: italy, Size: 51}); err == nil {
		t.Error("size 51 accepted by the client")
	}
}

func TestCountCustomersAndNodes(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tests := []struct {
		node      string
		wantCount int64
		wantKind  contacthub.NodeKind
	}{
		{italy, 2, contacthub.EntryNode},
		{spain, 1, contacthub.EntryNode},
		{europe, 3, contacthub.AggregateNode},
	}
	for _, tt := range tests {
		t.Run(string(tt.wantKind)+" "+tt.node, func(t *testing.T) {
			n, err := e.client.CountCustomers(ctx, tt.node)
			if err != nil || n != tt.wantCount {
				t.Errorf("CountCustomers = %d, %v; want %d", n, err, tt.wantCount)
			}
			node, err := e.client.Node(ctx, tt.node)
			if err != nil || node.Kind != tt.wantKind || node.ID != tt.node || node.Name == "" {
				t.Errorf("Node = %+v, %v", node, err)
			}
		})
	}
	const unknown = "00000000-0000-4000-8000-000000000000"
	if _, err := e.client.Node(ctx, unknown); !errors.Is(err, contacthub.ErrNotFound) {
		t.Errorf("Node(unknown) = %v, want ErrNotFound", err)
	}
	_, err := e.client.CountCustomers(ctx, unknown)
	var apiErr *contacthub.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Message != "node not found "+unknown {
		t.Errorf("CountCustomers(unknown) = %v", err)
	}
	nodes, err := e.client.Nodes(ctx)
	if err != nil || len(nodes) != 3 || nodes[2].Kind != contacthub.AggregateNode || len(nodes[2].EntryNodeIDs) != 2 {
		t.Errorf("Nodes = %+v, %v", nodes, err)
	}
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	created, err := e.client.CreateSubscription(ctx, giulia, contacthub.Subscription{ID: "promo", Name: "Promozioni", Kind: "DIGITAL_MESSAGE", Subscribed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !created.Subscribed || created.RegisteredAt.IsZero() || created.UpdatedAt.IsZero() {
		t.Errorf("created = %+v", created)
	}
	if _, err := e.client.CreateSubscription(ctx, giulia, contacthub.Subscription{ID: "promo"}); !errors.Is(err, contacthub.ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}
	created.Subscribed = false
	put, err := e.client.PutSubscription(ctx, giulia, created)
	if err != nil {
		t.Fatal(err)
	}
	if put.Subscribed || !put.UpdatedAt.After(created.UpdatedAt.Time) || !put.RegisteredAt.Equal(created.RegisteredAt.Time) {
		t.Errorf("put = %+v (created %+v)", put, created)
	}
	got, err := e.client.Subscription(ctx, giulia, "promo")
	if err != nil || got.Subscribed {
		t.Errorf("get = %+v, %v", got, err)
	}
	cust, _ := e.client.Customer(ctx, giulia)
	if s, ok := cust.Subscription("newsletter"); !ok || !s.Subscribed {
		t.Errorf("the other subscription changed: %+v", s)
	}
	if err := e.client.DeleteSubscription(ctx, giulia, "promo"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Subscription(ctx, giulia, "promo"); !errors.Is(err, contacthub.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := e.client.PutSubscription(ctx, giulia, contacthub.Subscription{ID: "nope"}); !errors.Is(err, contacthub.ErrNotFound) {
		t.Errorf("put unknown: %v", err)
	}
}

func TestUpdatesFeed(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	start, err := e.client.LastOffset(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.client.CreateCustomer(ctx, contacthub.Customer{NodeID: spain, Base: &contacthub.Base{FirstName: "Hugo"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PatchCustomer(ctx, c.ID, map[string]any{"base": map[string]any{"lastName": "Díaz"}}); err != nil {
		t.Fatal(err)
	}
	// A person unsubscribes Giulia in the UI: the feed must show it too.
	if err := e.sim.SetSubscribed(workspace, giulia, "newsletter", false); err != nil {
		t.Fatal(err)
	}
	if err := e.client.DeleteCustomer(ctx, c.ID); err != nil {
		t.Fatal(err)
	}

	all, err := e.client.Updates(ctx, contacthub.UpdatesQuery{Offset: &start, Entity: contacthub.EntityCustomer})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, u := range all.Updates {
		ops = append(ops, u.Operation)
	}
	if want := []string{"CREATE", "UPDATE", "UPDATE", "DELETE"}; !slices.Equal(ops, want) {
		t.Fatalf("operations = %v, want %v", ops, want)
	}
	unsub, err := all.Updates[2].Customer()
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := unsub.Subscription("newsletter"); unsub.ID != giulia || s.Subscribed {
		t.Errorf("UI change = %+v", unsub)
	}
	last, _ := e.client.LastOffset(ctx, "", "")
	if all.NextOffset != last {
		t.Errorf("nextOffset %d, lastOffset %d", all.NextOffset, last)
	}

	// Paging: offset is exclusive and nextOffset continues.
	var seen []string
	offset := start
	for range 10 {
		page, err := e.client.Updates(ctx, contacthub.UpdatesQuery{Offset: &offset, Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Updates) == 0 {
			break
		}
		seen = append(seen, page.Updates[0].Operation)
		offset = page.NextOffset
	}
	if !slices.Equal(seen, ops) {
		t.Errorf("paged operations = %v", seen)
	}

	// Node filter: only the Spanish node's changes.
	spanish, err := e.client.Updates(ctx, contacthub.UpdatesQuery{Offset: &start, NodeID: spain})
	if err != nil {
		t.Fatal(err)
	}
	if len(spanish.Updates) != 3 {
		t.Errorf("spain updates = %d, want 3", len(spanish.Updates))
	}
	if _, err := e.client.Updates(ctx, contacthub.UpdatesQuery{Size: 4001}); err == nil {
		t.Error("size 4001 accepted")
	}
}

func TestFields(t *testing.T) {
	e := newEnv(t, nil)
	fields, err := e.client.Fields(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]contacthub.Field{}
	for _, f := range fields {
		byPath[f.Path] = f
	}
	want := map[string]contacthub.FieldType{
		"externalId":                   contacthub.String,
		"base.firstName":               contacthub.String,
		"base.dob":                     contacthub.Date,
		"base.contacts.email":          contacthub.Email,
		"base.address.city":            contacthub.String,
		"base.address.geo.lat":         contacthub.Number,
		"extended.loyaltyPoints":       contacthub.Integer,
		"extended.vip":                 contacthub.Boolean,
		"extended.lastPurchaseAt":      contacthub.DateTime,
		"extended.preferences.channel": contacthub.String,
	}
	for path, typ := range want {
		if f, ok := byPath[path]; !ok || f.Type != typ || f.Label == "" {
			t.Errorf("%s = %+v, want type %s", path, f, typ)
		}
	}
	for _, path := range []string{"base.credential.username", "extended.internalScore", "extended.interests", "base.subscriptions", "base.contacts.otherContacts"} {
		if _, ok := byPath[path]; ok {
			t.Errorf("%s should not be mappable", path)
		}
	}
	if byPath["extended.loyaltyPoints"].Label != "Loyalty points" {
		t.Errorf("label = %q", byPath["extended.loyaltyPoints"].Label)
	}
}

func TestFieldsFallsBackWhenModelForbidden(t *testing.T) {
	e := newEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hub/v1/workspaces/ws-test/models/properties/base" {
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"message":"Forbidden","logref":"x","data":null,"errors":[]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	fields, err := e.client.Fields(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, f := range fields {
		paths[f.Path] = true
	}
	if !paths["base.contacts.email"] || paths["base.credential.username"] || !paths["extended.vip"] {
		t.Errorf("fallback fields = %v", paths)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	t.Run("401 bad token", func(t *testing.T) {
		_, err := e.newClient(t, "wrong", workspace).Customer(ctx, giulia)
		var apiErr *contacthub.Error
		if !errors.Is(err, contacthub.ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.Message != "The client is not authorized to access the API" {
			t.Errorf("err = %v", err)
		}
		if apiErr != nil && apiErr.Logref == "" {
			t.Error("no logref")
		}
	})
	t.Run("403 unknown workspace", func(t *testing.T) {
		_, err := e.newClient(t, token, "nope").Customer(ctx, giulia)
		var apiErr *contacthub.Error
		if !errors.Is(err, contacthub.ErrForbidden) || !errors.As(err, &apiErr) || apiErr.Message != "workspace not found: nope" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("409 existing customer", func(t *testing.T) {
		_, err := e.client.CreateCustomer(ctx, contacthub.Customer{NodeID: italy, Base: &contacthub.Base{
			Contacts: &contacthub.Contacts{Email: "GIULIA.ROSSI@example.com"},
		}})
		var apiErr *contacthub.Error
		if !errors.Is(err, contacthub.ErrConflict) || !errors.As(err, &apiErr) {
			t.Fatalf("err = %v", err)
		}
		if apiErr.ExistingCustomerID() != giulia || apiErr.Message != "Conflict with exiting customer "+giulia {
			t.Errorf("conflict = %+v", apiErr)
		}
	})
	t.Run("same email on another node is fine", func(t *testing.T) {
		_, err := e.client.CreateCustomer(ctx, contacthub.Customer{NodeID: spain, Base: &contacthub.Base{
			Contacts: &contacthub.Contacts{Email: "giulia.rossi@example.com"},
		}})
		if err != nil {
			t.Error(err)
		}
	})
	t.Run("400 invalid body", func(t *testing.T) {
		_, err := e.client.PatchCustomer(ctx, giulia, map[string]any{"base": map[string]any{"dob": "12/04/1985", "shoeSize": 42}})
		var apiErr *contacthub.Error
		if !errors.Is(err, contacthub.ErrBadRequest) || !errors.As(err, &apiErr) || len(apiErr.Errors) != 2 {
			t.Fatalf("err = %v", err)
		}
		paths := []string{apiErr.Errors[0].Path, apiErr.Errors[1].Path}
		slices.Sort(paths)
		if !slices.Equal(paths, []string{"/base/dob", "/base/shoeSize"}) {
			t.Errorf("paths = %v", paths)
		}
		if apiErr.Temporary() {
			t.Error("400 is temporary")
		}
	})
	t.Run("404 customer", func(t *testing.T) {
		if _, err := e.client.Customer(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, contacthub.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRetries(t *testing.T) {
	ctx := context.Background()

	t.Run("429 with Retry-After is retried and succeeds", func(t *testing.T) {
		e := newEnv(t, nil)
		e.addFault(t, faults.Rule{Operation: "customers.get", Kind: faults.Status, Status: 429, RetryAfterSeconds: 2, Count: 2})
		if _, err := e.client.Customer(ctx, giulia); err != nil {
			t.Fatal(err)
		}
		if got := e.sim.Calls().Counts()["customers.get"]; got != 3 {
			t.Errorf("calls = %d, want 3", got)
		}
		if waits := e.sleeps.all(); !slices.Equal(waits, []time.Duration{2 * time.Second, 2 * time.Second}) {
			t.Errorf("waits = %v, want the server's 2s twice", waits)
		}
	})
	t.Run("a Retry-After past the caller's deadline ends the retries at once", func(t *testing.T) {
		e := newEnv(t, nil)
		e.addFault(t, faults.Rule{Operation: "customers.get", Kind: faults.Status, Status: 429, RetryAfterSeconds: 5, Count: 2})
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := e.client.Customer(short, giulia)
		if !errors.Is(err, retry.ErrOutOfTime) || retry.RetryAfter(err) != 5*time.Second {
			t.Fatalf("err = %v (Retry-After %v), want ErrOutOfTime keeping the server's 5s", err, retry.RetryAfter(err))
		}
		if got := e.sim.Calls().Counts()["customers.get"]; got != 1 || len(e.sleeps.all()) != 0 {
			t.Errorf("calls = %d, waits = %v; want one call and no wait", got, e.sleeps.all())
		}
	})
	t.Run("500 storm exhausts the retries", func(t *testing.T) {
		e := newEnv(t, nil)
		e.addFault(t, faults.Rule{Operation: "customers.list", Kind: faults.Status, Status: 500, Rate: 1})
		_, err := e.client.CountCustomers(ctx, italy)
		var apiErr *contacthub.Error
		if !errors.Is(err, contacthub.ErrServer) || !errors.As(err, &apiErr) || apiErr.Status != 500 {
			t.Fatalf("err = %v", err)
		}
		if got := e.sim.Calls().Counts()["customers.list"]; got != 4 {
			t.Errorf("calls = %d, want 4", got)
		}
	})
	t.Run("expired token is not retried", func(t *testing.T) {
		e := newEnv(t, nil)
		e.addFault(t, faults.Rule{Operation: "updates.get", Kind: faults.ExpiredToken, Count: 1})
		_, err := e.client.Updates(ctx, contacthub.UpdatesQuery{})
		if !errors.Is(err, contacthub.ErrUnauthorized) {
			t.Fatalf("err = %v", err)
		}
		if got := e.sim.Calls().Counts()["updates.get"]; got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
	})
	t.Run("dropped connection is retried", func(t *testing.T) {
		e := newEnv(t, nil)
		e.addFault(t, faults.Rule{Operation: "updates.lastOffset", Kind: faults.Drop, Count: 1})
		if _, err := e.client.LastOffset(ctx, "", ""); err != nil {
			t.Fatal(err)
		}
		if got := e.sim.Calls().Counts()["updates.lastOffset"]; got != 2 {
			t.Errorf("calls = %d, want 2", got)
		}
	})
	t.Run("slow answer times out and is retried", func(t *testing.T) {
		e := newEnv(t, nil)
		c, err := contacthub.New(contacthub.Config{
			BaseURL: e.url + "/hub/v1", WorkspaceID: workspace, Token: token, Timeout: 50 * time.Millisecond,
			Retry: retry.Policy{Attempts: 3, Sleep: e.sleeps.sleep},
		})
		if err != nil {
			t.Fatal(err)
		}
		e.addFault(t, faults.Rule{Operation: "nodes.entries.get", Kind: faults.Latency, Latency: 5 * time.Second, Count: 1})
		if _, err := c.Node(ctx, italy); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("context cancellation stops", func(t *testing.T) {
		e := newEnv(t, nil)
		e.addFault(t, faults.Rule{Operation: "customers.get", Kind: faults.Latency, Latency: 5 * time.Second, Rate: 1})
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := e.client.Customer(cctx, giulia)
			done <- err
		}()
		waitFor(t, func() bool { return e.sim.Calls().Counts()["customers.get"] == 1 })
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the call did not stop on cancellation")
		}
		if got := e.sim.Calls().Counts()["customers.get"]; got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
	})
}

// TestCreateAfterLostAnswer has the simulator create the customer but the
// connection die before the answer: the retried create meets a 409 and
// adopts the customer its first attempt made.
func TestCreateAfterLostAnswer(t *testing.T) {
	var once sync.Once
	e := newEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lost := false
			if r.Method == http.MethodPost {
				once.Do(func() { lost = true })
			}
			if lost {
				h.ServeHTTP(httptest.NewRecorder(), r)
				faults.DropConnection(w)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	// The lost create is not searchable yet (the clock stands still): the
	// adoption must read the customer the 409 names by id, not search.
	e.sim.SetSearchIndexDelay(time.Minute)
	c, err := e.client.CreateCustomer(context.Background(), contacthub.Customer{NodeID: italy, Base: &contacthub.Base{
		FirstName: "Sara", Contacts: &contacthub.Contacts{Email: "sara@example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Base.FirstName != "Sara" {
		t.Errorf("adopted = %+v", c)
	}
	if n := len(e.sim.Customers(workspace)); n != 4 {
		t.Errorf("customers = %d, want 4 (no duplicate)", n)
	}
	if got := e.sim.Calls().Counts()["customers.create"]; got != 2 {
		t.Errorf("creates = %d, want 2", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3s")
		}
		time.Sleep(time.Millisecond)
	}
}
