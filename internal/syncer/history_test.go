package syncer

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
)

// trailSince returns the customer's trail entries after the first n,
// oldest first.
func (h *harness) trailSince(customerID string, n int) []history.Entry {
	h.t.Helper()
	all, err := h.trail.All(context.Background(), h.src.ID, customerID)
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Reverse(all)
	if len(all) < n {
		h.t.Fatalf("trail shrank: %d entries, had %d", len(all), n)
	}
	return all[n:]
}

// historyWrites counts the trail's DynamoDB writes since the last Take.
func historyWrites(counts map[string]int) int { return counts["PutItem HISTORY"] }

// wantEntry checks the one subscription entry a step must leave.
func wantEntry(t *testing.T, got []history.Entry, want history.Entry) {
	t.Helper()
	var subs []history.Entry
	for _, e := range got {
		if e.Kind == history.Subscription {
			subs = append(subs, e)
		}
	}
	if len(subs) != 1 {
		t.Fatalf("%d subscription entries, want 1: %+v", len(subs), got)
	}
	e := subs[0]
	if e.SubscriptionID != newsletter || e.Changed != want.Changed || e.HubBefore != want.HubBefore || e.HubAfter != want.HubAfter ||
		e.SendBefore != want.SendBefore || e.SendAfter != want.SendAfter || e.Rule != want.Rule || e.Wrote != want.Wrote ||
		e.Echo != want.Echo || e.Trigger != want.Trigger {
		t.Fatalf("entry\n got %+v\nwant %+v", e, want)
	}
	if e.At.IsZero() || e.SubscriberID == 0 {
		t.Fatalf("entry without time or subscriber: %+v", e)
	}
}

// TestTrailRecordsEveryRule runs each rule of the subscription sync through
// the worker and checks the entry it leaves in the consent trail; unchanged
// jobs and echoes leave none and cost no write.
func TestTrailRecordsEveryRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("elena@example.com", "Elena", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": true}}
	id := h.put(c)
	h.db.Take()
	seen := 0
	step := func(name string, run func(), want *history.Entry) {
		t.Helper()
		run()
		got := h.trailSince(id, seen)
		seen += len(got)
		writes := historyWrites(h.db.Take())
		if writes != len(got) {
			t.Fatalf("%s: %d trail writes for %d entries", name, writes, len(got))
		}
		if want == nil {
			if len(got) != 0 {
				t.Fatalf("%s: left %d entries, want none: %+v", name, len(got), got)
			}
			return
		}
		wantEntry(t, got, *want)
	}
	byHub := func() { h.sync(id) }
	sub := int64(0)
	bySend := func(reason jobs.Reason) func() {
		return func() { h.handle(h.event(jobs.Job{SubscriberID: sub, Reason: reason})) }
	}

	step("first sync: explicit Contacthub subscribe against pending", byHub, &history.Entry{
		Changed: history.FirstSync, HubBefore: "subscribed", HubAfter: "subscribed", SendBefore: "pending", SendAfter: "subscribed",
		Rule: "first sync: Contacthub's subscription is explicit, Contactsend is pending", Wrote: "contactsend", Echo: "contactsend", Trigger: "webhook",
	})
	sub = h.only("elena@example.com").ID
	if data := h.trailSince(id, 0); !slices.ContainsFunc(data, func(e history.Entry) bool {
		return e.Kind == history.Data && e.Added && slices.Contains(e.Fields, "EMAIL") && e.SubscriberID == sub
	}) {
		t.Fatalf("no data entry for the added subscriber: %+v", data)
	}
	step("unchanged job", byHub, nil)
	step("Contactsend echo of hubsend's write: dropped", bySend(jobs.FromReconcile), nil)

	step("Contacthub changed", func() {
		if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
			t.Fatal(err)
		}
		h.sync(id)
	}, &history.Entry{
		Changed: history.Contacthub, HubBefore: "unsubscribed", HubAfter: "unsubscribed", SendBefore: "subscribed", SendAfter: "unsubscribed",
		Rule: "Contacthub changed", Wrote: "contactsend", Echo: "contactsend", Trigger: "webhook",
	})

	step("Contactsend changed", func() {
		if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 1); err != nil {
			t.Fatal(err)
		}
		bySend(jobs.FromSendWebhook)()
	}, &history.Entry{
		Changed: history.Contactsend, HubBefore: "unsubscribed", HubAfter: "subscribed", SendBefore: "subscribed", SendAfter: "subscribed",
		Rule: "Contactsend changed", Wrote: "contacthub", Echo: "contacthub", Trigger: "send-webhook",
	})
	step("Contacthub echo of hubsend's write: dropped", byHub, nil)

	step("pending is never subscribed", func() {
		if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 0); err != nil {
			t.Fatal(err)
		}
		bySend(jobs.FromReconcile)()
	}, &history.Entry{
		Changed: history.Contactsend, HubBefore: "subscribed", HubAfter: "unsubscribed", SendBefore: "pending", SendAfter: "pending",
		Rule: "Contactsend pending: not subscribed", Wrote: "contacthub", Echo: "contacthub", Trigger: "reconcile",
	})
	step("Contacthub echo of the unsubscribe: dropped", byHub, nil)

	step("tie: unsubscribed wins", func() {
		// Contacthub re-affirms its no while Contactsend says yes, at once.
		c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{
			"id": newsletter, "subscribed": false, "updatedAt": time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}}
		h.put(c)
		if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 1); err != nil {
			t.Fatal(err)
		}
		h.handle(h.event(jobs.Job{SubscriberID: sub, Reason: jobs.FromSendWebhook, EventAt: time.Now()}))
	}, &history.Entry{
		Changed: history.Both, HubBefore: "unsubscribed", HubAfter: "unsubscribed", SendBefore: "subscribed", SendAfter: "unsubscribed",
		Rule: "conflict within the clock-skew tolerance: unsubscribed wins", Wrote: "contactsend", Echo: "contactsend", Trigger: "send-webhook",
	})

	// A data-only change leaves a compact entry: which field, not its value.
	c["base"].(map[string]any)["firstName"] = "Elenina"
	h.put(c)
	h.sync(id)
	got := h.trailSince(id, seen)
	if len(got) != 1 || got[0].Kind != history.Data || !slices.Equal(got[0].Fields, []string{"FIRST_NAME"}) || got[0].Added {
		t.Fatalf("entries of a data change %+v, want one naming FIRST_NAME", got)
	}
	if writes := historyWrites(h.db.Take()); writes != 1 {
		t.Fatalf("%d trail writes for a data change, want 1", writes)
	}
}

