package devstack_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/webhook"
	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
)

// syncStack starts a local stack whose schedule only runs when the test
// says so, and whose failed jobs come back within a couple of seconds.
func syncStack(t *testing.T) *devstack.Stack {
	t.Helper()
	stack, err := devstack.Start(t.Context(), devstack.Options{
		DemoCustomers:     30,
		ScheduleEvery:     time.Hour,
		VisibilityTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	return stack
}

func hubClient(t *testing.T, stack *devstack.Stack) *contacthub.Client {
	t.Helper()
	c, err := contacthub.New(contacthub.Config{BaseURL: stack.ContacthubURL + "/hub/v1", WorkspaceID: devstack.DemoHubWorkspace, Token: devstack.DemoHubToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// italianNode returns the demo's first entry node and its customers.
func italianNode(t *testing.T, stack *devstack.Stack) (string, []map[string]any) {
	t.Helper()
	all := stack.Hub.Customers(devstack.DemoHubWorkspace)
	node := all[0]["nodeId"].(string)
	var in []map[string]any
	for _, c := range all {
		if c["nodeId"] == node {
			in = append(in, c)
		}
	}
	return node, in
}

func createSource(t *testing.T, stack *devstack.Stack, node string) string {
	t.Helper()
	status, body := stack.CallT(t, "POST", "/v1/sources", map[string]any{
		"name": "Newsletter Italia", "nodes": []string{node},
		"properties": map[string]any{
			"apiKey": devstack.DemoSendAPIKey, "userKey": devstack.DemoSendUserKey, "userDbId": devstack.DemoUserDB,
			"fieldMapping": []map[string]any{
				{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
				{"hubField": "base.firstName", "sendField": "FIRST_NAME"},
				{"hubField": "base.lastName", "sendField": "LAST_NAME"},
				{"hubField": "base.dob", "sendField": "BIRTH_DATE"},
				{"hubField": "extended.loyaltyPoints", "sendField": "LOYALTY_POINTS"},
				{"hubField": "extended.vip", "sendField": "VIP"},
			},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("create source: %d %v", status, body)
	}
	return body["id"].(string)
}

func emailOf(c map[string]any) string {
	return strings.ToLower(c["base"].(map[string]any)["contacts"].(map[string]any)["email"].(string))
}

func TestCustomersFlowToContactsend(t *testing.T) {
	stack := syncStack(t)
	ctx := t.Context()
	node, customers := italianNode(t, stack)
	sourceID := createSource(t, stack, node)

	// Creating an enabled source starts its backfill; the next tick runs it.
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() string {
		subs := stack.SubscribersByEmailT(t)
		for _, c := range customers {
			if _, ok := subs[emailOf(c)]; !ok {
				return "no subscriber yet for " + emailOf(c)
			}
		}
		return ""
	})
	subs := stack.SubscribersByEmailT(t)
	first := customers[0]
	got := subs[emailOf(first)]
	base := first["base"].(map[string]any)
	ext := first["extended"].(map[string]any)
	if fmt.Sprint(got["FIRST_NAME"]) != base["firstName"] || fmt.Sprint(got["BIRTH_DATE"]) != base["dob"] ||
		fmt.Sprint(got["LOYALTY_POINTS"]) != fmt.Sprint(ext["loyaltyPoints"]) || fmt.Sprint(got["VIP"]) != fmt.Sprint(ext["vip"]) {
		t.Errorf("subscriber %v does not hold the customer's mapped values (%v, %v)", got, base, ext)
	}
	if len(subs) != len(customers)+5 {
		t.Errorf("userdb has %d subscribers, want the node's %d customers plus the 5 seeded", len(subs), len(customers))
	}

	// Change feed path: a change made through Contacthub's API arrives after a tick.
	hub := hubClient(t, stack)
	if _, err := hub.PatchCustomer(ctx, first["id"].(string), map[string]any{"base": map[string]any{"firstName": "Ginevra"}}); err != nil {
		t.Fatal(err)
	}
	calls := stack.Send.Calls().Counts()
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if name := fmt.Sprint(stack.SubscribersByEmailT(t)[emailOf(first)]["FIRST_NAME"]); name != "Ginevra" {
			return "FIRST_NAME is still " + name
		}
		return ""
	})
	after := stack.Send.Calls().Counts()
	if n := after["updateSubscriber"] - calls["updateSubscriber"]; n != 1 {
		t.Errorf("one changed customer cost %d updateSubscriber calls, want 1", n)
	}
	if after["addSubscriber"] != calls["addSubscriber"] {
		t.Errorf("a change added a subscriber")
	}

	// Webhook path: a new customer arrives without waiting for the schedule.
	status, secret := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/webhook-secret", nil)
	if status != http.StatusCreated {
		t.Fatalf("webhook secret: %d %v", status, secret)
	}
	created, err := hub.CreateCustomer(ctx, contacthub.Customer{NodeID: node, Base: &contacthub.Base{
		FirstName: "Nuovo", Contacts: &contacthub.Contacts{Email: "Nuovo.Cliente@Example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"customerId":%q,"eventType":"customerCreated","eventId":"evt-1"}`, created.ID)
	for attempt := range 2 {
		req, _ := http.NewRequest("POST", stack.APIURL+"/v1/webhooks/contacthub/"+sourceID, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.SignatureHeader, webhook.Sign(secret["secret"].(string), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook delivery %d: %d", attempt, resp.StatusCode)
		}
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if _, ok := stack.SubscribersByEmailT(t)["nuovo.cliente@example.com"]; !ok {
			return "the webhook's customer has no subscriber yet"
		}
		return ""
	})
}

func TestSyncConvergesThroughFaults(t *testing.T) {
	stack := syncStack(t)
	ctx := t.Context()
	node, customers := italianNode(t, stack)
	// Storms of a fixed size: every job meets failures, and none fails
	// maxReceiveCount times, so the test converges without the DLQ (a rate
	// would occasionally exhaust a job's five deliveries, which is the DLQ's
	// job in production but a flaky test here).
	for _, rule := range []faults.Rule{
		{Operation: "addSubscriber", Kind: faults.Status, Status: 500, Count: 8},
		{Operation: "addSubscriber", Kind: faults.Drop, Count: 4},
		{Operation: "findSubscribersBy", Kind: faults.Status, Status: 429, RetryAfterSeconds: 1, Count: 6},
		{Operation: "getSubscriberSource", Kind: faults.ExpiredToken, Count: 1},
	} {
		if _, err := stack.Send.Faults().Add(rule); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stack.Hub.Faults().Add(faults.Rule{Operation: "customers.get", Kind: faults.Status, Status: 429, RetryAfterSeconds: 1, Count: 6}); err != nil {
		t.Fatal(err)
	}
	createSource(t, stack, node)
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, func() string {
		subs := stack.SubscribersByEmailT(t) // fails the test on a duplicate
		missing := 0
		for _, c := range customers {
			if _, ok := subs[emailOf(c)]; !ok {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Sprintf("%d customers not synced yet", missing)
		}
		return ""
	})
	// Redelivered and duplicated jobs change nothing: a full resync of a
	// converged node costs no Contactsend writes.
	stack.Send.Faults().Reset()
	stack.Hub.Faults().Reset()
	before := stack.Send.Calls().Counts()
	status, _ := stack.CallT(t, "POST", "/v1/sources/"+sourceOf(t, stack)+"/resync", nil)
	if status != http.StatusAccepted {
		t.Fatalf("resync: %d", status)
	}
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() string {
		st, err := stack.Ledger.Stats(context.Background(), sourceOf(t, stack), time.Now().Add(-time.Hour))
		if err != nil {
			return err.Error()
		}
		if st.Counts.Unchanged < int64(len(customers)) {
			return fmt.Sprintf("%d unchanged so far", st.Counts.Unchanged)
		}
		return ""
	})
	after := stack.Send.Calls().Counts()
	for _, op := range []string{"addSubscriber", "updateSubscriber"} {
		if after[op] != before[op] {
			t.Errorf("resync of a converged node made %d %s calls", after[op]-before[op], op)
		}
	}
	stack.SubscribersByEmailT(t)
	out, err := stack.AWS.SQS().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &stack.Queues.DeadLetterURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Attributes["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("%s jobs in the dead-letter queue", n)
	}
}

func sourceOf(t *testing.T, stack *devstack.Stack) string {
	t.Helper()
	status, body := stack.CallT(t, "GET", "/v1/sources", nil)
	if status != 200 || len(body["elements"].([]any)) != 1 {
		t.Fatalf("sources: %d %v", status, body)
	}
	return body["elements"].([]any)[0].(map[string]any)["id"].(string)
}

func TestFailedRecordsPreviewAndRetry(t *testing.T) {
	stack := syncStack(t)
	ctx := t.Context()
	node, customers := italianNode(t, stack)
	bad := customers[1]
	badID := bad["id"].(string)
	hub := hubClient(t, stack)
	// Too large for Contactsend's INTEGER column: a coercion failure.
	if _, err := hub.PatchCustomer(ctx, badID, map[string]any{"extended": map[string]any{"loyaltyPoints": 5000000000}}); err != nil {
		t.Fatal(err)
	}
	sourceID := createSource(t, stack, node)

	status, preview := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/preview", map[string]any{"customerId": badID})
	if status != 200 || preview["action"] != "fail" || len(preview["problems"].([]any)) == 0 {
		t.Fatalf("preview of the bad customer: %d %v", status, preview)
	}
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	var failure map[string]any
	testkit.Eventually(t, 30*time.Second, func() string {
		_, page := stack.CallT(t, "GET", "/v1/sources/"+sourceID+"/failures", nil)
		for _, f := range page["elements"].([]any) {
			if f.(map[string]any)["customerId"] == badID {
				failure = f.(map[string]any)
				return ""
			}
		}
		return "no failed record yet"
	})
	if failure["kind"] != "coercion" || !strings.Contains(failure["reason"].(string), "LOYALTY_POINTS") {
		t.Errorf("failed record %v does not say which field and why", failure)
	}
	testkit.Eventually(t, 30*time.Second, func() string {
		_, st := stack.CallT(t, "GET", "/v1/sources/"+sourceID+"/status", nil)
		hour := st["stats"].(map[string]any)["lastHour"].(map[string]any)
		if hour["failed"].(float64) < 1 || hour["synced"].(float64) < float64(len(customers)-1) {
			return fmt.Sprintf("status counts %v", hour)
		}
		return ""
	})

	// Fix the data, retry: the record clears and the subscriber arrives.
	if _, err := hub.PatchCustomer(ctx, badID, map[string]any{"extended": map[string]any{"loyaltyPoints": 10}}); err != nil {
		t.Fatal(err)
	}
	if status, body := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/failures/"+badID+"/retry", nil); status != http.StatusAccepted {
		t.Fatalf("retry: %d %v", status, body)
	}
	testkit.Eventually(t, 30*time.Second, func() string {
		_, page := stack.CallT(t, "GET", "/v1/sources/"+sourceID+"/failures", nil)
		if n := len(page["elements"].([]any)); n != 0 {
			return fmt.Sprintf("%d failed records left", n)
		}
		if points := fmt.Sprint(stack.SubscribersByEmailT(t)[emailOf(bad)]["LOYALTY_POINTS"]); points != "10" {
			return "LOYALTY_POINTS is " + points
		}
		return ""
	})
	if status, _ := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/failures/"+badID+"/retry", nil); status != http.StatusNotFound {
		t.Errorf("retrying a cleared record: %d, want 404", status)
	}
	status, preview = stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/preview", map[string]any{"customerId": badID})
	if status != 200 || preview["action"] != "none" {
		t.Errorf("preview after the sync: %d %v, want action none", status, preview)
	}
}

// TestSchedulerIsTheFunctions shows the local stack runs the scheduler
// function's own scheduler: Contacthub reads are retried by its policy
// (schedulerfn.HubRetry), no more and no less, before the source is left
// to the next tick.
func TestSchedulerIsTheFunctions(t *testing.T) {
	stack := syncStack(t)
	ctx := t.Context()
	node, _ := italianNode(t, stack)
	sourceID := createSource(t, stack, node)
	if _, err := stack.Scheduler.Tick(ctx); err != nil { // the feed starts at its end
		t.Fatal(err)
	}
	attempts := schedulerfn.HubRetry.Attempts
	for _, tc := range []struct {
		failures int
		want     scheduler.Outcome
	}{
		{attempts - 1, scheduler.Worked},
		{attempts, scheduler.Failed},
	} {
		t.Run(fmt.Sprintf("%d failed reads", tc.failures), func(t *testing.T) {
			if _, err := stack.Hub.Faults().Add(faults.Rule{Operation: "updates.get", Kind: faults.Status, Status: 503, Count: tc.failures}); err != nil {
				t.Fatal(err)
			}
			before := stack.Hub.Calls().Counts()["updates.get"]
			report, err := stack.Scheduler.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep, _ := report.Source(sourceID); rep.Outcome != tc.want {
				t.Errorf("outcome = %+v, want %s", rep, tc.want)
			}
			if n := stack.Hub.Calls().Counts()["updates.get"] - before; n != attempts {
				t.Errorf("the tick read the feed %d times, want %d (schedulerfn.HubRetry)", n, attempts)
			}
		})
	}
}
