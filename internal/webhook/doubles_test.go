package webhook

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
)

// In-memory doubles of the handler's three dependencies, for unit tests,
// the benchmark and the fuzz target; integration tests use the emulators.

type memorySources struct {
	sources map[string]source.Source
	secrets map[string][]string
}

func (m *memorySources) GetByID(_ context.Context, id string) (source.Source, error) {
	src, ok := m.sources[id]
	if !ok {
		return source.Source{}, fmt.Errorf("source %s: %w", id, configstore.ErrNotFound)
	}
	return src, nil
}

func (m *memorySources) WebhookSecrets(_ context.Context, id string) ([]string, error) {
	return m.secrets[id], nil
}

type memoryDedupe struct {
	mu     sync.Mutex
	states map[string]Claim
	err    error
}

func (m *memoryDedupe) Claim(_ context.Context, sourceID, eventKey string, _ time.Time) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if m.states == nil {
		m.states = make(map[string]Claim)
	}
	key := sourceID + "#" + eventKey
	state, ok := m.states[key]
	if !ok {
		m.states[key] = ClaimPending
		return ClaimNew, nil
	}
	return state, nil
}

func (m *memoryDedupe) Done(_ context.Context, sourceID, eventKey string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[sourceID+"#"+eventKey] = ClaimDone
	return nil
}

func (m *memoryDedupe) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.states)
}

// forgetfulDedupe claims every event as new: the benchmark's steady state
// of distinct events without a growing map.
type forgetfulDedupe struct{}

func (forgetfulDedupe) Claim(context.Context, string, string, time.Time) (Claim, error) {
	return ClaimNew, nil
}
func (forgetfulDedupe) Done(context.Context, string, string, time.Time) error { return nil }

// discardSender accepts every job and keeps none.
type discardSender struct{}

func (discardSender) Send(context.Context, ...jobs.Job) error { return nil }

// eventsRequest shortens the request type in test tables.
type eventsRequest = events.APIGatewayV2HTTPRequest

type memorySender struct {
	mu   sync.Mutex
	jobs []jobs.Job
	err  error
}

func (m *memorySender) Send(_ context.Context, js ...jobs.Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.jobs = append(m.jobs, js...)
	return nil
}

func (m *memorySender) sent() []jobs.Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]jobs.Job(nil), m.jobs...)
}

// Fixtures shared by the tests.
const (
	testSourceID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	testSecret   = "whsec_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testCustomer = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	testEventID  = "5c1d6a0e-2f7b-4c89-9d3e-7a6b5c4d3e2f"
)

func memoryDeps() (*memorySources, *memoryDedupe, *memorySender) {
	return &memorySources{
		sources: map[string]source.Source{testSourceID: {ID: testSourceID, WorkspaceID: "demo", Enabled: true, Nodes: []string{"node-1"}}},
		secrets: map[string][]string{testSourceID: {testSecret}},
	}, &memoryDedupe{}, &memorySender{}
}

func testBody(eventID string) string {
	return `{"customerId":"` + testCustomer + `","eventType":"serviceSubscribed","eventId":"` + eventID + `","eventDate":"2026-11-27T09:31:11.482+0000"}`
}

// request returns a delivery shaped as API Gateway's HTTP API (payload 2.0)
// hands it to the function, unauthenticated.
func request(sourceID, body string) events.APIGatewayV2HTTPRequest {
	path := PathPrefix + sourceID
	return events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: RouteKey,
		RawPath:  path,
		Headers: map[string]string{
			"content-type":   "application/json",
			"content-length": strconv.Itoa(len(body)),
			"user-agent":     "Contacthub-Webhook/1.0",
		},
		PathParameters: map[string]string{"sourceId": sourceID},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  RouteKey,
			Stage:     "$default",
			RequestID: "Bq7ZcF2ajoEEJxQ=",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path, Protocol: "HTTP/1.1"},
		},
		Body: body,
	}
}

func signed(sourceID, secret, body string) events.APIGatewayV2HTTPRequest {
	req := request(sourceID, body)
	req.Headers["x-hubsend-signature"] = Sign(secret, []byte(body))
	return req
}

func withToken(sourceID, token, body string) events.APIGatewayV2HTTPRequest {
	req := request(sourceID, body)
	req.RawQueryString = TokenParameter + "=" + token
	req.QueryStringParameters = map[string]string{TokenParameter: token}
	return req
}
