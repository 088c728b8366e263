package sqstrigger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/localaws/sqstrigger"
)

// TestPartialBatchFailuresComeBackThenRedrive runs the mapping against
// fauxqs: processed messages are deleted, reported failures come back after
// the visibility timeout, and a message that always fails lands in the
// dead-letter queue after maxReceiveCount receives.
func TestPartialBatchFailuresComeBackThenRedrive(t *testing.T) {
	stack := emulators.StartT(t)
	ctx := t.Context()
	client := stack.SQS()
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("es-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dlqAttrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	queue, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("es-sync"), Attributes: map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"3"}`, dlqAttrs.Attributes["QueueArn"]),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"ok-1", "flaky", "ok-2", "poison"} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queue.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	seen := map[string]int{}
	handler := func(_ context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		var resp events.SQSEventResponse
		for _, r := range e.Records {
			seen[r.Body]++
			if r.Body == "poison" || (r.Body == "flaky" && seen[r.Body] == 1) {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
			if r.EventSource != "aws:sqs" || r.Attributes["ApproximateReceiveCount"] == "" {
				t.Errorf("record is not shaped like Lambda's: %+v", r)
			}
		}
		return resp, nil
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		sqstrigger.Run(runCtx, sqstrigger.Config{Client: client, QueueURL: *queue.QueueUrl, Handler: handler, Concurrency: 2, BatchingWindow: 100 * time.Millisecond})
		close(done)
	}()
	defer func() { stop(); <-done }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 1 && *out.Messages[0].Body == "poison" {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("poison message never reached the DLQ; seen %v", seen)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["ok-1"] != 1 || seen["ok-2"] != 1 {
		t.Errorf("processed messages ran again: %v", seen)
	}
	if seen["flaky"] != 2 {
		t.Errorf("flaky ran %d times, want 2 (fail, then succeed)", seen["flaky"])
	}
	if seen["poison"] != 3 {
		t.Errorf("poison ran %d times, want maxReceiveCount = 3", seen["poison"])
	}
}
