// Package sqstrigger plays, on one machine, what Lambda's SQS event source
// mapping does in AWS: it long-polls a queue, hands batches to a function as
// events.SQSEvent, deletes the messages the function did not report as
// failed (ReportBatchItemFailures), and leaves the others to come back after
// the visibility timeout (or the visibility the function gave them), until
// the queue's redrive policy moves them to the dead-letter queue. An
// invocation that answers after FunctionTimeout has failed as a whole, as a
// Lambda timeout does.
package sqstrigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Handler is an SQS-triggered function with partial batch responses.
type Handler func(ctx context.Context, event events.SQSEvent) (events.SQSEventResponse, error)

// SQS is the part of the SQS client the poller uses.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Config describes one mapping.
type Config struct {
	Client   SQS
	QueueURL string
	QueueARN string
	Handler  Handler
	// BatchSize is at most 10 here (one ReceiveMessage); default 10.
	BatchSize int
	// BatchingWindow waits for more messages before invoking; default none.
	BatchingWindow time.Duration
	// Concurrency is how many batches run at once (MaximumConcurrency).
	Concurrency int
	// FunctionTimeout bounds one invocation, as Lambda's timeout does.
	FunctionTimeout time.Duration
	Logger          *slog.Logger
}

// Run polls until ctx ends. It returns nil on cancellation.
func Run(ctx context.Context, cfg Config) error {
	if cfg.BatchSize <= 0 || cfg.BatchSize > 10 {
		cfg.BatchSize = 10
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.FunctionTimeout <= 0 {
		cfg.FunctionTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() { poll(ctx, cfg) })
	}
	wg.Wait()
	return nil
}

func poll(ctx context.Context, cfg Config) {
	for ctx.Err() == nil {
		messages, err := receive(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			cfg.Logger.Warn("receive from the sync queue failed", "error", err)
			wait(ctx, time.Second)
			continue
		}
		if len(messages) == 0 {
			continue
		}
		invoke(ctx, cfg, messages)
	}
}

// receive gathers up to BatchSize messages: a long poll for the first, then
// short polls until the batch is full or BatchingWindow has passed since the
// first arrived. Short polls keep a message from coming back into the same
// batch after its visibility timeout.
func receive(ctx context.Context, cfg Config) ([]types.Message, error) {
	var batch []types.Message
	seen := map[string]bool{}
	var deadline time.Time
	for len(batch) < cfg.BatchSize {
		waitSeconds := int32(2)
		if !deadline.IsZero() {
			if time.Until(deadline) <= 0 {
				break
			}
			waitSeconds = 0
		}
		out, err := cfg.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &cfg.QueueURL,
			MaxNumberOfMessages:         int32(cfg.BatchSize - len(batch)),
			WaitTimeSeconds:             waitSeconds,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if len(batch) > 0 {
				return batch, nil
			}
			return nil, err
		}
		for _, m := range out.Messages {
			if !seen[aws.ToString(m.MessageId)] {
				seen[aws.ToString(m.MessageId)] = true
				batch = append(batch, m)
			}
		}
		if len(batch) == 0 {
			return nil, nil
		}
		if cfg.BatchingWindow <= 0 {
			break
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(cfg.BatchingWindow)
		}
		if len(out.Messages) == 0 {
			wait(ctx, min(50*time.Millisecond, time.Until(deadline)))
		}
	}
	return batch, nil
}

func invoke(ctx context.Context, cfg Config, messages []types.Message) {
	event := events.SQSEvent{Records: make([]events.SQSMessage, len(messages))}
	for i, m := range messages {
		event.Records[i] = record(cfg, m)
	}
	fnCtx, cancel := context.WithTimeout(ctx, cfg.FunctionTimeout)
	resp, err := safeCall(fnCtx, cfg.Handler, event)
	if err == nil && ctx.Err() == nil && errors.Is(fnCtx.Err(), context.DeadlineExceeded) {
		// Lambda stops a function at its timeout and counts the invocation
		// as failed, whatever it would have answered: an answer after the
		// deadline is discarded here too, so a worker that overruns fails
		// locally as it would in AWS.
		err = fmt.Errorf("task timed out after %s", cfg.FunctionTimeout)
	}
	cancel()
	if err != nil {
		// A failed invocation leaves the whole batch for redelivery.
		cfg.Logger.Error("sync worker invocation failed", "error", err, "messages", len(messages))
		return
	}
	inBatch := make(map[string]bool, len(messages))
	for _, m := range messages {
		inBatch[aws.ToString(m.MessageId)] = true
	}
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		if !inBatch[f.ItemIdentifier] {
			// Lambda treats an empty or unknown identifier as a failure of
			// the whole batch; doing the same here keeps a worker bug from
			// passing locally and looping in AWS.
			cfg.Logger.Error("sync worker reported an unknown batch item; the whole batch comes back", "itemIdentifier", f.ItemIdentifier)
			return
		}
		failed[f.ItemIdentifier] = true
	}
	var done []types.DeleteMessageBatchRequestEntry
	for i, m := range messages {
		if failed[*m.MessageId] {
			continue
		}
		id := strconv.Itoa(i)
		done = append(done, types.DeleteMessageBatchRequestEntry{Id: &id, ReceiptHandle: m.ReceiptHandle})
	}
	if len(done) == 0 {
		return
	}
	out, err := cfg.Client.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: &cfg.QueueURL, Entries: done})
	if err != nil {
		// The messages come back and run again; jobs are idempotent.
		cfg.Logger.Warn("delete processed messages failed", "error", err)
		return
	}
	for _, f := range out.Failed {
		cfg.Logger.Warn("delete processed message failed", "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
	}
}

func safeCall(ctx context.Context, h Handler, event events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return h(ctx, event)
}

func record(cfg Config, m types.Message) events.SQSMessage {
	r := events.SQSMessage{
		MessageId:      aws.ToString(m.MessageId),
		ReceiptHandle:  aws.ToString(m.ReceiptHandle),
		Body:           aws.ToString(m.Body),
		Md5OfBody:      aws.ToString(m.MD5OfBody),
		Attributes:     map[string]string{},
		EventSource:    "aws:sqs",
		EventSourceARN: cfg.QueueARN,
		AWSRegion:      "us-east-1",
	}
	for k, v := range m.Attributes {
		r.Attributes[k] = v
	}
	if len(m.MessageAttributes) > 0 {
		r.MessageAttributes = map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
	}
	return r
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
