package configapi_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