// TestTrailExplicitBeatsImplicit: on a first sync, Contactsend's explicit
// subscribe beats a Contacthub customer without a subscription object.
func TestTrailExplicitBeatsImplicit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	sub, err := h.send.AddSubscriber(userDB, map[string]string{"EMAIL": "fabio@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 1); err != nil {
		t.Fatal(err)
	}
	id := h.put(h.customer("fabio@example.com", "Fabio", nil))
	h.handle(h.event(jobs.Job{CustomerID: id, Reason: jobs.FromBackfill}))
	wantEntry(t, h.trailSince(id, 0), history.Entry{
		Changed: history.FirstSync, HubBefore: "none", HubAfter: "subscribed", SendBefore: "subscribed", SendAfter: "subscribed",
		Rule: "first sync: Contactsend's status is explicit, Contacthub has no subscription", Wrote: "contacthub", Echo: "contacthub", Trigger: "backfill",
	})
}

// TestTrailKeepsTheWorkspaceRetention: entries expire after the retention
// their workspace chose.
func TestTrailKeepsTheWorkspaceRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.trail.SetRetention(context.Background(), workspace, 45); err != nil {
		t.Fatal(err)
	}
	id := h.put(h.customer("hugo@example.com", "Hugo", nil))
	h.sync(id)
	out, err := h.db.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 &h.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "HISTORY#" + h.src.ID + "#" + id}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("%d trail items, want the data entry", len(out.Items))
	}
	exp, _ := strconv.ParseInt(out.Items[0]["expiresAt"].(*types.AttributeValueMemberN).Value, 10, 64)
	if got := time.Until(time.Unix(exp, 0)); got < 44*24*time.Hour || got > 46*24*time.Hour {
		t.Fatalf("the entry expires in %v, want the workspace's 45 days", got)
	}
}

