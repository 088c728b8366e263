package configapi_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/runs"
)

func TestCustomerHistoryEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	customer := e.hub.Customers("hub-ws")[0]
	customerID := customer["id"].(string)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, rule := range []string{"first sync: the sides agree", "Contacthub changed", "=HYPERLINK(\"x\")"} {
		if err := e.trail.Add(t.Context(), 0, history.Entry{
			SourceID: id, CustomerID: customerID, LedgerVersion: int64(i + 1), At: start.Add(time.Duration(i) * time.Hour), Kind: history.Subscription,
			Trigger: "webhook", SubscriberID: 7, SubscriptionID: "newsletter", Changed: history.Contacthub,
			HubBefore: "subscribed", HubAfter: "unsubscribed", SendBefore: "subscribed", SendAfter: "unsubscribed",
			Rule: rule, Wrote: history.WroteContactsend, Echo: history.WroteContactsend,
		}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/v1/sources/" + id + "/customers/" + customerID + "/history"
	first := e.expect(e.call("ws1", "GET", base+"?limit=2", nil, nil), http.StatusOK)
	elements := first.body["elements"].([]any)
	if len(elements) != 2 || elements[0].(map[string]any)["rule"] != "=HYPERLINK(\"x\")" || first.body["nextCursor"] == nil {
		t.Fatalf("first page, want the two newest and a cursor: %s", first.raw)
	}
	second := e.expect(e.call("ws1", "GET", base+"?limit=2&cursor="+first.body["nextCursor"].(string), nil, nil), http.StatusOK)
	if got := second.body["elements"].([]any); len(got) != 1 || got[0].(map[string]any)["rule"] != "first sync: the sides agree" {
		t.Fatalf("second page, want the oldest: %s", second.raw)
	}
	// A cursor of another customer's trail is refused.
	other := "/v1/sources/" + id + "/customers/someone-else/history"
	e.expect(e.call("ws1", "GET", other+"?cursor="+first.body["nextCursor"].(string), nil, nil), http.StatusBadRequest)
	if r := e.expect(e.call("ws1", "GET", other, nil, nil), http.StatusOK); len(r.body["elements"].([]any)) != 0 {
		t.Fatalf("another customer's trail: %s", r.raw)
	}
	e.expect(e.call("ws1", "GET", base+"?cursor=nope", nil, nil), http.StatusBadRequest)
	e.expect(e.call("ws1", "GET", base+"?since=1", nil, nil), http.StatusBadRequest)
	// Another workspace sees nothing.
	e.expect(e.call("ws2", "GET", base, nil, nil), http.StatusNotFound)
	e.expect(e.call("ws2", "GET", base+".csv", nil, nil), http.StatusNotFound)

	export := e.expect(e.call("ws1", "GET", base+".csv", nil, nil), http.StatusOK)
	if !strings.HasPrefix(export.headers["Content-Type"], "text/csv") || !strings.Contains(export.headers["Content-Disposition"], "attachment") {
		t.Fatalf("CSV headers %v", export.headers)
	}
	rows, err := csv.NewReader(strings.NewReader(export.raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(history.CSVHeader, ",") {
		t.Fatalf("CSV rows %q", rows)
	}
	if rule := rows[1][11]; rule != "'=HYPERLINK(\"x\")" {
		t.Fatalf("a cell a spreadsheet would run as a formula: %q", rule)
	}
	// A long trail comes in parts (a customer changed every minute for a
	// year holds more than one answer may carry).
	configapi.SetPartLimits(e.api, 3, 10, 1)
	parted, parts := e.csvParts(base + ".csv")
	if parts < 3 || !slices.EqualFunc(parted, rows, slices.Equal) {
		t.Fatalf("in %d parts the trail reads %q, want parts of one entry holding %q", parts, parted, rows)
	}
	e.expect(e.call("ws1", "GET", base+".csv?cursor=nope", nil, nil), http.StatusBadRequest)

	// Findable by email.
	email := customer["base"].(map[string]any)["contacts"].(map[string]any)["email"].(string)
	found := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/customers?email="+email, nil, nil), http.StatusOK)
	if got := found.body["elements"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != customerID {
		t.Fatalf("customers by email %s: %s", email, found.raw)
	}
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/customers?email=not-an-email", nil, nil), http.StatusBadRequest)
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/customers", nil, nil), http.StatusBadRequest)
}

func TestRunsEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i, trigger := range []string{runs.Backfill, runs.Feed, runs.Reconcile} {
		run := runs.Run{SourceID: id, ID: runs.NewID(start.Add(time.Duration(i)*time.Minute), trigger), Trigger: trigger,
			StartedAt: start.Add(time.Duration(i) * time.Minute), EndedAt: start.Add(time.Duration(i)*time.Minute + time.Second), Read: int64(i + 1)}
		if err := e.runs.Record(t.Context(), run); err != nil {
			t.Fatal(err)
		}
		if err := e.runs.AddOutcomes(t.Context(), id, run.ID, runs.Outcomes{Changed: 1, Failed: int64(i), SendCalls: 2}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	first := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/runs?limit=2", nil, nil), http.StatusOK)
	got := first.body["elements"].([]any)
	if len(got) != 2 || got[0].(map[string]any)["id"] != ids[2] || got[0].(map[string]any)["failed"] != float64(2) ||
		got[0].(map[string]any)["read"] != float64(3) || first.body["nextCursor"] == nil {
		t.Fatalf("first page, want the newest two runs: %s", first.raw)
	}
	second := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/runs?cursor="+first.body["nextCursor"].(string), nil, nil), http.StatusOK)
	if got := second.body["elements"].([]any); len(got) != 1 || got[0].(map[string]any)["trigger"] != "backfill" || second.body["days"] != nil {
		t.Fatalf("second page: %s", second.raw)
	}
	if days := first.body["days"].([]any); len(days) != 7 || days[6].(map[string]any)["day"] != time.Now().UTC().Format(time.DateOnly) {
		t.Fatalf("chart days %v, want the last 7 ending today", first.body["days"])
	}
	e.expect(e.call("ws2", "GET", "/v1/sources/"+id+"/runs", nil, nil), http.StatusNotFound)
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/runs?cursor=eyJzIjoieCJ9", nil, nil), http.StatusBadRequest)
}

func TestHistoryRetentionPerWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/v1/workspace/history-settings"
	if r := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK); r.body["retentionDays"] != float64(400) {
		t.Fatalf("default retention %s, want 400 days", r.raw)
	}
	e.expect(e.call("ws1", "PUT", path, map[string]any{"retentionDays": 500}, nil), http.StatusOK)
	if r := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK); r.body["retentionDays"] != float64(500) {
		t.Fatalf("retention after PUT %s", r.raw)
	}
	if r := e.expect(e.call("ws2", "GET", path, nil, nil), http.StatusOK); r.body["retentionDays"] != float64(400) {
		t.Fatalf("another workspace's retention changed: %s", r.raw)
	}
	for _, bad := range []int{0, 29, 3651} {
		if r := e.expect(e.call("ws1", "PUT", path, map[string]any{"retentionDays": bad}, nil), http.StatusUnprocessableEntity); strings.Join(r.errorPaths(), ",") != "retentionDays" {
			t.Fatalf("retention %d: %s", bad, r.raw)
		}
	}
	e.expect(e.call("ws1", "PUT", path, map[string]any{"retentionDays": "400"}, nil), http.StatusBadRequest)
}
