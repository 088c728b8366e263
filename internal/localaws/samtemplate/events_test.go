package samtemplate

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
)

// The sample events in events/ feed `sam local invoke` and tests; these
// checks keep them decodable by the handlers' event types and consistent with
// the template's routes, queue and schedule.

func readEvent(t *testing.T, root, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// hasRoute reports whether the template routes routeKey ("METHOD /path") to
// functionID.
func hasRoute(t *testing.T, tmpl *Template, functionID, routeKey string) bool {
	t.Helper()
	routes, err := tmpl.Routes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.FunctionID == functionID && r.Method+" "+r.Path == routeKey {
			return true
		}
	}
	return false
}

func TestSampleEventConfigAPI(t *testing.T) {
	tmpl, root := loadProjectTemplate(t)
	var e events.APIGatewayV2HTTPRequest
	readEvent(t, root, "configapi-create-source.json", &e)

	if e.Version != "2.0" || e.RouteKey != "POST /v1/sources" || e.RequestContext.HTTP.Method != "POST" || e.RawPath != "/v1/sources" {
		t.Errorf("version/route/method/path = %q/%q/%q/%q", e.Version, e.RouteKey, e.RequestContext.HTTP.Method, e.RawPath)
	}
	if !hasRoute(t, tmpl, "ConfigApiFunction", e.RouteKey) {
		t.Errorf("route %q is not a ConfigApiFunction route in the template", e.RouteKey)
	}
	if e.RequestContext.Authorizer == nil || e.RequestContext.Authorizer.JWT == nil {
		t.Fatal("missing requestContext.authorizer.jwt")
	}
	if got := e.RequestContext.Authorizer.JWT.Claims["custom:workspace"]; got != "demo" {
		t.Errorf("custom:workspace claim = %q, want demo", got)
	}
	if claim := tmpl.Parameters["WorkspaceClaim"].Default; claim != "custom:workspace" {
		t.Errorf("WorkspaceClaim default = %v, the sample event uses custom:workspace", claim)
	}
	var body struct {
		Name       string   `json:"name"`
		Nodes      []string `json:"nodes"`
		Properties struct {
			UserDBID     int `json:"userDbId"`
			FieldMapping []struct {
				HubField  string `json:"hubField"`
				SendField string `json:"sendField"`
				Match     bool   `json:"match"`
			} `json:"fieldMapping"`
		} `json:"properties"`
	}
	if err := json.Unmarshal([]byte(e.Body), &body); err != nil {
		t.Fatalf("body: %v", err)
	}
	matches := 0
	for _, m := range body.Properties.FieldMapping {
		if m.Match {
			matches++
		}
	}
	if body.Name == "" || len(body.Nodes) != 1 || body.Properties.UserDBID == 0 || matches == 0 {
		t.Errorf("body is not a valid source: %+v", body)
	}
	checkContentLength(t, e.Headers, e.Body)
}

func TestSampleEventWebhook(t *testing.T) {
	tmpl, root := loadProjectTemplate(t)
	var e events.APIGatewayV2HTTPRequest
	readEvent(t, root, "webhook-contacthub.json", &e)

	if !hasRoute(t, tmpl, "WebhookFunction", e.RouteKey) || e.RouteKey != "POST /v1/webhooks/contacthub/{sourceId}" {
		t.Errorf("route %q is not the Contacthub webhook route", e.RouteKey)
	}
	id := e.PathParameters["sourceId"]
	if id == "" || e.RawPath != "/v1/webhooks/contacthub/"+id || e.RequestContext.HTTP.Path != e.RawPath {
		t.Errorf("sourceId %q does not match rawPath %q / http.path %q", id, e.RawPath, e.RequestContext.HTTP.Path)
	}
	// API Gateway payload 2.0 lower-cases header names.
	sig := e.Headers["x-hubsend-signature"]
	if !regexp.MustCompile(`^sha256=[0-9a-f]{64}$`).MatchString(sig) {
		t.Errorf("x-hubsend-signature = %q, want sha256=<64 hex>", sig)
	}
	if e.RequestContext.Authorizer != nil {
		t.Error("a webhook request carries no authorizer context (the route is public)")
	}
	if !json.Valid([]byte(e.Body)) {
		t.Error("body is not JSON")
	}
	checkContentLength(t, e.Headers, e.Body)
}

func checkContentLength(t *testing.T, headers map[string]string, body string) {
	t.Helper()
	if n, err := strconv.Atoi(headers["content-length"]); err != nil || n != len(body) {
		t.Errorf("content-length %q, body is %d bytes", headers["content-length"], len(body))
	}
}

