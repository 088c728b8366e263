package configapi_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/testkit"
)

// queued reads the customers of the retry jobs on the sync queue until n
// arrived or the deadline passed.
func (e *env) queued(n int) []string {
	e.t.Helper()
	var out []string
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		msgs, err := testkit.Emulators(e.t).SQS().ReceiveMessage(e.t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queue.SyncURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			j, err := jobs.Decode(*m.Body)
			if err != nil {
				e.t.Fatal(err)
			}
			if j.Reason == jobs.FromRetry {
				out = append(out, j.CustomerID)
			}
			if _, err := testkit.Emulators(e.t).SQS().DeleteMessage(e.t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queue.SyncURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestRetryAllOrSelectedFailuresAndExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	base := "/v1/sources/" + id + "/failures"
	for _, c := range []string{"c1", "c2", "c3"} {
		if err := e.ledger.RecordFailure(t.Context(), ledger.Failure{SourceID: id, CustomerID: c, Email: c + "@example.com", FirstName: "Giulia", Reason: "=cannot coerce " + c, Kind: ledger.Coercion, JobReason: "feed"}); err != nil {
			t.Fatal(err)
		}
	}
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	e.expect(e.call("ws1", "POST", base+"/retry", map[string]any{"all": true}, nil), http.StatusConflict)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, nil), http.StatusOK)

	r := e.expect(e.call("ws1", "POST", base+"/retry", map[string]any{"customerIds": []string{"c3", "c1", "c1"}}, nil), http.StatusAccepted)
	if r.body["enqueued"] != float64(2) {
		t.Fatalf("selected retry %s", r.raw)
	}
	if got := e.queued(2); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Fatalf("selected retry queued %v", got)
	}
	if r := e.expect(e.call("ws1", "POST", base+"/retry", map[string]any{"customerIds": []string{"c1", "nobody"}}, nil), http.StatusUnprocessableEntity); !strings.Contains(r.raw, "customerIds[1]") {
		t.Fatalf("a customer without a failed record: %s", r.raw)
	}
	e.expect(e.call("ws1", "POST", base+"/retry", map[string]any{}, nil), http.StatusUnprocessableEntity)
	e.expect(e.call("ws1", "POST", base+"/retry", map[string]any{"all": true, "customerIds": []string{"c1"}}, nil), http.StatusUnprocessableEntity)
	if r := e.expect(e.call("ws1", "POST", base+"/retry", map[string]any{"all": true}, nil), http.StatusAccepted); r.body["enqueued"] != float64(3) {
		t.Fatalf("retry all %s", r.raw)
	}
	if got := e.queued(3); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("retry all queued %v", got)
	}
	e.expect(e.call("ws2", "POST", base+"/retry", map[string]any{"all": true}, nil), http.StatusNotFound)

	export := e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures.csv", nil, nil), http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(export.raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "customerId" || rows[1][0] != "c1" || rows[1][1] != "c1@example.com" || rows[1][2] != "Giulia" || rows[1][5] != "'=cannot coerce c1" {
		t.Fatalf("CSV %q", rows)
	}
	e.expect(e.call("ws2", "GET", "/v1/sources/"+id+"/failures.csv", nil, nil), http.StatusNotFound)
}

// TestFailuresComeInParts: a source can hold more failed records than one
// answer may carry (Lambda answers at most 6 MB, API Gateway waits 30 s).
// A retry of all queues a bounded number and gives a cursor for the rest;
// the CSV export comes in parts joined by Link headers, each a CSV file
// with its header row. Together the parts name every record exactly once.
func TestFailuresComeInParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	configapi.SetPartLimits(e.api, 3, 200, 2)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	base := "/v1/sources/" + id + "/failures"
	var want []string
	for i := range 7 {
		c := fmt.Sprintf("c%d", i)
		want = append(want, c)
		if err := e.ledger.RecordFailure(t.Context(), ledger.Failure{SourceID: id, CustomerID: c, Email: c + "@example.com", Reason: "cannot coerce", Kind: ledger.Coercion, JobReason: "feed"}); err != nil {
			t.Fatal(err)
		}
	}

	var retried []string
	body := map[string]any{"all": true}
	for calls := 1; ; calls++ {
		r := e.expect(e.call("ws1", "POST", base+"/retry", body, nil), http.StatusAccepted)
		if n := r.body["enqueued"].(float64); n > 3 || n == 0 {
			t.Fatalf("call %d queued %v jobs, want 1 to 3: %s", calls, n, r.raw)
		}
		retried = append(retried, e.queued(int(r.body["enqueued"].(float64)))...)
		next, _ := r.body["nextCursor"].(string)
		if next == "" {
			if calls < 3 {
				t.Fatalf("7 records at 3 a call took %d calls", calls)
			}
			break
		}
		if calls == 7 {
			t.Fatalf("retry of all still has a cursor after %d calls", calls)
		}
		body = map[string]any{"all": true, "cursor": next}
	}
	slices.Sort(retried)
	if !slices.Equal(retried, want) {
		t.Fatalf("retry of all in parts queued %v, want each of %v once", retried, want)
	}
	for _, bad := range []map[string]any{
		{"all": true, "cursor": "not-one-we-gave"},
		{"customerIds": []string{"c1"}, "cursor": "abc"},
	} {
		if r := e.expect(e.call("ws1", "POST", base+"/retry", bad, nil), http.StatusUnprocessableEntity); !strings.Contains(r.raw, `"cursor"`) {
			t.Fatalf("retry with %v: %s", bad, r.raw)
		}
	}

	rows, parts := e.csvParts("/v1/sources/" + id + "/failures.csv")
	var exported []string
	for _, row := range rows[1:] {
		exported = append(exported, row[0])
	}
	if !slices.Equal(exported, want) || parts < 2 {
		t.Fatalf("%d parts hold %v, want each of %v once, in parts of about 200 bytes", parts, exported, want)
	}
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id+"/failures.csv?cursor=not-one-we-gave", nil, nil), http.StatusBadRequest)
}

// csvParts reads a CSV export part by part, following its Link headers,
// and returns its rows under one header row, and how many parts it took.
// Every part must be a CSV file with the header row; only the last may
// hold no record (the store knew no more only once it looked).
func (e *env) csvParts(path string) (rows [][]string, parts int) {
	e.t.Helper()
	for path != "" {
		parts++
		r := e.expect(e.call("ws1", "GET", path, nil, nil), http.StatusOK)
		part, err := csv.NewReader(strings.NewReader(r.raw)).ReadAll()
		if err != nil {
			e.t.Fatal(err)
		}
		if len(part) < 1 || (rows != nil && !slices.Equal(part[0], rows[0])) {
			e.t.Fatalf("part %d is not a CSV file with the header row: %q", parts, part)
		}
		if len(part) == 1 && r.headers["Link"] != "" {
			e.t.Fatalf("part %d holds no record but links another", parts)
		}
		if rows == nil {
			rows = part[:1]
		}
		rows = append(rows, part[1:]...)
		path = ""
		if link := r.headers["Link"]; link != "" {
			target, ok := strings.CutSuffix(link, `>; rel="next"`)
			base, _, _ := strings.Cut(strings.TrimPrefix(target, "<"), "?")
			if !ok || !strings.HasPrefix(target, "<"+base+"?cursor=") || !strings.HasPrefix(base, "/v1/sources/") {
				e.t.Fatalf("Link %q", link)
			}
			path = target[1:]
		}
		if parts == 20 {
			e.t.Fatal("the export still links a next part after 20 parts")
		}
	}
	return rows, parts
}
