package scheduler_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/testkit"
)

// drainBulk receives and deletes every bulk job of a queue.
func drainBulk(t *testing.T, url string) []jobs.BulkJob {
	t.Helper()
	ctx := context.Background()
	var out []jobs.BulkJob
	for {
		res, err := testkit.Emulators(t).SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 300})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		var entries []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range res.Messages {
			job, err := jobs.DecodeBulk(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, job)
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := testkit.Emulators(t).SQS().DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBulkBackfillFeedsTheBulkQueueWhileBelowItsBound: with the bulk lane
// configured, a backfill becomes bulk jobs of page ranges on the bulk
// queue, never sync jobs on the live queue, and only while the bulk queue
// holds fewer messages than its bound; the ranges cover every page once.
func TestBulkBackfillFeedsTheBulkQueueWhileBelowItsBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bulkURL := testkit.Queues(t).BulkURL
	h := newHarness(t, options{extraItalians: 1197, configure: func(c *scheduler.Config) {
		c.Bulk = &scheduler.BulkLane{Queue: jobs.NewBulkQueue(testkit.Emulators(t).SQS(), bulkURL), PagesPerJob: 10, MaxDepth: 2}
	}})
	h.addSource("s1", "ws1", "italy", true)
	if err := h.sched.StartBackfill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	covered := make(map[int]int)
	collect := func() int {
		got := drainBulk(t, bulkURL)
		for _, j := range got {
			if j.SourceID != "s1" || j.Size != scheduler.BackfillPageSize {
				t.Errorf("bulk job %+v", j)
			}
			for p := j.FirstPage; p < j.FirstPage+j.Pages; p++ {
				covered[p]++
			}
		}
		return len(got)
	}
	steps := []struct {
		drainFirst bool
		wantJobs   int
		wantPage   int
		wantStatus checkpoint.BackfillStatus
	}{
		{wantJobs: 2, wantPage: 20, wantStatus: checkpoint.BackfillRunning},
		{wantJobs: 0, wantPage: 20, wantStatus: checkpoint.BackfillRunning}, // the queue is at its bound
		{drainFirst: true, wantJobs: 1, wantPage: 24, wantStatus: checkpoint.BackfillDone},
	}
	pending := 0
	for i, s := range steps {
		if s.drainFirst {
			collect()
			pending = 0
		}
		h.tick()
		n, err := jobs.NewBulkQueue(testkit.Emulators(t).SQS(), bulkURL).Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n-pending != s.wantJobs {
			t.Errorf("step %d: %d new bulk jobs, want %d", i, n-pending, s.wantJobs)
		}
		pending = n
		if b := h.backfill("s1"); b.NextPage != s.wantPage || b.Status != s.wantStatus {
			t.Errorf("step %d: checkpoint at page %d (%s), want %d (%s)", i, b.NextPage, b.Status, s.wantPage, s.wantStatus)
		}
	}
	collect()
	for p := range 24 {
		if covered[p] != 1 {
			t.Errorf("page %d covered %d times, want once", p, covered[p])
		}
	}
	if live := h.drain(); len(live) != 0 {
		t.Errorf("%d sync jobs on the live queue, want none: the backfill belongs to the bulk lane", len(live))
	}
}

// TestBulkBackfillStepsBackWhenCustomersAreDeleted: customers deleted
// between two ticks of a bulk backfill move later customers onto pages the
// earlier jobs covered, further than the loader's page of overlap reaches;
// the next job carries the node's count of before, and its loader reads
// back as far as the node shrank.
func TestBulkBackfillStepsBackWhenCustomersAreDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bulkURL := testkit.Queues(t).BulkURL
	h := newHarness(t, options{extraItalians: 297, configure: func(c *scheduler.Config) {
		c.Bulk = &scheduler.BulkLane{Queue: jobs.NewBulkQueue(testkit.Emulators(t).SQS(), bulkURL), PagesPerJob: 1, MaxDepth: 2}
	}})
	h.addSource("s1", "ws1", "italy", true)
	if err := h.sched.StartBackfill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	page := func(n int) []string {
		p, err := h.client.Customers(ctx, contacthub.ListQuery{NodeID: "italy", Page: n, Size: scheduler.BackfillPageSize, Sort: "registeredAt,asc"})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(p.Elements))
		for i, c := range p.Elements {
			ids[i] = c.ID
		}
		return ids
	}
	// A job reads its pages, the page of overlap after them and, if the
	// node shrank by more than that page since j.Total, the pages before
	// them the shrink covers, as the loader does when it runs: here, right
	// after the tick.
	seen := map[string]bool{}
	run := func() {
		for _, j := range drainBulk(t, bulkURL) {
			total := int64(len(nodeCustomers(h)))
			lead := 0
			if shrunk := j.Total - total; shrunk > int64(j.Size) {
				lead = min(j.FirstPage, int((shrunk-1)/int64(j.Size)))
			}
			for p := j.FirstPage - lead; p <= j.FirstPage+j.Pages; p++ {
				for _, id := range page(p) {
					seen[id] = true
				}
			}
		}
	}
	h.tick()
	run()
	// 60 of the customers loaded so far go: more than a page of overlap.
	for _, id := range append(page(0), page(1)[:10]...) {
		if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		h.tick()
		run()
		if h.backfill("s1").Status == checkpoint.BackfillDone {
			break
		}
	}
	if b := h.backfill("s1"); b.Status != checkpoint.BackfillDone {
		t.Fatalf("backfill %+v, want done", b)
	}
	for _, id := range nodeCustomers(h) {
		if !seen[id] {
			t.Errorf("customer %s was in no bulk job's pages", id)
		}
	}
}

// nodeCustomers are the ids of the customers now in node italy.
func nodeCustomers(h *harness) []string {
	var ids []string
	for _, c := range h.hub.Customers(hubWorkspace) {
		if c["nodeId"] == "italy" {
			ids = append(ids, c["id"].(string))
		}
	}
	return ids
}
