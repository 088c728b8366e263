package configapifn_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/wiring/configapifn"
)

// TestAdminChosenHostsMustBePublic: a workspace admin chooses the
// Contacthub address and a source's alert webhook, and the config API
// checks the host name when they are saved. A name that resolves to this
// machine (or a private network, or the metadata service) passes that
// check; the calls the API makes there must still never connect, or the
// API's answers would map the deployment's network for the admin.
func TestAdminChosenHostsMustBePublic(t *testing.T) {
	target, connections := testkit.LocalTarget(t)

	stack := testkit.Emulators(t)
	for _, kv := range stack.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	table, queues := testkit.Table(t), testkit.Queues(t)
	env := map[string]string{
		"TABLE_NAME":         table,
		"SYNC_QUEUE_URL":     queues.SyncURL,
		"HUBSEND_MASTER_KEY": testkit.MasterKeyBase64(),
		"LOG_LEVEL":          "ERROR",
	}
	api, err := configapifn.FromEnv(t.Context(), func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	store := configstore.New(stack.DynamoDB(), table, testkit.Box(t))
	if _, err := store.Create(t.Context(), source.Source{
		ID: "s1", WorkspaceID: "ws1", Name: "Italia", Nodes: []string{"italy"}, Enabled: true,
		Properties: source.Properties{
			UserKey: "user-key", APIKey: "api-key", UserDBID: 1,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		resp, err := api.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path, Body: body,
			Headers: map[string]string{"content-type": "application/json"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{"custom:workspace": "ws1", "custom:role": "admin", "sub": "admin-1"},
				}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// Saving passes the name check: only the connection can tell.
	if r := call("PUT", "/v1/workspace", `{"contacthub":{"baseUrl":"`+target+`/hub/v1","workspaceId":"hub-ws","token":"a-token-of-this-workspace"}}`); r.StatusCode != http.StatusOK {
		t.Fatalf("PUT /v1/workspace: %d %s", r.StatusCode, r.Body)
	}
	if r := call("PUT", "/v1/sources/s1/alerts", `{"webhookUrl":"`+target+`/alerts","webhookSecret":"an-alert-secret-0123456789"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("PUT alerts: %d %s", r.StatusCode, r.Body)
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/nodes"},
		{"POST", "/v1/sources/s1/alerts/test"},
	} {
		r := call(req.method, req.path, "")
		if r.StatusCode < 400 || !strings.Contains(r.Body, "public") {
			t.Errorf("%s %s: %d %s, want a refusal saying the address is not public", req.method, req.path, r.StatusCode, r.Body)
		}
	}
	if n := connections(); n != 0 {
		t.Errorf("the API connected %d times to %s, a name of this machine", n, target)
	}
}
