package configapi_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/configapi"
)

// viewerMay is the role table: every authorized route, and whether a viewer
// may call it (an admin may call them all). A route added to the API
// without a row here fails TestRolesPerRoute.
var viewerMay = map[string]bool{
	"GET /v1/workspace":                                       true,
	"PUT /v1/workspace":                                       false,
	"GET /v1/nodes":                                           true,
	"GET /v1/sources":                                         true,
	"POST /v1/sources":                                        false,
	"GET /v1/sources/{id}":                                    true,
	"PUT /v1/sources/{id}":                                    false,
	"DELETE /v1/sources/{id}":                                 false,
	"POST /v1/sources/{id}/enable":                            false,
	"POST /v1/sources/{id}/disable":                           false,
	"GET /v1/sources/{id}/field-options":                      true,
	"POST /v1/field-options":                                  false,
	"GET /v1/sources/{id}/subscription-systems":               true,
	"POST /v1/subscription-systems":                           false,
	"POST /v1/connection-tests":                               false,
	"POST /v1/sources/{id}/webhook-secret":                    false,
	"POST /v1/sources/{id}/resync":                            false,
	"GET /v1/sources/{id}/status":                             true,
	"GET /v1/sources/{id}/failures":                           true,
	"POST /v1/sources/{id}/failures/{customerId}/retry":       false,
	"POST /v1/sources/{id}/preview":                           true,
	"POST /v1/preview":                                        false,
	"GET /v1/audit":                                           true,
	"GET /v1/workspace/history-settings":                      true,
	"PUT /v1/workspace/history-settings":                      false,
	"POST /v1/sources/{id}/failures/retry":                    false,
	"GET /v1/sources/{id}/failures.csv":                       true,
	"GET /v1/sources/{id}/alerts":                             true,
	"PUT /v1/sources/{id}/alerts":                             false,
	"POST /v1/sources/{id}/alerts/test":                       false,
	"GET /v1/sources/{id}/runs":                               true,
	"GET /v1/sources/{id}/customers":                          true,
	"GET /v1/sources/{id}/customers/{customerId}/history":     true,
	"GET /v1/sources/{id}/customers/{customerId}/history.csv": true,
}

// TestRolesPerRoute calls every authorized route as an admin, a viewer, a
// token naming no role and one naming an unknown role: the forbidden ones
// answer 403 before doing anything (no audit record), the allowed ones are
// never 403.
func TestRolesPerRoute(t *testing.T) {
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id := created.body["id"].(string)

	var authorized []string
	for key, public := range e.api.RouteKeys() {
		if !public {
			authorized = append(authorized, key)
		}
	}
	slices.Sort(authorized)
	if missing := slices.DeleteFunc(slices.Clone(authorized), func(k string) bool { _, ok := viewerMay[k]; return ok }); len(missing) > 0 {
		t.Fatalf("routes without a row in the role table: %v", missing)
	}
	if extra := slices.DeleteFunc(slices.Sorted(maps.Keys(viewerMay)), func(k string) bool { return slices.Contains(authorized, k) }); len(extra) > 0 {
		t.Fatalf("rows for routes the API does not serve: %v", extra)
	}

	auditCount := func() int {
		t.Helper()
		page, err := e.audit.List(t.Context(), "ws1", audit.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Entries)
	}
	for _, key := range authorized {
		method, pattern, _ := strings.Cut(key, " ")
		path := strings.NewReplacer("{id}", id, "{customerId}", "c1").Replace(pattern)
		for _, role := range []configapi.Role{configapi.RoleViewer, "", "owner"} {
			t.Run(key+" as "+string(role), func(t *testing.T) {
				before := auditCount()
				r := e.callAs("ws1", role, method, path, map[string]any{}, nil)
				allowed := role == configapi.RoleViewer && viewerMay[key]
				if allowed && r.status == http.StatusForbidden {
					t.Fatalf("allowed, got 403: %s", r.raw)
				}
				if !allowed && r.status != http.StatusForbidden {
					t.Fatalf("got %d, want 403: %s", r.status, r.raw)
				}
				if !allowed && auditCount() != before {
					t.Fatal("a refused call left an audit record")
				}
			})
		}
		t.Run(key+" as admin", func(t *testing.T) {
			// An admin's calls are never refused for the role; the
			// destructive ones run last, on a second source.
			if method != http.MethodGet {
				return
			}
			if r := e.callAs("ws1", configapi.RoleAdmin, method, path, nil, nil); r.status == http.StatusForbidden {
				t.Fatalf("admin got 403: %s", r.raw)
			}
		})
	}
	// The admin's changes, one each, on the source: none is refused.
	for _, call := range []struct{ method, path string }{
		{"POST", "/v1/sources/" + id + "/webhook-secret"},
		{"POST", "/v1/sources/" + id + "/disable"},
		{"POST", "/v1/sources/" + id + "/enable"},
		{"POST", "/v1/connection-tests"},
		{"POST", "/v1/field-options"},
	} {
		if r := e.callAs("ws1", configapi.RoleAdmin, call.method, call.path, map[string]any{}, nil); r.status == http.StatusForbidden {
			t.Errorf("admin %s %s: 403 %s", call.method, call.path, r.raw)
		}
	}
}

