package configapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/alerts"
	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
)

func TestAlertSettingsAndTestAlert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	path := "/v1/sources/" + id + "/alerts"
	if r := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK); r.body["failedPerHour"] != float64(0) || r.body["webhookUrl"] != "" {
		t.Fatalf("alerts of a new source: %s", r.raw)
	}
	e.expect(e.call("ws1", "POST", path+"/test", nil, nil), http.StatusConflict)

	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get(alerts.SignatureHeader)+" "+string(body))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	const alertSecret = "a-secret-of-alerts-0001"
	set := map[string]any{"failedPerHour": 10, "feedLagSeconds": 600, "backfillStalledMinutes": 30, "webhookUrl": hook.URL + "/alerts", "webhookSecret": alertSecret}
	r := e.expect(e.call("ws1", "PUT", path, set, nil), http.StatusOK)
	if r.body["webhookSecret"] == alertSecret || !strings.HasPrefix(r.body["webhookSecret"].(string), "••••") {
		t.Fatalf("the secret came back unmasked: %s", r.raw)
	}
	// The masked secret keeps the stored one for the same URL only.
	set["webhookSecret"] = r.body["webhookSecret"]
	set["failedPerHour"] = 20
	e.expect(e.call("ws1", "PUT", path, set, nil), http.StatusOK)
	set["webhookUrl"] = hook.URL + "/elsewhere"
	if bad := e.expect(e.call("ws1", "PUT", path, set, nil), http.StatusUnprocessableEntity); !strings.Contains(bad.raw, "webhookSecret") {
		t.Fatalf("a stored secret followed a new URL: %s", bad.raw)
	}
	invalid := e.expect(e.call("ws1", "PUT", path, map[string]any{"failedPerHour": -1, "webhookUrl": "ftp://x", "webhookSecret": "short"}, nil), http.StatusUnprocessableEntity)
	if paths := strings.Join(invalid.errorPaths(), ","); paths != "failedPerHour,webhookUrl,webhookSecret" {
		t.Fatalf("problems at %s: %s", paths, invalid.raw)
	}
	e.expect(e.call("ws1", "PUT", path, map[string]any{"FailedPerHour": 1}, nil), http.StatusBadRequest)

	e.expect(e.call("ws1", "POST", path+"/test", nil, nil), http.StatusOK)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], "t=") || !strings.Contains(got[0], `"state":"test"`) {
		t.Fatalf("test alert deliveries %q", got)
	}
	e.expect(e.call("ws2", "GET", path, nil, nil), http.StatusNotFound)
	e.expect(e.call("ws2", "POST", path+"/test", nil, nil), http.StatusNotFound)
	if strings.Contains(e.logs.String(), alertSecret) {
		t.Fatal("the alert secret was logged")
	}
}

// TestDeployedAlertsPostToNoInternalHost: outside a local stack, an alert
// webhook cannot name this machine or a private network (the scheduler
// posts from inside the deployment).
func TestDeployedAlertsPostToNoInternalHost(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, slog.New(slog.DiscardHandler), 1)
	src, err := fx.store.Create(t.Context(), source.Source{ID: "src-alerts", WorkspaceID: "ws1", Name: "Alerts", Nodes: []string{"node-it"},
		Properties: source.Properties{APIKey: sendAPIKey, UserKey: sendUserKey, UserDBID: 6,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewLocalKeys(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	api := configapi.New(configapi.Config{Store: fx.store, Alerts: alerts.NewStore(testkit.Emulators(t).DynamoDB(), fx.table, secret.NewBox(keys))})
	put := func(url string) events.APIGatewayV2HTTPResponse {
		resp, _ := api.Handle(t.Context(), events.APIGatewayV2HTTPRequest{
			RouteKey: "PUT /v1/sources/{id}/alerts", PathParameters: map[string]string{"id": src.ID},
			RawPath: "/v1/sources/" + src.ID + "/alerts",
			Body:    `{"failedPerHour":1,"webhookUrl":"` + url + `","webhookSecret":"a-secret-of-alerts-0001"}`,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "PUT", Path: "/v1/sources/" + src.ID + "/alerts"},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"custom:workspace": "ws1", "custom:role": "admin"}},
				},
			},
		})
		return resp
	}
	for _, url := range []string{"https://localhost/a", "https://127.0.0.1/a", "https://169.254.169.254/latest", "https://[::1]/x", "https://10.0.0.8/x", "http://alerts.example.com/x"} {
		if resp := put(url); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Body, "webhookUrl") {
			t.Errorf("webhookUrl %s: %d %s, want 422 at webhookUrl", url, resp.StatusCode, resp.Body)
		}
	}
	if resp := put("https://alerts.example.com/hubsend"); resp.StatusCode != http.StatusOK {
		t.Errorf("a public https webhook: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestIfMatchOnAlertSettings: alert settings have an ETag once saved; a
// save naming a version another admin has since replaced is refused, and
// so is one with If-Match before any settings exist.
func TestIfMatchOnAlertSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	path := "/v1/sources/" + id + "/alerts"
	set := func(failed int) map[string]any {
		return map[string]any{"failedPerHour": failed, "feedLagSeconds": 0, "backfillStalledMinutes": 0, "sns": true}
	}
	if r := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK); r.headers["ETag"] != "" {
		t.Fatalf("ETag %q before any settings were saved", r.headers["ETag"])
	}
	e.expect(e.call("ws1", "PUT", path, set(5), map[string]string{"If-Match": "*"}), http.StatusPreconditionFailed)
	first := e.expect(e.call("ws1", "PUT", path, set(5), nil), http.StatusOK).headers["ETag"]
	if got := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK).headers["ETag"]; got == "" || got != first {
		t.Fatalf("GET ETag %q, want the PUT's %q", got, first)
	}
	second := e.expect(e.call("ws1", "PUT", path, set(7), map[string]string{"If-Match": first}), http.StatusOK).headers["ETag"]
	if second == first {
		t.Fatalf("ETag unchanged by a write: %q", second)
	}
	e.expect(e.call("ws1", "PUT", path, set(9), map[string]string{"If-Match": first}), http.StatusPreconditionFailed)
	if r := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK); r.body["failedPerHour"] != float64(7) {
		t.Fatalf("settings after a refused save: %s", r.raw)
	}
}
