package sqstrigger_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/localaws/sqstrigger"
	"github.com/hubsend/hubsend/internal/testkit"
)

// oneBatch is an in-memory sqstrigger.SQS holding one batch: the first
// receive returns it, later ones wait for the poller to stop. A second
// receive means the poller is done with the batch (deleting is part of an
// invocation), so the test can look at what was deleted.
type oneBatch struct {
	messages []types.Message

	mu       sync.Mutex
	receives int
	deleted  []string      // receipt handles
	polled   chan struct{} // closed at the second receive
}

func newOneBatch(bodies ...string) *oneBatch {
	q := &oneBatch{polled: make(chan struct{})}
	for i, body := range bodies {
		n := string(rune('0' + i))
		q.messages = append(q.messages, types.Message{
			MessageId: aws.String("id-" + n), ReceiptHandle: aws.String("rh-" + n), Body: aws.String(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	return q
}

func (q *oneBatch) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.receives++
	first := q.receives == 1
	if q.receives == 2 {
		close(q.polled)
	}
	q.mu.Unlock()
	if first {
		return &sqs.ReceiveMessageOutput{Messages: q.messages[:min(len(q.messages), int(in.MaxNumberOfMessages))]}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *oneBatch) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		q.deleted = append(q.deleted, aws.ToString(e.ReceiptHandle))
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// TestInvocationOutcomes: what an invocation's answer does to its batch, as
// Lambda's event source mapping does it: reported failures stay, and any
// failed invocation (an error, a panic, an unknown item) keeps the whole
// batch for redelivery.
func TestInvocationOutcomes(t *testing.T) {
	t.Parallel()
	failing := func(ids ...string) sqstrigger.Handler {
		return func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			for _, id := range ids {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
			}
			return resp, nil
		}
	}
	tests := []struct {
		name        string
		handler     sqstrigger.Handler
		wantDeleted []string
		wantError   bool // the invocation failed: an ERROR line says so
	}{
		{"all processed", failing(), []string{"rh-0", "rh-1", "rh-2"}, false},
		{"one reported failure", failing("id-1"), []string{"rh-0", "rh-2"}, false},
		{"every item failed", failing("id-0", "id-1", "id-2"), nil, false},
		{"an unknown item fails the batch", failing("id-1", "not-in-the-batch"), nil, true},
		{"an empty item fails the batch", failing(""), nil, true},
		{"an error fails the batch", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}, nil, true},
		{"a panic fails the batch", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			panic("worker bug")
		}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newOneBatch("a", "b", "c")
			var got events.SQSEvent
			handler := func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
				got = e
				return tt.handler(ctx, e)
			}
			logs := testkit.NewLogs()
			run(t, sqstrigger.Config{Client: q, QueueURL: "https://sqs.test/000000000000/sync", QueueARN: "arn:aws:sqs:us-east-1:000000000000:sync", Handler: handler, Logger: logs.Logger()})
			select {
			case <-q.polled:
			case <-time.After(10 * time.Second):
				t.Fatal("the poller never came back for the next batch")
			}
			q.mu.Lock()
			deleted := slices.Clone(q.deleted)
			q.mu.Unlock()
			slices.Sort(deleted)
			if !slices.Equal(deleted, tt.wantDeleted) {
				t.Errorf("deleted %v, want %v", deleted, tt.wantDeleted)
			}
			var errorLines int
			for _, line := range logs.Lines(t) {
				if line.Level() == "ERROR" {
					errorLines++
				}
			}
			if (errorLines > 0) != tt.wantError {
				t.Errorf("logged %d ERROR lines, want them only for a failed invocation:\n%s", errorLines, logs)
			}
			if len(got.Records) != 3 {
				t.Fatalf("the function got %d records, want the batch of 3", len(got.Records))
			}
			r := got.Records[1]
			if r.MessageId != "id-1" || r.ReceiptHandle != "rh-1" || r.Body != "b" || r.EventSource != "aws:sqs" ||
				r.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:sync" || r.Attributes["ApproximateReceiveCount"] != "1" {
				t.Errorf("record is not shaped like Lambda's: %+v", r)
			}
		})
	}
}
