package hubsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"gopkg.in/yaml.v3"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
)

// referenceDir finds shared/reference beside the module root, or
// $HUBSEND_REFERENCE_DIR, and skips the test when neither exists.
func referenceDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("HUBSEND_REFERENCE_DIR"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory: cannot locate ../shared/reference")
		}
		dir = parent
	}
	ref := filepath.Join(dir, "..", "shared", "reference")
	if _, err := os.Stat(filepath.Join(ref, "contacthub", "swagger-1.51.0.yaml")); err != nil {
		t.Skipf("Contacthub reference contract not found at %s (set HUBSEND_REFERENCE_DIR): %v", ref, err)
	}
	return ref
}

// specServer is where the in-memory spec says the API lives; requests are
// re-addressed to it for routing.
const specServer = "https://api.contactlab.it/hub/v1"

// loadSpec converts the reference Swagger 2.0 file to OpenAPI 3 and applies
// the corrections the live service calls for (see adjustSpec).
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(referenceDir(t), "contacthub", "swagger-1.51.0.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	jsonData, err := json.Marshal(stringKeys(generic))
	if err != nil {
		t.Fatal(err)
	}
	var v2 openapi2.T
	if err := json.Unmarshal(jsonData, &v2); err != nil {
		t.Fatal(err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := openapi3.NewLoader().ResolveRefsIn(doc, nil); err != nil {
		t.Fatal(err)
	}
	adjustSpec(doc)
	doc.Servers = openapi3.Servers{{URL: specServer}}
	return doc
}

// stringKeys turns YAML's map keys (numeric response codes among them)
// into strings so the document can be JSON.
func stringKeys(v any) any {
	switch val := v.(type) {
	case map[string]any:
		for k, x := range val {
			val[k] = stringKeys(x)
		}
		return val
	case map[any]any:
		out := make(map[string]any, len(val))
		for k, x := range val {
			out[fmt.Sprint(k)] = stringKeys(x)
		}
		return out
	case []any:
		for i, x := range val {
			val[i] = stringKeys(x)
		}
	}
	return v
}

// contacthubTimestamp accepts the service's +0000 offsets as well as RFC 3339.
const contacthubTimestamp = `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$`

// adjustSpec corrects the spec where the live service (and Contacthub's
// own JSON schemas and SDKs) differ from it:
//   - Subscription's flag is "subscribed", not "enable";
//   - Swagger 2.0 cannot say "nullable", yet the service writes null for
//     unset members (externalId, extended, tags, base ...): every property
//     becomes nullable;
//   - date-time values carry offsets like +0000, which RFC 3339 (kin's
//     date-time format) refuses: the format becomes a pattern accepting both;
//   - ConsentLog.date uses the non-type "date": it becomes a string.
func adjustSpec(doc *openapi3.T) {
	if sub := doc.Components.Schemas["Subscription"]; sub != nil && sub.Value != nil {
		if enable, ok := sub.Value.Properties["enable"]; ok {
			sub.Value.Properties["subscribed"] = enable
			delete(sub.Value.Properties, "enable")
		}
	}
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Type != nil && s.Type.Is("date") {
			s.Type = &openapi3.Types{openapi3.TypeString}
		}
		if s.Format == "date-time" {
			s.Format = ""
			s.Pattern = contacthubTimestamp
		}
		for _, p := range s.Properties {
			if p.Value != nil {
				p.Value.Nullable = true
			}
			walk(p)
		}
		walk(s.Items)
		for _, sub := range s.AllOf {
			walk(sub)
		}
		if s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema)
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Responses == nil {
				continue
			}
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, media := range resp.Value.Content {
					walk(media.Schema)
				}
			}
		}
	}
}

// validating sits between the client and the simulator and checks every
// API request against the spec and every response against the route's
// declared response; error bodies must have the service's shape.
type validating struct {
	t      *testing.T
	router routers.Router
	next   http.Handler

	mu        sync.Mutex
	validated map[string]int // "METHOD /path-template status" → count
	unrouted  map[string]int
}

