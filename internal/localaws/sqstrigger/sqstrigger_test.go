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

	"github.com/hubsend/hubsend/internal/localaws/sqstrigger"
	"github.com/hubsend/hubsend/internal/testkit"
)

// TestPartialBatchFailuresComeBackThenRedrive runs the mapping against
// fauxqs: processed messages are deleted, reported failures come back after
// the visibility timeout, and a message that always fails lands in the
// dead-letter queue after maxReceiveCount receives.
func TestPartialBatchFailuresComeBackThenRedrive(t *testing.T) {
	ctx := t.Context()
	client := testkit.Emulators(t).SQS()
	dlq := createQueue(t, client, &sqs.CreateQueueInput{QueueName: aws.String(testkit.UniqueName(t) + "-dlq")})
	dlqAttrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	queue := createQueue(t, client, &sqs.CreateQueueInput{QueueName: aws.String(testkit.UniqueName(t)), Attributes: map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"3"}`, dlqAttrs.Attributes["QueueArn"]),
	}})
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

// createQueue creates a queue of the test's own on the shared emulators and
// deletes it when the test ends.
func createQueue(t *testing.T, client *sqs.Client, in *sqs.CreateQueueInput) *sqs.CreateQueueOutput {
	t.Helper()
	queue, err := client.CreateQueue(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: queue.QueueUrl})
	})
	return queue
}

// newQueue creates a queue with the given visibility timeout on the shared
// emulators and sends one message to it.
func newQueue(t *testing.T, visibility string) (*sqs.Client, string) {
	t.Helper()
	client := testkit.Emulators(t).SQS()
	queue := createQueue(t, client, &sqs.CreateQueueInput{QueueName: aws.String(testkit.UniqueName(t)), Attributes: map[string]string{"VisibilityTimeout": visibility}})
	if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: queue.QueueUrl, MessageBody: aws.String("job")}); err != nil {
		t.Fatal(err)
	}
	return client, *queue.QueueUrl
}

// run feeds handler from the queue until the test ends.
func run(t *testing.T, cfg sqstrigger.Config) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		sqstrigger.Run(ctx, cfg)
		close(done)
	}()
	t.Cleanup(func() { stop(); <-done })
}

// TestLateAnswerGivesBackTheWholeBatch: an answer after the function's
// timeout is a failed invocation in Lambda, whatever it says; the message
// comes back instead of being deleted.
func TestLateAnswerGivesBackTheWholeBatch(t *testing.T) {
	client, url := newQueue(t, "1")
	var mu sync.Mutex
	calls := 0
	handler := func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			<-ctx.Done() // overruns the timeout, then claims success
		}
		return events.SQSEventResponse{}, nil
	}
	run(t, sqstrigger.Config{Client: client, QueueURL: url, Handler: handler, FunctionTimeout: 300 * time.Millisecond})
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message of a timed-out invocation was deleted: %d invocations", n)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestFunctionSetVisibilityIsHonoured: a function that gives a message
// back with a shorter visibility gets it again then, not after the
// queue's visibility timeout.
func TestFunctionSetVisibilityIsHonoured(t *testing.T) {
	client, url := newQueue(t, "60")
	var mu sync.Mutex
	var at []time.Time
	handler := func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		at = append(at, time.Now())
		first := len(at) == 1
		mu.Unlock()
		var resp events.SQSEventResponse
		if first {
			r := e.Records[0]
			if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: &r.ReceiptHandle, VisibilityTimeout: 1}); err != nil {
				t.Error(err)
			}
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
		return resp, nil
	}
	run(t, sqstrigger.Config{Client: client, QueueURL: url, Handler: handler})
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(at)
		var took time.Duration
		if n >= 2 {
			took = at[1].Sub(at[0])
		}
		mu.Unlock()
		if n >= 2 {
			if took > 10*time.Second {
				t.Fatalf("delivered again after %v, want about 1 s", took)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the message never came back after its 1 s visibility")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
