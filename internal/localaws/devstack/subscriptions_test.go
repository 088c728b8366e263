package devstack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/webhook"
)

const demoWebform = "230004001355" // the demo userdb's "Newsletter" system, __cls1

func hubFlag(t *testing.T, stack *devstack.Stack, customerID string) (bool, bool) {
	t.Helper()
	c, ok := stack.Hub.Customer(devstack.DemoHubWorkspace, customerID)
	if !ok {
		t.Fatalf("customer %s is gone", customerID)
	}
	for _, raw := range c["base"].(map[string]any)["subscriptions"].([]any) {
		if s := raw.(map[string]any); s["id"] == "newsletter" {
			b, _ := s["subscribed"].(bool)
			return b, true
		}
	}
	return false, false
}

func subscriptionWrites(stack *devstack.Stack) int {
	hub := stack.Hub.Calls().Counts()
	return stack.Send.Calls().Counts()["modifySubscriberSubscriptionStatus"] + hub["subscriptions.put"] + hub["subscriptions.create"]
}

func TestSubscriptionsSyncBothWays(t *testing.T) {
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 8, ScheduleEvery: time.Hour, VisibilityTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	ctx := t.Context()
	node, customers := italianNode(t, stack)
	status, body := stack.CallT(t, "POST", "/v1/sources", map[string]any{
		"name": "Newsletter Italia", "nodes": []string{node},
		"properties": map[string]any{
			"apiKey": devstack.DemoSendAPIKey, "userKey": devstack.DemoSendUserKey, "userDbId": devstack.DemoUserDB,
			"fieldMapping": []map[string]any{
				{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
				{"hubField": "base.firstName", "sendField": "FIRST_NAME"},
			},
			"subscriptions": []map[string]any{{"hubSubscriptionId": "newsletter", "sendSubscriptionId": 1, "webformCode": demoWebform}},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("create source: %d %v", status, body)
	}
	sourceID := body["id"].(string)
	// The stack's scheduler runs the reconciliation, as the function does.
	rec := stack.Scheduler
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	subscriber := func(c map[string]any) (int64, string) {
		subs, err := stack.Send.Subscribers(devstack.DemoUserDB)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if strings.EqualFold(fmt.Sprint(s.Attributes["EMAIL"]), emailOf(c)) {
				return s.ID, fmt.Sprint(s.Attributes["__cls1"])
			}
		}
		return 0, ""
	}
	// The backfill links every customer; a subscribed customer's subscriber
	// becomes subscribed (Contacthub explicit, Contactsend pending), and an
	// explicit unsubscribe becomes -1, not pending.
	explicitNo := 0
	testkit.Eventually(t, 30*time.Second, func() string {
		explicitNo = 0
		for _, c := range customers {
			id, cls := subscriber(c)
			flag, present := hubFlag(t, stack, c["id"].(string))
			if id == 0 || (flag && cls != "1") || (present && !flag && cls != "-1") {
				return "customer " + c["id"].(string) + " not synced yet (__cls1 " + cls + ")"
			}
			if present && !flag {
				explicitNo++
			}
		}
		return ""
	})
	if explicitNo == 0 {
		t.Fatal("the demo node has no explicit unsubscribe: the first load's -1 rule went unchecked")
	}

	// Subscribe in Contacthub: __cls1 = 1 after the change feed's job.
	first, second := customers[0], customers[1]
	firstID := first["id"].(string)
	if err := stack.Hub.SetSubscribed(devstack.DemoHubWorkspace, firstID, "newsletter", false); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if _, cls := subscriber(first); cls != "-1" {
			return "__cls1 is " + cls + " after a Contacthub unsubscribe"
		}
		return ""
	})
	if err := stack.Hub.SetSubscribed(devstack.DemoHubWorkspace, firstID, "newsletter", true); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if _, cls := subscriber(first); cls != "1" {
			return "__cls1 is " + cls + " after a Contacthub subscribe"
		}
		return ""
	})

	// Unsubscribe in Contactsend, told through the Contactsend webhook.
	status, secret := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/webhook-secret", nil)
	if status != http.StatusCreated {
		t.Fatalf("webhook secret: %d %v", status, secret)
	}
	firstSub, _ := subscriber(first)
	if err := stack.Send.SetSubscriptionStatus(devstack.DemoUserDB, firstSub, demoWebform, -1); err != nil {
		t.Fatal(err)
	}
	event := fmt.Sprintf(`{"eventCode":"unsubscribe","webformCode":%q,"subscriberId":%d,"eventId":"unsub-1","eventDate":"2026-11-27T09:31:11Z"}`, demoWebform, firstSub)
	req, _ := http.NewRequest("POST", stack.APIURL+"/v1/webhooks/contactsend/"+sourceID, strings.NewReader(event))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(secret["secret"].(string), []byte(event)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("contactsend webhook: %d", resp.StatusCode)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if flag, _ := hubFlag(t, stack, firstID); flag {
			return "Contacthub still subscribed after the Contactsend webhook"
		}
		return ""
	})

	// Unsubscribe in Contactsend, found by the reconciliation.
	secondID := second["id"].(string)
	if err := stack.Hub.SetSubscribed(devstack.DemoHubWorkspace, secondID, "newsletter", true); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Scheduler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if _, cls := subscriber(second); cls != "1" {
			return "second customer's __cls1 is " + cls
		}
		return ""
	})
	secondSub, _ := subscriber(second)
	if err := stack.Send.SetSubscriptionStatus(devstack.DemoUserDB, secondSub, demoWebform, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if flag, _ := hubFlag(t, stack, secondID); flag {
			return "Contacthub still subscribed after the reconciliation"
		}
		return ""
	})

	// No loop: once both ticks find nothing to do, nothing was written.
	writes := subscriptionWrites(stack)
	testkit.Eventually(t, 30*time.Second, func() string {
		feed, err := stack.Scheduler.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reconciled, err := rec.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := feed.Enqueued() + reconciled.Enqueued(); n > 0 {
			return fmt.Sprintf("ticks still enqueue %d jobs", n)
		}
		return ""
	})
	if got := subscriptionWrites(stack); got != writes {
		t.Fatalf("the echoes cost %d subscription writes, want none", got-writes)
	}
	if flag, _ := hubFlag(t, stack, firstID); flag {
		t.Fatal("the first customer was resubscribed")
	}
}