// TestTrailRecordsTheOtherRules: the explicit-unsubscribe rule, a conflict
// the later change wins, both sides changing alike, and a deleted
// customer's unsubscribe each leave their entry.
func TestTrailRecordsTheOtherRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withNewsletter)
	c := h.customer("ines@example.com", "Ines", nil)
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": false}}
	id := h.put(c)
	seen := 0
	next := func(name string, want history.Entry) {
		t.Helper()
		got := h.trailSince(id, seen)
		seen += len(got)
		t.Run(name, func(t *testing.T) { wantEntry(t, got, want) })
	}

	h.sync(id)
	next("explicit unsubscribe is -1, not pending", history.Entry{
		Changed: history.FirstSync, HubBefore: "unsubscribed", HubAfter: "unsubscribed", SendBefore: "pending", SendAfter: "unsubscribed",
		Rule: "first sync: Contacthub's explicit unsubscribe: Contactsend pending becomes unsubscribed", Wrote: "contactsend", Echo: "contactsend", Trigger: "webhook",
	})
	sub := h.only("ines@example.com").ID

	// Contacthub re-affirms its no; Contactsend subscribes 10 s later.
	at := time.Now()
	c["base"].(map[string]any)["subscriptions"] = []any{map[string]any{"id": newsletter, "subscribed": false, "updatedAt": at.UTC().Format("2006-01-02T15:04:05.000Z")}}
	h.put(c)
	if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 1); err != nil {
		t.Fatal(err)
	}
	h.skip(20 * time.Second)
	h.handle(h.event(jobs.Job{SubscriberID: sub, Reason: jobs.FromSendWebhook, EventAt: at.Add(10 * time.Second)}))
	next("conflict: the later change wins", history.Entry{
		Changed: history.Both, HubBefore: "unsubscribed", HubAfter: "subscribed", SendBefore: "subscribed", SendAfter: "subscribed",
		Rule: "conflict: Contactsend's change is later", Wrote: "contacthub", Echo: "contacthub", Trigger: "send-webhook",
	})
	h.sync(id) // Contacthub's echo

	// Both sides say no at once: the ledger learns it, nothing is written.
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, false); err != nil {
		t.Fatal(err)
	}
	if err := h.send.SetSubscriptionStatus(userDB, sub, webform, -1); err != nil {
		t.Fatal(err)
	}
	h.handle(h.event(jobs.Job{SubscriberID: sub, Reason: jobs.FromReconcile}))
	next("both sides changed alike", history.Entry{
		Changed: history.Both, HubBefore: "unsubscribed", HubAfter: "unsubscribed", SendBefore: "unsubscribed", SendAfter: "unsubscribed",
		Rule: "both sides changed alike", Wrote: "ledger", Trigger: "reconcile",
	})

	// A Contacthub subscribe dated before the synced unsubscribe (the
	// worker's clock is ahead by the skip above) is undone.
	if err := h.hub.SetSubscribed(hubWorkspace, id, newsletter, true); err != nil {
		t.Fatal(err)
	}
	h.sync(id)
	next("a stale Contacthub subscribe is undone", history.Entry{
		Changed: history.Contacthub, HubBefore: "subscribed", HubAfter: "unsubscribed", SendBefore: "unsubscribed", SendAfter: "unsubscribed",
		Rule: "stale Contacthub subscribe, dated before the synced unsubscribe: undone", Wrote: "contacthub", Echo: "contacthub", Trigger: "webhook",
	})

	// The customer is erased while Contactsend holds a subscribe.
	if err := h.send.SetSubscriptionStatus(userDB, sub, webform, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
		t.Fatal(err)
	}
	h.sync(id)
	next("a deleted customer is unsubscribed", history.Entry{
		Changed: history.Contacthub, HubBefore: "deleted", HubAfter: "deleted", SendBefore: "subscribed", SendAfter: "unsubscribed",
		Rule: "customer deleted: the source unsubscribes its subscriber", Wrote: "contactsend", Echo: "contactsend", Trigger: "webhook",
	})
}