func (v *validating) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))

	routed := r.Clone(r.Context())
	routed.URL.Scheme, routed.URL.Host = "https", "api.contactlab.it"
	routed.Host = "api.contactlab.it"
	routed.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := v.router.FindRoute(routed)
	rec := httptest.NewRecorder()
	v.next.ServeHTTP(rec, r)
	for k, vals := range rec.Header() {
		w.Header()[k] = vals
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())

	if rec.Code >= 400 {
		var e struct {
			Message *string         `json:"message"`
			Logref  *string         `json:"logref"`
			Data    json.RawMessage `json:"data"`
			Errors  []any           `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == nil || e.Logref == nil || e.Errors == nil || e.Data == nil {
			v.t.Errorf("%s %s: %d error body is not {message, logref, data, errors[]}: %s", r.Method, r.URL.Path, rec.Code, rec.Body)
		}
	}
	if err != nil {
		v.mu.Lock()
		v.unrouted[r.Method+" "+r.URL.Path]++
		v.mu.Unlock()
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: routed, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		v.t.Errorf("request %s %s does not conform: %v", r.Method, r.URL, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("response to %s %s (%d) does not conform: %v\n%s", r.Method, r.URL, rec.Code, err, rec.Body)
	}
	v.mu.Lock()
	v.validated[fmt.Sprintf("%s %s %d", r.Method, route.Path, rec.Code)]++
	v.mu.Unlock()
}

func TestConformance(t *testing.T) {
	doc := loadSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := hubsim.LoadSeed(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim := hubsim.New(hubsim.Options{Seed: seed, RandomSeed: 1})
	v := &validating{t: t, router: router, next: sim, validated: map[string]int{}, unrouted: map[string]int{}}
	srv := httptest.NewServer(v)
	defer srv.Close()
	client, err := contacthub.New(contacthub.Config{
		BaseURL: srv.URL + "/hub/v1", WorkspaceID: "ws-test", Token: "test-token",
		Retry: retry.Policy{Attempts: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const italy, europe, giulia = "9d57e0e4-42cd-4b84-9eab-7dc28fb5a220", "c0ffee00-1111-4222-8333-444455556666", "6f1a4a5e-8a2b-4c3d-9e0f-112233445566"

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = client.Customers(ctx, contacthub.ListQuery{NodeID: italy, Size: 5, Sort: "registeredAt,desc"})
	must(err)
	_, err = client.Customers(ctx, contacthub.ListQuery{NodeID: europe, Query: contacthub.EmailQuery("giulia.rossi@example.com"), Fields: []string{"base.firstName"}})
	must(err)
	c, err := client.CreateCustomer(ctx, contacthub.Customer{NodeID: italy, ExternalID: "X-1", Base: &contacthub.Base{
		FirstName: "Elena", Dob: "1990-02-03", Contacts: &contacthub.Contacts{Email: "elena@example.com"},
		Subscriptions: []contacthub.Subscription{{ID: "newsletter", Subscribed: true, StartDate: contacthub.NewTime(time.Now())}},
	}, Extended: map[string]any{"lastPurchaseAt": "2024-01-02T03:04:05Z"}, Tags: &contacthub.Tags{Manual: []string{"new"}}})
	must(err)
	_, err = client.Customer(ctx, c.ID)
	must(err)
	c, err = client.PatchCustomer(ctx, c.ID, map[string]any{"base": map[string]any{"lastName": "Greco"}})
	must(err)
	_, err = client.PutCustomer(ctx, c)
	must(err)
	_, err = client.CreateSubscription(ctx, c.ID, contacthub.Subscription{ID: "promo", Kind: "SERVICE", Subscribed: true})
	must(err)
	s, err := client.Subscription(ctx, c.ID, "promo")
	must(err)
	s.Subscribed = false
	_, err = client.PutSubscription(ctx, c.ID, s)
	must(err)
	must(client.DeleteSubscription(ctx, c.ID, "promo"))
	_, err = client.Node(ctx, italy)
	must(err)
	_, err = client.Node(ctx, europe) // entries → 404, then the aggregate resource (not in the spec)
	must(err)
	_, err = client.Nodes(ctx)
	must(err)
	_, err = client.Fields(ctx)
	must(err)
	zero := int64(0)
	_, err = client.Updates(ctx, contacthub.UpdatesQuery{Offset: &zero, Size: 100, Entity: contacthub.EntityCustomer, NodeID: italy})
	must(err)
	ts := int64(0)
	_, err = client.Updates(ctx, contacthub.UpdatesQuery{Timestamp: &ts})
	must(err)
	_, err = client.LastOffset(ctx, italy, contacthub.EntityCustomer)
	must(err)
	must(client.DeleteCustomer(ctx, c.ID))

	// Failures: their bodies are checked for the error shape.
	_, err = client.CreateCustomer(ctx, contacthub.Customer{NodeID: italy, Base: &contacthub.Base{Contacts: &contacthub.Contacts{Email: "giulia.rossi@example.com"}}})
	if !errors.Is(err, contacthub.ErrConflict) {
		t.Errorf("conflict: %v", err)
	}
	_, err = client.PatchCustomer(ctx, giulia, map[string]any{"extended": map[string]any{"loyaltyPoints": "many"}})
	if !errors.Is(err, contacthub.ErrBadRequest) {
		t.Errorf("bad patch: %v", err)
	}
	_, err = client.Customer(ctx, c.ID)
	if !errors.Is(err, contacthub.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	_, err = client.CountCustomers(ctx, "no-such-node")
	if !errors.Is(err, contacthub.ErrNotFound) {
		t.Errorf("unknown node: %v", err)
	}

	wantRoutes := []string{
		"GET /workspaces/{workspaceId}/customers 200",
		"POST /workspaces/{workspaceId}/customers 201",
		"GET /workspaces/{workspaceId}/customers/{id} 200",
		"PATCH /workspaces/{workspaceId}/customers/{id} 200",
		"PUT /workspaces/{workspaceId}/customers/{id} 200",
		"DELETE /workspaces/{workspaceId}/customers/{id} 200",
		"POST /workspaces/{workspaceId}/customers/{customerId}/subscriptions 201",
		"GET /workspaces/{workspaceId}/customers/{customerId}/subscriptions/{id} 200",
		"PUT /workspaces/{workspaceId}/customers/{customerId}/subscriptions/{id} 200",
		"DELETE /workspaces/{workspaceId}/customers/{customerId}/subscriptions/{id} 200",
		"GET /workspaces/{workspaceId}/configuration/nodes/entries 200",
		"GET /workspaces/{workspaceId}/configuration/nodes/entries/{id} 200",
		"GET /workspaces/{workspaceId}/configuration/properties/base 200",
		"GET /workspaces/{workspaceId}/models/properties/base 200",
		"GET /workspaces/{workspaceId}/configuration/properties/extended 200",
		"GET /workspaces/{workspaceId}/updates 200",
		"GET /workspaces/{workspaceId}/updates/last-offset 200",
	}
	for _, route := range wantRoutes {
		if v.validated[route] == 0 {
			t.Errorf("no validated exchange for %s", route)
		}
	}
	var unrouted []string
	for k := range v.unrouted {
		unrouted = append(unrouted, k)
	}
	sort.Strings(unrouted)
	for _, u := range unrouted {
		if !strings.Contains(u, "/configuration/nodes/aggregates") {
			t.Errorf("request outside the spec: %s", u)
		}
	}
	t.Logf("validated %d route/status pairs; outside Swagger 1.51 (aggregate nodes): %v", len(v.validated), unrouted)
}

// TestSpecAdjustments pins the corrections, so a newer spec that fixes
// them is noticed.
func TestSpecAdjustments(t *testing.T) {
	doc := loadSpec(t)
	sub := doc.Components.Schemas["Subscription"].Value
	if _, ok := sub.Properties["subscribed"]; !ok {
		t.Error("Subscription has no subscribed flag after adjustment")
	}
	if _, ok := sub.Properties["enable"]; ok {
		t.Error("Subscription still has enable")
	}
	if got := len(doc.Paths.Map()); got != 67 {
		t.Errorf("paths = %d, want the 67 of Swagger 1.51", got)
	}
}
