package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
)

// fastRetry keeps a failing queue from slowing the tests down.
var fastRetry = retry.Policy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}

// fixture is one test's world: its own table and queues, a source with a
// webhook secret, and a handler on them.
type fixture struct {
	stack   *emulators.Stack
	table   string
	queues  emulators.Queues
	store   *configstore.Store
	clock   *testkit.Clock
	handler *Handler
	secret  string
	logs    *testkit.Logs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		stack: testkit.Emulators(t), table: testkit.Table(t), queues: testkit.Queues(t),
		clock: testkit.NewClock(time.Date(2026, 11, 27, 9, 31, 12, 0, time.UTC)), logs: testkit.NewLogs(),
	}
	f.store = configstore.New(f.stack.DynamoDB(), f.table, testkit.Box(t), configstore.WithClock(f.clock.Now))
	f.createSource(t, testSourceID, "node-1", 6, true)
	var err error
	f.secret, err = f.store.RotateWebhookSecret(t.Context(), "demo", testSourceID)
	if err != nil {
		t.Fatal(err)
	}
	f.handler = f.newHandler(f.queues.SyncURL)
	return f
}

func (f *fixture) createSource(t *testing.T, id, node string, userDB int64, enabled bool) {
	t.Helper()
	_, err := f.store.Create(t.Context(), source.Source{
		ID: id, WorkspaceID: "demo", Name: "Newsletter " + id, Nodes: []string{node}, Enabled: enabled,
		Properties: source.Properties{
			UserKey: "user-key-0001", APIKey: "account-api-key-0001", UserDBID: userDB,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) newHandler(queueURL string) *Handler {
	return New(Config{
		Sources: f.store,
		Dedupe:  NewDedupeStore(f.stack.DynamoDB(), f.table),
		Jobs:    jobs.NewQueue(f.stack.SQS(), queueURL).WithRetry(fastRetry),
		Now:     f.clock.Now,
		Logger:  slog.New(slog.NewJSONHandler(f.logs, nil)),
	})
}

// queuedJobs drains the sync queue and returns what was on it.
func (f *fixture) queuedJobs(t *testing.T) []jobs.Job {
	t.Helper()
	var got []jobs.Job
	for {
		out, err := f.stack.SQS().ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(f.queues.SyncURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, m := range out.Messages {
			j, err := jobs.Decode(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, j)
		}
	}
}

// dedupeItems returns the stored dedupe records (a test may scan; the
// handler never does).
func (f *fixture) dedupeItems(t *testing.T) []map[string]types.AttributeValue {
	t.Helper()
	out, err := f.stack.DynamoDB().Scan(t.Context(), &dynamodb.ScanInput{
		TableName:                 aws.String(f.table),
		FilterExpression:          aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "DEDUPE#"}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Items
}

func handle(t *testing.T, h *Handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h.Handle(t.Context(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	if !json.Valid([]byte(resp.Body)) || resp.Headers["Content-Type"] != "application/json" {
		t.Errorf("answer is not JSON: %q %v", resp.Body, resp.Headers)
	}
	return resp
}

func wantStatus(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int, body string) {
	t.Helper()
	if resp.StatusCode != status || (body != "" && resp.Body != body) {
		t.Fatalf("answer %d %s, want %d %s", resp.StatusCode, resp.Body, status, body)
	}
}

const (
	accepted  = `{"status":"accepted"}`
	duplicate = `{"status":"duplicate"}`
)

func TestSignedDeliveryEnqueuesOneJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp := handle(t, f.handler, signed(testSourceID, f.secret, testBody(testEventID)))
	wantStatus(t, resp, http.StatusAccepted, accepted)

	got := f.queuedJobs(t)
	if len(got) != 1 {
		t.Fatalf("%d jobs queued, want 1: %+v", len(got), got)
	}
	j := got[0]
	if j.SourceID != testSourceID || j.CustomerID != testCustomer || j.Reason != jobs.FromWebhook || j.EventID != testEventID || !j.EnqueuedAt.Equal(f.clock.Now()) {
		t.Errorf("job = %+v", j)
	}
	items := f.dedupeItems(t)
	if len(items) != 1 {
		t.Fatalf("%d dedupe records, want 1", len(items))
	}
	if state := items[0]["state"].(*types.AttributeValueMemberS).Value; state != "done" {
		t.Errorf("dedupe state %q, want done", state)
	}
	wantExpiry := fmt.Sprint(f.clock.Now().Add(DedupeWindow).Unix())
	if exp := items[0]["expiresAt"].(*types.AttributeValueMemberN).Value; exp != wantExpiry {
		t.Errorf("expiresAt %s, want %s", exp, wantExpiry)
	}
}

func TestTokenInURLIsAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp := handle(t, f.handler, withToken(testSourceID, f.secret, testBody(testEventID)))
	wantStatus(t, resp, http.StatusAccepted, accepted)
	if n := len(f.queuedJobs(t)); n != 1 {
		t.Errorf("%d jobs queued, want 1", n)
	}
}

func TestRefusedDeliveriesLeaveNoTrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := testBody(testEventID)
	huge := `{"customerId":"c","padding":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		status int
		path   string // the errors[].path the answer must name, if any
	}{
		{"wrong signature", signed(testSourceID, "whsec_wrong", body), http.StatusUnauthorized, ""},
		{"signature of another body", func() events.APIGatewayV2HTTPRequest {
			r := signed(testSourceID, f.secret, body)
			r.Body = testBody("other-event")
			return r
		}(), http.StatusUnauthorized, ""},
		{"malformed signature", func() events.APIGatewayV2HTTPRequest {
			r := request(testSourceID, body)
			r.Headers["x-hubsend-signature"] = "md5=abc"
			return r
		}(), http.StatusUnauthorized, ""},
		{"wrong token", withToken(testSourceID, "whsec_wrong", body), http.StatusUnauthorized, ""},
		{"no authentication", request(testSourceID, body), http.StatusUnauthorized, ""},
		{"unknown source", signed("00000000000000000000000000000000", f.secret, body), http.StatusNotFound, ""},
		{"source id hubsend never makes", signed("../../etc", f.secret, body), http.StatusNotFound, ""},
		{"body over 256 KiB", func() events.APIGatewayV2HTTPRequest {
			r := signed(testSourceID, f.secret, huge)
			delete(r.Headers, "content-length")
			return r
		}(), http.StatusRequestEntityTooLarge, ""},
		{"declared length over 256 KiB", func() events.APIGatewayV2HTTPRequest {
			r := signed(testSourceID, f.secret, body)
			r.Headers["content-length"] = fmt.Sprint(MaxBodyBytes + 1)
			return r
		}(), http.StatusRequestEntityTooLarge, ""},
		{"base64 body over 256 KiB", func() events.APIGatewayV2HTTPRequest {
			r := signed(testSourceID, f.secret, huge)
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(huge)), true
			delete(r.Headers, "content-length")
			return r
		}(), http.StatusRequestEntityTooLarge, ""},
		{"malformed JSON", signed(testSourceID, f.secret, `{"customerId":`), http.StatusBadRequest, ""},
		{"not an object", signed(testSourceID, f.secret, `["customerId"]`), http.StatusBadRequest, ""},
		{"XML", signed(testSourceID, f.secret, `<customerId>c</customerId>`), http.StatusBadRequest, ""},
		{"empty", signed(testSourceID, f.secret, ``), http.StatusBadRequest, ""},
		{"customerId missing", signed(testSourceID, f.secret, `{"eventId":"e1"}`), http.StatusUnprocessableEntity, "customerId"},
		{"customerId blank", signed(testSourceID, f.secret, `{"customerId":"  ","eventId":"e1"}`), http.StatusUnprocessableEntity, "customerId"},
		{"customerId null", signed(testSourceID, f.secret, `{"customerId":null}`), http.StatusUnprocessableEntity, "customerId"},
		{"customerId a number", signed(testSourceID, f.secret, `{"customerId":42}`), http.StatusBadRequest, "customerId"},
		{"eventId an object", signed(testSourceID, f.secret, `{"customerId":"c","eventId":{"id":1}}`), http.StatusBadRequest, "eventId"},
		{"eventDate not a date", signed(testSourceID, f.secret, `{"customerId":"c","eventDate":"yesterday"}`), http.StatusUnprocessableEntity, "eventDate"},
		{"eventId too long", signed(testSourceID, f.secret, `{"customerId":"c","eventId":"`+strings.Repeat("e", 300)+`"}`), http.StatusUnprocessableEntity, "eventId"},
		{"not base64", func() events.APIGatewayV2HTTPRequest {
			r := signed(testSourceID, f.secret, body)
			r.Body, r.IsBase64Encoded = "%%%", true
			return r
		}(), http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := handle(t, f.handler, tt.req)
			wantStatus(t, resp, tt.status, "")
			var answer errorBody
			if err := json.Unmarshal([]byte(resp.Body), &answer); err != nil || answer.Message == "" {
				t.Errorf("answer %q has no message", resp.Body)
			}
			if tt.path != "" && (len(answer.Errors) == 0 || answer.Errors[0].Path != tt.path) {
				t.Errorf("answer %s does not name %s", resp.Body, tt.path)
			}
		})
	}
	if n := len(f.queuedJobs(t)); n != 0 {
		t.Errorf("%d jobs queued by refused deliveries", n)
	}
	if n := len(f.dedupeItems(t)); n != 0 {
		t.Errorf("%d dedupe records stored by refused deliveries", n)
	}
}

func TestSourceWithoutSecretAsksForOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const id = "11111111111111111111111111111111"
	f.createSource(t, id, "node-2", 7, true)
	resp := handle(t, f.handler, withToken(id, f.secret, testBody(testEventID)))
	wantStatus(t, resp, http.StatusUnauthorized, "")
	if !strings.Contains(resp.Body, "POST /v1/sources/"+id+"/webhook-secret") {
		t.Errorf("answer %s does not say how to make a secret", resp.Body)
	}
}

func TestDisabledSourceIsConflictAfterAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.store.SetEnabled(t.Context(), "demo", testSourceID, false, 0); err != nil {
		t.Fatal(err)
	}
	// An unauthenticated caller learns nothing about the source's state.
	wantStatus(t, handle(t, f.handler, withToken(testSourceID, "whsec_wrong", testBody(testEventID))), http.StatusUnauthorized, "")
	wantStatus(t, handle(t, f.handler, signed(testSourceID, f.secret, testBody(testEventID))), http.StatusConflict, `{"message":"source is disabled"}`)
	if n := len(f.queuedJobs(t)); n != 0 {
		t.Errorf("%d jobs queued for a disabled source", n)
	}
}

func TestPreviousSecretWorksDuringGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.secret
	current, err := f.store.RotateWebhookSecret(t.Context(), "demo", testSourceID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, handle(t, f.handler, signed(testSourceID, old, testBody("e-old"))), http.StatusAccepted, accepted)
	wantStatus(t, handle(t, f.handler, withToken(testSourceID, current, testBody("e-new"))), http.StatusAccepted, accepted)

	f.clock.Advance(configstore.RotationGrace + time.Second)
	wantStatus(t, handle(t, f.handler, signed(testSourceID, old, testBody("e-late"))), http.StatusUnauthorized, "")
	wantStatus(t, handle(t, f.handler, signed(testSourceID, current, testBody("e-late"))), http.StatusAccepted, accepted)
	if n := len(f.queuedJobs(t)); n != 3 {
		t.Errorf("%d jobs queued, want 3", n)
	}
}

func TestBase64BodyIsDecodedBeforeVerifying(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := testBody(testEventID)
	req := signed(testSourceID, f.secret, body)
	req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(body)), true
	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, accepted)
	if got := f.queuedJobs(t); len(got) != 1 || got[0].CustomerID != testCustomer {
		t.Errorf("jobs = %+v", got)
	}
}

func TestCatchAllRouteMatchesByPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := withToken(testSourceID, f.secret, testBody(testEventID))
	req.RouteKey, req.PathParameters = "$default", nil
	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, accepted)

	other := req
	other.RawPath = "/v1/webhooks/elsewhere/" + testSourceID
	wantStatus(t, handle(t, f.handler, other), http.StatusNotFound, "")
	get := req
	get.RequestContext.HTTP.Method = http.MethodGet
	resp := handle(t, f.handler, get)
	wantStatus(t, resp, http.StatusMethodNotAllowed, "")
	if resp.Headers["Allow"] != http.MethodPost {
		t.Errorf("Allow = %q", resp.Headers["Allow"])
	}
}

func TestSameEventTwiceIsOneJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := signed(testSourceID, f.secret, testBody(testEventID))
	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, accepted)
	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, duplicate)
	if n := len(f.queuedJobs(t)); n != 1 {
		t.Errorf("%d jobs queued, want 1", n)
	}

	// The record lives DedupeWindow; after it the event is new again.
	f.clock.Advance(DedupeWindow)
	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, accepted)
	if n := len(f.queuedJobs(t)); n != 1 {
		t.Errorf("%d jobs queued after the window, want 1", n)
	}
}

func TestDedupeWithoutEventIDUsesCustomerTypeAndDate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	send := func(body string) string {
		return handle(t, f.handler, signed(testSourceID, f.secret, body)).Body
	}
	rfc := `{"customerId":"c1","eventType":"changedSetting","eventDate":"2026-11-27T09:31:11.482Z"}`
	hub := `{"customerId":"c1","eventType":"changedSetting","eventDate":"2026-11-27T09:31:11.482+0000"}`
	later := `{"customerId":"c1","eventType":"changedSetting","eventDate":"2026-11-27T09:32:00+0000"}`
	noDate := `{"customerId":"c1","eventType":"changedSetting"}`
	for i, tt := range []struct{ body, want string }{
		{rfc, accepted},
		{hub, duplicate}, // the same instant in Contacthub's format
		{later, accepted},
		{noDate, accepted},
		{noDate, accepted}, // nothing tells two undated events apart: both go through
	} {
		if got := send(tt.body); got != tt.want {
			t.Errorf("delivery %d: %s, want %s", i, got, tt.want)
		}
	}
	if n := len(f.queuedJobs(t)); n != 4 {
		t.Errorf("%d jobs queued, want 4", n)
	}
}

func TestCrashAfterClaimStillEnqueuesOnRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// An earlier delivery claimed the event and died before sending its job.
	claim, err := NewDedupeStore(f.stack.DynamoDB(), f.table).Claim(t.Context(), testSourceID, testEventID, f.clock.Now())
	if err != nil || claim != ClaimNew {
		t.Fatalf("claim = %v, %v", claim, err)
	}
	wantStatus(t, handle(t, f.handler, signed(testSourceID, f.secret, testBody(testEventID))), http.StatusAccepted, accepted)
	if n := len(f.queuedJobs(t)); n != 1 {
		t.Errorf("%d jobs queued, want 1", n)
	}
	wantStatus(t, handle(t, f.handler, signed(testSourceID, f.secret, testBody(testEventID))), http.StatusAccepted, duplicate)
}

func TestQueueFailureIs503AndTheRetrySucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	broken := f.newHandler(f.queues.SyncURL + "-missing")
	req := signed(testSourceID, f.secret, testBody(testEventID))

	resp := handle(t, broken, req)
	wantStatus(t, resp, http.StatusServiceUnavailable, "")
	if resp.Headers["Retry-After"] != "2" {
		t.Errorf("Retry-After = %q, want 2", resp.Headers["Retry-After"])
	}
	items := f.dedupeItems(t)
	if len(items) != 1 || items[0]["state"].(*types.AttributeValueMemberS).Value != "pending" {
		t.Fatalf("dedupe records after a failed send: %v", items)
	}

	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, accepted)
	if got := f.queuedJobs(t); len(got) != 1 || got[0].EventID != testEventID {
		t.Errorf("jobs = %+v", got)
	}
}

func TestConcurrentIdenticalDeliveriesLoseNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := signed(testSourceID, f.secret, testBody(testEventID))
	const n = 20
	answers := make(chan events.APIGatewayV2HTTPResponse, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := f.handler.Handle(t.Context(), req)
			answers <- resp
		})
	}
	wg.Wait()
	close(answers)
	acceptedCount := 0
	for resp := range answers {
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("answer %d %s, want 202", resp.StatusCode, resp.Body)
		}
		if resp.Body == accepted {
			acceptedCount++
		}
	}
	if acceptedCount == 0 {
		t.Error("no delivery was accepted")
	}
	if got := len(f.queuedJobs(t)); got < 1 || got != acceptedCount {
		t.Errorf("%d jobs queued for %d accepted answers", got, acceptedCount)
	}
	wantStatus(t, handle(t, f.handler, req), http.StatusAccepted, duplicate)
}

func TestLogsHoldNoSecretsNorBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := `{"customerId":"c-logged","eventId":"e-logged","email":"ada@example.com"}`
	handle(t, f.handler, withToken(testSourceID, f.secret, body))
	handle(t, f.handler, signed(testSourceID, f.secret, body))
	handle(t, f.handler, withToken(testSourceID, "whsec_guessed_token", body))
	logs := f.logs.String()
	for _, leak := range []string{f.secret, "whsec_guessed_token", "ada@example.com", "token="} {
		if strings.Contains(logs, leak) {
			t.Errorf("logs contain %q:\n%s", leak, logs)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines for 3 requests:\n%s", len(lines), logs)
	}
	var first struct {
		Source, Event, Customer, Outcome string
		Status                           int
		DurationMs                       *float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Source != testSourceID || first.Event != "e-logged" || first.Customer != "c-logged" || first.Status != 202 || first.Outcome != "accepted" || first.DurationMs == nil {
		t.Errorf("log line = %s", lines[0])
	}
}