func TestSampleEventSyncWorker(t *testing.T) {
	_, root := loadProjectTemplate(t)
	var e events.SQSEvent
	readEvent(t, root, "syncworker-sqs.json", &e)

	if len(e.Records) != 2 {
		t.Fatalf("%d records, want 2", len(e.Records))
	}
	for i, r := range e.Records {
		var job struct {
			SourceID   string `json:"sourceId"`
			CustomerID string `json:"customerId"`
			Reason     string `json:"reason"`
		}
		dec := json.NewDecoder(strings.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&job); err != nil {
			t.Errorf("record %d body: %v", i, err)
		}
		if job.SourceID == "" || job.CustomerID == "" || job.Reason != "webhook" {
			t.Errorf("record %d job = %+v", i, job)
		}
		if r.EventSource != "aws:sqs" || r.MessageId == "" || r.ReceiptHandle == "" || !strings.Contains(r.EventSourceARN, "SyncQueue") {
			t.Errorf("record %d metadata = %s %q %q", i, r.EventSource, r.MessageId, r.EventSourceARN)
		}
		sum := md5.Sum([]byte(r.Body))
		if r.Md5OfBody != hex.EncodeToString(sum[:]) {
			t.Errorf("record %d md5OfBody does not match its body", i)
		}
		if _, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"]); err != nil {
			t.Errorf("record %d ApproximateReceiveCount: %v", i, err)
		}
	}
	if e.Records[0].MessageId == e.Records[1].MessageId {
		t.Error("records share a message id; partial batch responses need distinct ids")
	}
}

func TestSampleEventBulkWorker(t *testing.T) {
	_, root := loadProjectTemplate(t)
	var e events.SQSEvent
	readEvent(t, root, "bulkworker-sqs.json", &e)
	if len(e.Records) != 2 {
		t.Fatalf("%d records, want a bulk job and a handed-over sync job", len(e.Records))
	}
	if _, err := jobs.DecodeBulk(e.Records[0].Body); err != nil || !jobs.IsBulk(e.Records[0].Body) {
		t.Errorf("record 0 is not a bulk job: %v", err)
	}
	if job, err := jobs.Decode(e.Records[1].Body); err != nil || jobs.IsBulk(e.Records[1].Body) || job.Reason != jobs.FromBackfill {
		t.Errorf("record 1 is not a handed-over sync job: %+v %v", job, err)
	}
	for i, r := range e.Records {
		if r.EventSource != "aws:sqs" || r.MessageId == "" || r.ReceiptHandle == "" || !strings.Contains(r.EventSourceARN, "BulkQueue") {
			t.Errorf("record %d metadata = %s %q %q", i, r.EventSource, r.MessageId, r.EventSourceARN)
		}
		sum := md5.Sum([]byte(r.Body))
		if r.Md5OfBody != hex.EncodeToString(sum[:]) {
			t.Errorf("record %d md5OfBody does not match its body", i)
		}
	}
}

func TestSampleEventScheduler(t *testing.T) {
	_, root := loadProjectTemplate(t)
	var e events.EventBridgeEvent
	readEvent(t, root, "scheduler.json", &e)

	if e.DetailType != "Scheduled Event" || e.Source != "aws.events" || e.Time.IsZero() || len(e.Resources) != 1 {
		t.Errorf("event = %+v", e)
	}
	if string(e.Detail) != "{}" {
		t.Errorf("detail = %s, want {}", e.Detail)
	}
}

func TestSampleEventSourceTick(t *testing.T) {
	tmpl, root := loadProjectTemplate(t)
	var e events.SQSEvent
	readEvent(t, root, "sourcetick-sqs.json", &e)

	if len(e.Records) != 1 {
		t.Fatalf("%d records, want 1 (the mapping's batch size is %d)", len(e.Records), tmpl.Functions["SourceTickFunction"].Events["SourceTicks"].Properties["BatchSize"])
	}
	r := e.Records[0]
	var tick struct {
		SourceID string `json:"sourceId"`
		At       string `json:"at"`
	}
	dec := json.NewDecoder(strings.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tick); err != nil || tick.SourceID == "" || tick.At == "" {
		t.Errorf("body %s: %+v, %v", r.Body, tick, err)
	}
	if r.EventSource != "aws:sqs" || !strings.Contains(r.EventSourceARN, "SourceTickQueue") || !strings.HasSuffix(r.EventSourceARN, ".fifo") {
		t.Errorf("metadata = %s %q", r.EventSource, r.EventSourceARN)
	}
	if r.Attributes["MessageGroupId"] != tick.SourceID {
		t.Errorf("MessageGroupId %q, want the source id %q", r.Attributes["MessageGroupId"], tick.SourceID)
	}
	sum := md5.Sum([]byte(r.Body))
	if r.Md5OfBody != hex.EncodeToString(sum[:]) {
		t.Error("md5OfBody does not match its body")
	}
}
