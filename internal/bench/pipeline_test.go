package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// full says whether the long load and fault sizes run (make loadtest).
func full() bool { return os.Getenv("HUBSEND_LOAD") == "1" }

func startHarness(t testing.TB, opts Options) *Harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start the harness: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func logPipeline(t testing.TB, r PipelineResult) {
	t.Helper()
	t.Logf("customers %d: %.0f customers/s (ceiling %.0f updateSubscriber/s, ratio %.2f); paced at %.0f/s p50 %s p99 %s",
		r.Customers, r.Throughput, r.Ceiling, r.Ratio(), r.Paced, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond))
	t.Logf("CPU while draining %s: %v; %d invocations of %.1f jobs, %s each on average", r.Drain.Round(time.Millisecond), r.CPU,
		r.Batches.Invocations, float64(r.Batches.Records)/float64(max(1, r.Batches.Invocations)),
		(r.Batches.Time / time.Duration(max(1, r.Batches.Invocations))).Round(time.Millisecond))
	for name, c := range map[string]Cost{"backfill": r.Backfill, "changed": r.Changed, "unchanged": r.Unchanged} {
		t.Logf("%s per job: contactsend %.2f %v, contacthub %.2f %v, dynamodb %.2f %v, sqs %.2f %v", name,
			c.Contactsend, c.Calls.Contactsend, c.Contacthub, c.Calls.Contacthub, c.DynamoDB, c.Calls.DynamoDB, c.SQS, c.Calls.SQS)
	}
}

// TestPipelineCost runs a small pipeline and holds the cost targets: one
// Contactsend call per changed known customer, none for an unchanged one.
func TestPipelineCost(t *testing.T) {
	h := startHarness(t, Options{Customers: 120})
	r, err := RunPipeline(t.Context(), h, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	logPipeline(t, r)
	if got := r.Changed.Calls.Contactsend["updateSubscriber"]; got != r.Customers || r.Changed.Contactsend != 1 {
		t.Errorf("changed customers cost %v Contactsend calls, want exactly one updateSubscriber each (%d)", r.Changed.Calls.Contactsend, r.Customers)
	}
	if r.Unchanged.Contactsend != 0 {
		t.Errorf("unchanged customers cost %v Contactsend calls, want none", r.Unchanged.Calls.Contactsend)
	}
}

// BenchmarkPipeline reports the pipeline's numbers as custom metrics; one
// iteration is one whole run (go test -bench Pipeline -benchtime 1x).
func BenchmarkPipeline(b *testing.B) {
	customers := 1000
	// Experiments: HUBSEND_BENCH_POLLERS (batches at once),
	// HUBSEND_BENCH_SEND_IDLE (idle Contactsend connections kept),
	// HUBSEND_BENCH_PERSIST=1 (dynalite on disk).
	pollers, _ := strconv.Atoi(os.Getenv("HUBSEND_BENCH_POLLERS"))
	idle, _ := strconv.Atoi(os.Getenv("HUBSEND_BENCH_SEND_IDLE"))
	h := startHarness(b, Options{Customers: customers * 2, Pollers: pollers, SendIdleConns: idle, Persist: os.Getenv("HUBSEND_BENCH_PERSIST") == "1"})
	var r PipelineResult
	for b.Loop() {
		var err error
		if r, err = RunPipeline(context.Background(), h, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	logPipeline(b, r)
	b.ReportMetric(r.Throughput, "customers/s")
	b.ReportMetric(r.Ceiling, "ceiling-calls/s")
	b.ReportMetric(r.Ratio(), "ratio")
	b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(r.Changed.Contactsend, "send-calls/changed")
	b.ReportMetric(r.Unchanged.Contactsend, "send-calls/unchanged")
	b.ReportMetric(r.Changed.Contacthub, "hub-calls/job")
	b.ReportMetric(r.Changed.DynamoDB, "ddb-req/changed")
	b.ReportMetric(r.Unchanged.DynamoDB, "ddb-req/unchanged")
	b.ReportMetric(r.Changed.SQS, "sqs-req/job")
}