// TestRolesFromClaims: where the role and workspace come from in each
// identity provider's tokens.
func TestRolesFromClaims(t *testing.T) {
	fx := newFixture(t, nil, 1)
	call := func(t *testing.T, cfg configapi.Config, claims map[string]string, method string) int {
		t.Helper()
		cfg.Store = fx.store
		api := configapi.New(cfg)
		resp, _ := api.Handle(t.Context(), events.APIGatewayV2HTTPRequest{
			RawPath: "/v1/sources",
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/v1/sources"},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
				},
			},
		})
		return resp.StatusCode
	}
	cognito := configapi.Config{GroupClaim: "cognito:groups"}
	for name, tc := range map[string]struct {
		cfg    configapi.Config
		claims map[string]string
		get    int
		post   int
	}{
		"custom claims, admin":       {configapi.Config{}, map[string]string{"custom:workspace": "ws1", "custom:role": "admin"}, 200, 400},
		"custom claims, viewer":      {configapi.Config{}, map[string]string{"custom:workspace": "ws1", "custom:role": "viewer"}, 200, 403},
		"no role claim":              {configapi.Config{}, map[string]string{"custom:workspace": "ws1"}, 403, 403},
		"role list, strongest wins":  {configapi.Config{RoleClaim: "roles"}, map[string]string{"custom:workspace": "ws1", "roles": "[viewer admin]"}, 200, 400},
		"Cognito group, viewer":      {cognito, map[string]string{"cognito:groups": "[staff hubsend:ws1:viewer]"}, 200, 403},
		"Cognito group, admin":       {cognito, map[string]string{"cognito:groups": "[hubsend:ws1:admin]"}, 200, 400},
		"Cognito groups, two roles":  {cognito, map[string]string{"cognito:groups": "[hubsend:ws1:viewer hubsend:ws1:admin]"}, 200, 400},
		"Cognito, two workspaces":    {cognito, map[string]string{"cognito:groups": "[hubsend:ws1:admin hubsend:ws2:viewer]"}, 403, 403},
		"Cognito, no hubsend group":  {cognito, map[string]string{"cognito:groups": "[staff]"}, 401, 401},
		"Cognito, unknown role only": {cognito, map[string]string{"cognito:groups": "[hubsend:ws1:owner]"}, 403, 403},
	} {
		t.Run(name, func(t *testing.T) {
			if got := call(t, tc.cfg, tc.claims, "GET"); got != tc.get {
				t.Errorf("GET: %d, want %d", got, tc.get)
			}
			// An empty body is 400 once the role allows the create.
			if got := call(t, tc.cfg, tc.claims, "POST"); got != tc.post {
				t.Errorf("POST: %d, want %d", got, tc.post)
			}
		})
	}
}

// TestConsoleSignInSettings: the console reads how to sign in from
// /console/config.json, and its CSP lets it reach the identity provider's
// origins and no other.
func TestConsoleSignInSettings(t *testing.T) {
	api := configapi.New(configapi.Config{Console: fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}},
		SignIn: configapi.SignIn{Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/pool", ClientID: "c1",
			TokenURL: "https://hubsend.auth.eu-west-1.amazoncognito.com/oauth2/token"}})
	get := func(path string) events.APIGatewayV2HTTPResponse {
		resp, _ := api.Handle(t.Context(), events.APIGatewayV2HTTPRequest{RawPath: path,
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path}}})
		return resp
	}
	cfg := get("/console/config.json")
	var settings map[string]string
	if err := json.Unmarshal([]byte(cfg.Body), &settings); err != nil || cfg.StatusCode != 200 || settings["clientId"] != "c1" || settings["tokenUrl"] == "" {
		t.Fatalf("config.json: %d %s", cfg.StatusCode, cfg.Body)
	}
	csp := get("/").Headers["Content-Security-Policy"]
	if !strings.Contains(csp, "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com https://hubsend.auth.eu-west-1.amazoncognito.com;") {
		t.Errorf("CSP %q", csp)
	}
}
