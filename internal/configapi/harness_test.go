package configapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/hubsend/hubsend/internal/alerts"
	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/syncer"
	"github.com/hubsend/hubsend/internal/testkit"
)

// Secrets of the fixtures; no response or log line may contain them.
const (
	hubToken    = "hub-token-0123456789abcdef"
	sendAPIKey  = "send-api-key-0123456789"
	sendUserKey = "send-user-key-0123456789"
)

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one API with its own table, simulators and captured output.
type env struct {
	api    *configapi.API
	intake *scheduler.Scheduler
	queue  emulators.Queues
	audit  *audit.Log
	table  string
	hubURL string
	hub    *hubsim.Server
	send   *sendsim.Server
	logs   *syncBuffer
	spec   routers.Router
	t      *testing.T
	mu     sync.Mutex
	bodies []string // every response body, to look for leaked secrets
	trail  *history.Store
	runs   *runs.Store
	ledger *ledger.Store
}

// fixture is one API over its own table, queues and simulators.
type fixture struct {
	api    *configapi.API
	store  *configstore.Store
	intake *scheduler.Scheduler
	queue  emulators.Queues
	table  string
	hub    *hubsim.Server
	send   *sendsim.Server
	hubURL string // the simulated Contacthub's API base URL
	audit  *audit.Log
	trail  *history.Store
	runs   *runs.Store
	ledger *ledger.Store
}

// newFixture builds an API whose clients make the given number of attempts
// per call and log to logger.
func newFixture(tb testing.TB, logger *slog.Logger, attempts int) fixture {
	tb.Helper()
	hubSeed, err := hubsim.LoadSeed("testdata/contacthub.json")
	if err != nil {
		tb.Fatal(err)
	}
	sendSeed, err := sendsim.LoadSeed("testdata/contactsend.json")
	if err != nil {
		tb.Fatal(err)
	}
	fx := fixture{
		hub:  hubsim.New(hubsim.Options{Seed: hubSeed, RandomSeed: 1}),
		send: sendsim.New(sendsim.Options{Seed: sendSeed, FaultSeed: 1}),
	}
	hubServer := httptest.NewServer(fx.hub)
	sendServer := httptest.NewServer(fx.send)
	tb.Cleanup(hubServer.Close)
	tb.Cleanup(sendServer.Close)
	fx.hubURL = hubServer.URL + "/hub/v1"

	keys, err := secret.NewLocalKeys(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	fx.table = testkit.Table(tb)
	fx.store = configstore.New(testkit.Emulators(tb).DynamoDB(), fx.table, secret.NewBox(keys))
	noWait := retry.Policy{Attempts: attempts, Sleep: func(context.Context, time.Duration) error { return nil }}
	send, err := contactsend.New(contactsend.Config{Endpoint: sendServer.URL + "/soap/services", Retry: noWait, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	hub := func(conn configstore.Connection) (*contacthub.Client, error) {
		return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken, Retry: noWait})
	}
	outcomes := ledger.New(testkit.Emulators(tb).DynamoDB(), fx.table)
	fx.audit = audit.New(testkit.Emulators(tb).DynamoDB(), fx.table)
	fx.trail = history.New(testkit.Emulators(tb).DynamoDB(), fx.table)
	fx.runs = runs.New(testkit.Emulators(tb).DynamoDB(), fx.table)
	fx.ledger = outcomes
	alertStore := alerts.NewStore(testkit.Emulators(tb).DynamoDB(), fx.table, secret.NewBox(keys))
	fx.queue = testkit.Queues(tb)
	queue := jobs.NewQueue(testkit.Emulators(tb).SQS(), fx.queue.SyncURL)
	fx.intake, err = scheduler.New(scheduler.Config{
		Sources: fx.store, Checkpoints: checkpoint.New(testkit.Emulators(tb).DynamoDB(), fx.table),
		Hub:  func(conn configstore.Connection) (scheduler.Hub, error) { return hub(conn) },
		Jobs: queue, Send: send, Ledger: outcomes,
	})
	if err != nil {
		tb.Fatal(err)
	}
	previewer, err := syncer.New(syncer.Config{
		Sources: fx.store, Ledger: outcomes, Send: send,
		Hub: func(conn configstore.Connection) (syncer.Hub, error) { return hub(conn) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	fx.api = configapi.New(configapi.Config{
		Store:            fx.store,
		Hub:              func(conn configstore.Connection) (configapi.Hub, error) { return hub(conn) },
		Send:             send,
		Intake:           fx.intake,
		Outcomes:         outcomes,
		Previewer:        previewer,
		Jobs:             queue,
		Audit:            fx.audit,
		History:          fx.trail,
		Runs:             fx.runs,
		Alerts:           alertStore,
		AlertSender:      alerts.NewMonitor(alertStore, nil, nil, logger),
		Logger:           logger,
		AllowInsecureHub: true,
	})
	return fx
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}, spec: loadSpec(t)}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fx := newFixture(t, logger, 2)
	e.api, e.intake, e.queue, e.hub, e.send, e.audit, e.table, e.hubURL, e.trail, e.runs, e.ledger = fx.api, fx.intake, fx.queue, fx.hub, fx.send, fx.audit, fx.table, fx.hubURL, fx.trail, fx.runs, fx.ledger
	for _, ws := range []string{"ws1", "ws2"} {
		e.expect(e.call(ws, "PUT", "/v1/workspace", map[string]any{
			"contacthub": map[string]any{"baseUrl": fx.hubURL, "workspaceId": "hub-ws", "token": hubToken},
		}, nil), http.StatusOK)
	}
	t.Cleanup(e.checkNoSecretsLeaked)
	return e
}

// response is a decoded API answer.
type response struct {
	status  int
	headers map[string]string
	body    map[string]any
	raw     string
}

// call sends one request as API Gateway would, as the given workspace ("" =
// no token), checks the answer against the OpenAPI description, and decodes it.
func (e *env) call(workspace, method, path string, body any, headers map[string]string) response {
	e.t.Helper()
	return e.callAs(workspace, configapi.RoleAdmin, method, path, body, headers)
}

// callAs calls as a person of the workspace with the given role ("" = a
// token naming no role).
func (e *env) callAs(workspace string, role configapi.Role, method, path string, body any, headers map[string]string) response {
	e.t.Helper()
	var raw string
	switch b := body.(type) {
	case nil:
	case string:
		raw = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		raw = string(data)
	}
	u, err := url.Parse(path)
	if err != nil {
		e.t.Fatal(err)
	}
	event := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: u.Path, RawQueryString: u.RawQuery,
		Headers: map[string]string{"content-type": "application/json"},
		Body:    raw,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: u.Path},
		},
	}
	if len(u.Query()) > 0 {
		event.QueryStringParameters = map[string]string{}
		for k, v := range u.Query() {
			event.QueryStringParameters[k] = v[0]
		}
	}
	for k, v := range headers {
		event.Headers[strings.ToLower(k)] = v
	}
	if workspace != "" {
		event.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"custom:workspace": workspace, "custom:role": string(role), "sub": "sub-" + string(role) + "-" + workspace, "email": string(role) + "@" + workspace + ".example"}},
		}
	}
	resp, err := e.api.Handle(context.Background(), event)
	if err != nil {
		e.t.Fatalf("%s %s: Handle returned an error: %v", method, path, err)
	}
	e.mu.Lock()
	e.bodies = append(e.bodies, resp.Body)
	e.mu.Unlock()
	e.validate(method, path, raw, resp)
	out := response{status: resp.StatusCode, headers: resp.Headers, raw: resp.Body}
	if resp.Body != "" && strings.HasPrefix(resp.Headers["Content-Type"], "application/json") {
		if err := json.Unmarshal([]byte(resp.Body), &out.body); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, resp.Body)
		}
	}
	return out
}

