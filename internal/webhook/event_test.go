package webhook

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
)

// moduleRoot is the nearest directory above the test's with a go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// The sample event is signed with the test secret documented in
// docs/webhooks.md, so `sam local invoke` with it and this test agree.
func TestSampleEventIsAccepted(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "events", "webhook-contacthub.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatal(err)
	}
	if got, want := req.Headers["x-hubsend-signature"], Sign(testSecret, []byte(req.Body)); got != want {
		t.Fatalf("sample signature %s, want %s (the documented test secret)", got, want)
	}
	sources, dedupe, sender := memoryDeps()
	h := New(Config{Sources: sources, Dedupe: dedupe, Jobs: sender})
	resp, err := h.Handle(t.Context(), req)
	if err != nil || resp.StatusCode != http.StatusAccepted || resp.Body != accepted {
		t.Fatalf("answer %d %s, %v", resp.StatusCode, resp.Body, err)
	}
	sent := sender.sent()
	if len(sent) != 1 {
		t.Fatalf("%d jobs, want 1", len(sent))
	}
	if j := sent[0]; j.SourceID != req.PathParameters["sourceId"] || j.CustomerID != testCustomer || j.EventID != testEventID || j.Reason != jobs.FromWebhook {
		t.Errorf("job = %+v", j)
	}
}
