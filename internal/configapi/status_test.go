package configapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/testkit"
)

// TestStatusShowsWaitingWorkAndResolvedErrors: while changes wait to be
// retried the status counts them and says when the next try is; once the
// source worked again without error, the last error is marked resolved.
func TestStatusShowsWaitingWorkAndResolvedErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	status := func() map[string]any {
		t.Helper()
		return e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/status", nil, nil), http.StatusOK).body
	}
	if w := status()["waiting"].(map[string]any); w["count"] != float64(0) || w["nextRetryAt"] != nil {
		t.Fatalf("waiting of a new source = %v", w)
	}

	outcomes := ledger.New(testkit.Emulators(t).DynamoDB(), e.table)
	failedAt := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	next := failedAt.Add(2 * time.Minute)
	if err := outcomes.AddStats(ctx, id, ledger.Batch{Counts: ledger.Counts{Retried: 2}, LastError: "contactsend update failed: HTTP 503", ProcessedAt: failedAt}); err != nil {
		t.Fatal(err)
	}
	if err := outcomes.MarkWaiting(ctx, id, []ledger.WaitingJob{{Key: "c1", NextRetryAt: next.Add(time.Second)}, {Key: "c2", NextRetryAt: next}}); err != nil {
		t.Fatal(err)
	}
	st := status()
	if w := st["waiting"].(map[string]any); w["count"] != float64(2) || w["nextRetryAt"] != next.Format(time.RFC3339) {
		t.Errorf("waiting during trouble = %v, want 2 and next try at %s", w, next.Format(time.RFC3339))
	}
	if st["lastError"] != "contactsend update failed: HTTP 503" || st["lastErrorResolved"] != nil {
		t.Errorf("during trouble: lastError %v, resolved %v", st["lastError"], st["lastErrorResolved"])
	}

	healthyAt := failedAt.Add(30 * time.Second)
	if err := outcomes.AddStats(ctx, id, ledger.Batch{Counts: ledger.Counts{Synced: 2}, ProcessedAt: healthyAt}); err != nil {
		t.Fatal(err)
	}
	if err := outcomes.ClearWaiting(ctx, id, []string{"c1", "c2"}); err != nil {
		t.Fatal(err)
	}
	st = status()
	if w := st["waiting"].(map[string]any); w["count"] != float64(0) {
		t.Errorf("waiting after recovery = %v", w)
	}
	if st["lastError"] != "contactsend update failed: HTTP 503" || st["lastErrorResolved"] != true || st["lastErrorResolvedAt"] != healthyAt.Format(time.RFC3339) {
		t.Errorf("after recovery: lastError %v, resolved %v at %v; want the error kept, resolved at %s", st["lastError"], st["lastErrorResolved"], st["lastErrorResolvedAt"], healthyAt.Format(time.RFC3339))
	}
}

// TestFailedRecordsNameTheCustomer: a failed record carries the customer's
// e-mail and names, and ?q= finds the records of one customer by id or by
// e-mail in any case.
func TestFailedRecordsNameTheCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	outcomes := ledger.New(testkit.Emulators(t).DynamoDB(), e.table)
	for _, f := range []ledger.Failure{
		{SourceID: id, CustomerID: "cust-1", Reason: "bad date", Kind: ledger.Coercion, Email: "Ada@Example.com", FirstName: "Ada", LastName: "Lovelace"},
		{SourceID: id, CustomerID: "cust-2", Reason: "source configuration unusable"},
	} {
		if err := outcomes.RecordFailure(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	all := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures", nil, nil), http.StatusOK)
	elements := all.body["elements"].([]any)
	if len(elements) != 2 {
		t.Fatalf("failures: %s", all.raw)
	}
	first := elements[0].(map[string]any)
	if first["email"] != "Ada@Example.com" || first["firstName"] != "Ada" || first["lastName"] != "Lovelace" {
		t.Errorf("failed record without the customer's names: %v", first)
	}
	if _, has := elements[1].(map[string]any)["email"]; has {
		t.Errorf("failed record of an unread customer has an e-mail: %v", elements[1])
	}
	for _, tc := range []struct{ q, want string }{
		{"cust-2", "cust-2"}, {"ada@example.com", "cust-1"}, {"nobody@example.com", ""},
	} {
		t.Run(tc.q, func(t *testing.T) {
			r := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures?q="+url.QueryEscape(tc.q), nil, nil), http.StatusOK)
			var got []string
			for _, el := range r.body["elements"].([]any) {
				got = append(got, el.(map[string]any)["customerId"].(string))
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("q=%s found %v, want %q", tc.q, got, tc.want)
			}
		})
	}
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures?q=", nil, nil), http.StatusBadRequest)
}
