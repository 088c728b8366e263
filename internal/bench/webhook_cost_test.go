package bench

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/webhook"
	"github.com/hubsend/hubsend/internal/wiring/webhookfn"
)

// TestWebhookCost counts the DynamoDB and SQS requests one accepted
// webhook costs, with the webhook function's handler wired to the counted
// clients (the worker is stopped: only the intake is counted).
func TestWebhookCost(t *testing.T) {
	h := startHarness(t, Options{Customers: 40})
	h.StopWorker()
	ctx := t.Context()
	secret, err := h.Store.RotateWebhookSecret(ctx, devstack.DemoWorkspace, h.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := webhookfn.New(h.Deps)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	before := h.Snapshot()
	for i := range n {
		body := fmt.Sprintf(`{"customerId":%q,"eventType":"customerUpdated","eventId":"cost-%d"}`, h.Customers[i%len(h.Customers)], i)
		path := webhook.PathPrefix + h.SourceID
		resp, err := handler.Handle(ctx, events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: webhook.RouteKey, RawPath: path,
			Headers: map[string]string{
				"content-type": "application/json", "content-length": strconv.Itoa(len(body)),
				"x-hubsend-signature": webhook.Sign(secret, []byte(body)),
			},
			PathParameters: map[string]string{"sourceId": h.SourceID},
			Body:           body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RouteKey: webhook.RouteKey,
				HTTP:     events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path},
			},
		})
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook %d: %d %s %v", i, resp.StatusCode, resp.Body, err)
		}
	}
	c := cost(n, h.Snapshot().Since(before))
	t.Logf("per accepted webhook: dynamodb %.2f %v, sqs %.2f %v", c.DynamoDB, c.Calls.DynamoDB, c.SQS, c.Calls.SQS)
	if c.SQS != 1 {
		t.Errorf("a webhook cost %.2f SQS requests, want 1 (one job)", c.SQS)
	}
}
