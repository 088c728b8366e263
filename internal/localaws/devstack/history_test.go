package devstack_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/testkit"
)

// TestDemoLeavesHistory: the local stack's first load of a source leaves a
// run in the run history whose counts match the customers it read, and a
// consent trail for a customer, as `make run` shows in the console.
func TestDemoLeavesHistory(t *testing.T) {
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 8, ScheduleEvery: time.Hour, VisibilityTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	node, customers := italianNode(t, stack)
	status, body := stack.CallT(t, "POST", "/v1/sources", map[string]any{
		"name": "Newsletter Italia", "nodes": []string{node},
		"properties": map[string]any{
			"apiKey": devstack.DemoSendAPIKey, "userKey": devstack.DemoSendUserKey, "userDbId": devstack.DemoUserDB,
			"fieldMapping":  []map[string]any{{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true}},
			"subscriptions": []map[string]any{{"hubSubscriptionId": "newsletter", "sendSubscriptionId": 1, "webformCode": demoWebform}},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("create source: %d %v", status, body)
	}
	sourceID := body["id"].(string)
	if _, err := stack.Scheduler.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() string {
		status, runs := stack.CallT(t, "GET", "/v1/sources/"+sourceID+"/runs", nil)
		if status != http.StatusOK {
			return fmt.Sprintf("runs: %d %v", status, runs)
		}
		for _, raw := range runs["elements"].([]any) {
			r := raw.(map[string]any)
			if r["trigger"] != "backfill" {
				continue
			}
			done := r["changed"].(float64) + r["unchanged"].(float64) + r["failed"].(float64) + r["skipped"].(float64)
			if r["read"] != float64(len(customers)) || done != r["read"] || r["contactsendCalls"].(float64) == 0 {
				return fmt.Sprintf("backfill run %v, want %d customers read and done", r, len(customers))
			}
			return ""
		}
		return fmt.Sprintf("no backfill run yet: %v", runs)
	})
	customerID := customers[0]["id"].(string)
	status, trail := stack.CallT(t, "GET", "/v1/sources/"+sourceID+"/customers/"+customerID+"/history", nil)
	if status != http.StatusOK {
		t.Fatalf("history: %d %v", status, trail)
	}
	entries := trail["elements"].([]any)
	// The first load went through the bulk lane, which writes no data
	// entry (package bulk); the subscription row's first sync is the
	// per-customer lane's and is in the trail.
	if len(entries) == 0 || entries[len(entries)-1].(map[string]any)["trigger"] != "backfill" {
		t.Fatalf("the first load left no trail for customer %s: %v", customerID, entries)
	}
}
