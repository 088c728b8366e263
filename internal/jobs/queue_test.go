package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/retry"
)

// batchSQS is an in-memory jobs.SQS: it records every batch and answers
// each entry as refuse says (nil: accepted).
type batchSQS struct {
	mu      sync.Mutex
	batches [][]types.SendMessageBatchRequestEntry
	// refuse decides, per call (0 first) and entry, whether SQS refuses it.
	refuse func(call int, e types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry
	// fail makes a whole call fail, as a lost connection does.
	fail func(call int) error
}

func (s *batchSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := len(s.batches)
	s.batches = append(s.batches, in.Entries)
	if s.fail != nil {
		if err := s.fail(call); err != nil {
			return nil, err
		}
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if s.refuse != nil {
			if f := s.refuse(call, e); f != nil {
				f.Id = e.Id
				out.Failed = append(out.Failed, *f)
				continue
			}
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + *e.Id)})
	}
	return out, nil
}

// sent decodes the jobs of every batch, in order.
func (s *batchSQS) sent(t *testing.T) [][]jobs.Job {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]jobs.Job
	for _, batch := range s.batches {
		var js []jobs.Job
		for _, e := range batch {
			j, err := jobs.Decode(aws.ToString(e.MessageBody))
			if err != nil {
				t.Fatalf("sent body %q: %v", aws.ToString(e.MessageBody), err)
			}
			js = append(js, j)
		}
		out = append(out, js)
	}
	return out
}

func instant(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func customers(n int) []jobs.Job {
	var out []jobs.Job
	for i := range n {
		out = append(out, jobs.Job{SourceID: "s1", CustomerID: "c" + string(rune('a'+i)), Reason: jobs.FromFeed})
	}
	return out
}

func ids(js []jobs.Job) string {
	var out []string
	for _, j := range js {
		out = append(out, j.CustomerID)
	}
	return strings.Join(out, " ")
}

// TestSendLogic holds Send to its contract without a queue: batches of ten,
// only the refused entries sent again, nil only when every job is in.
func TestSendLogic(t *testing.T) {
	t.Parallel()
	throttled := func(call int, e types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry {
		if call == 0 && (*e.Id == "1" || *e.Id == "3") {
			return &types.BatchResultErrorEntry{Code: aws.String("RequestThrottled"), Message: aws.String("slow down")}
		}
		return nil
	}
	tests := []struct {
		name    string
		jobs    []jobs.Job
		client  *batchSQS
		wantErr string // empty: Send returns nil
		want    []string
	}{
		{
			name: "batches of ten", jobs: customers(25), client: &batchSQS{},
			want: []string{ids(customers(25)[:10]), ids(customers(25)[10:20]), ids(customers(25)[20:])},
		},
		{
			name: "only the throttled entries again", jobs: customers(4), client: &batchSQS{refuse: throttled},
			want: []string{"ca cb cc cd", "cb cd"},
		},
		{
			name: "a sender fault is not retried", jobs: customers(2),
			client: &batchSQS{refuse: func(int, types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry {
				return &types.BatchResultErrorEntry{Code: aws.String("InvalidMessageContents"), SenderFault: true}
			}},
			wantErr: "InvalidMessageContents",
			want:    []string{"ca cb"},
		},
		{
			name: "a lost connection is retried, then given up", jobs: customers(1),
			client:  &batchSQS{fail: func(int) error { return errors.New("connection reset") }},
			wantErr: "connection reset",
			want:    []string{"ca", "ca", "ca"},
		},
		{
			name: "a later batch is not sent after one fails", jobs: customers(12),
			client:  &batchSQS{fail: func(int) error { return errors.New("connection reset") }},
			wantErr: "connection reset",
			want:    []string{ids(customers(10)), ids(customers(10)), ids(customers(10))},
		},
		{
			name: "an invalid job is refused before sending", jobs: []jobs.Job{{SourceID: "s1"}}, client: &batchSQS{},
			wantErr: "customerId or subscriberId is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := jobs.NewQueue(tt.client, "https://sqs.test/000000000000/sync").WithRetry(retry.Policy{Attempts: 3, Sleep: instant})
			err := q.Send(context.Background(), tt.jobs...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Send = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Send = %v, want an error with %q", err, tt.wantErr)
			}
			var got []string
			for _, batch := range tt.client.sent(t) {
				got = append(got, sortedIDs(batch))
			}
			if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
				t.Fatalf("batches sent:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// sortedIDs lists a batch's customers sorted: Send builds a batch's
// entries from a map, so their order within it is not fixed.
func sortedIDs(batch []jobs.Job) string {
	out := strings.Fields(ids(batch))
	slices.Sort(out)
	return strings.Join(out, " ")
}

// TestSendStampsTheEnqueueTime: a job without one gets the time of sending;
// one that has it keeps it (a retried failed record keeps its age).
func TestSendStampsTheEnqueueTime(t *testing.T) {
	t.Parallel()
	client := &batchSQS{}
	earlier := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	before := time.Now().Round(0)
	err := jobs.NewQueue(client, "https://sqs.test/000000000000/sync").Send(context.Background(),
		jobs.Job{SourceID: "s1", CustomerID: "new", Reason: jobs.FromWebhook},
		jobs.Job{SourceID: "s1", CustomerID: "old", Reason: jobs.FromRetry, EnqueuedAt: earlier})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	for _, j := range client.sent(t)[0] {
		switch j.CustomerID {
		case "new":
			if j.EnqueuedAt.Before(before) || j.EnqueuedAt.After(after) {
				t.Errorf("new job stamped %v, want a time between %v and %v", j.EnqueuedAt, before, after)
			}
		case "old":
			if !j.EnqueuedAt.Equal(earlier) {
				t.Errorf("old job stamped %v, want its own %v", j.EnqueuedAt, earlier)
			}
		}
	}
}