func (e *env) expect(r response, status int) response {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// errorPaths lists the paths of an error answer's problems.
func (r response) errorPaths() []string {
	var paths []string
	items, _ := r.body["errors"].([]any)
	for _, item := range items {
		paths = append(paths, item.(map[string]any)["path"].(string))
	}
	return paths
}

func (e *env) checkNoSecretsLeaked() {
	e.mu.Lock()
	defer e.mu.Unlock()
	all := strings.Join(e.bodies, "\n") + e.logs.String()
	for _, s := range []string{hubToken, sendAPIKey, sendUserKey, "fresh-api-key-0123456789", "fresh-user-key-0123456789"} {
		if strings.Contains(all, s) {
			e.t.Errorf("secret %q appeared in a response or a log line", s)
		}
	}
}

func loadSpec(t *testing.T) routers.Router {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(configapi.OpenAPI)
	if err != nil {
		t.Fatalf("load OpenAPI description: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("OpenAPI description is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("route OpenAPI description: %v", err)
	}
	return router
}

// validate checks a real answer against the OpenAPI description.
func (e *env) validate(method, path, body string, resp events.APIGatewayV2HTTPResponse) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	route, params, err := e.spec.FindRoute(req)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return // not an endpoint of the API: nothing to describe
		}
		e.t.Errorf("%s %s is not in the OpenAPI description: %v", method, path, err)
		return
	}
	header := http.Header{}
	for k, v := range resp.Headers {
		header.Set(k, v)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 header,
		Body:                   io.NopCloser(strings.NewReader(resp.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		e.t.Errorf("%s %s → %d does not match the OpenAPI description: %v\n%s", method, path, resp.StatusCode, err, resp.Body)
	}
}
