package bench

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Counter counts requests by operation name. It is safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *Counter) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make(map[string]int)
	}
	c.counts[op]++
}

// Counts returns a copy of the counts so far.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Total is the sum of all counts.
func (c *Counter) Total() int {
	total := 0
	for _, n := range c.Counts() {
		total += n
	}
	return total
}

// Delta returns after minus before, operation by operation, dropping zeros.
func Delta(before, after map[string]int) map[string]int {
	out := make(map[string]int)
	for op, n := range after {
		if d := n - before[op]; d != 0 {
			out[op] = d
		}
	}
	return out
}

// Sum adds up a count map.
func Sum(counts map[string]int) int {
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}

// CountingDynamoDB is a DynamoDB client that counts every request it sends
// through the real client. It satisfies the small DynamoDB interfaces of
// configstore, ledger, checkpoint and webhook.
type CountingDynamoDB struct {
	*dynamodb.Client
	Counter
}

func (c *CountingDynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.add("GetItem")
	return c.Client.GetItem(ctx, in, opts...)
}

func (c *CountingDynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.add("PutItem")
	return c.Client.PutItem(ctx, in, opts...)
}

func (c *CountingDynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.add("UpdateItem")
	return c.Client.UpdateItem(ctx, in, opts...)
}

func (c *CountingDynamoDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.add("DeleteItem")
	return c.Client.DeleteItem(ctx, in, opts...)
}

func (c *CountingDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.add("Query")
	return c.Client.Query(ctx, in, opts...)
}

func (c *CountingDynamoDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.add("BatchWriteItem")
	return c.Client.BatchWriteItem(ctx, in, opts...)
}

func (c *CountingDynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.add("BatchGetItem")
	return c.Client.BatchGetItem(ctx, in, opts...)
}

// CountingSQS is an SQS client that counts the requests of the sync path
// (send, receive, delete) and can hold each of them for Delay, to play a
// slow queue service.
type CountingSQS struct {
	*sqs.Client
	Counter

	mu    sync.Mutex
	delay time.Duration
}

// SetDelay makes every counted request wait d first (0 stops it).
func (c *CountingSQS) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = d
}

func (c *CountingSQS) before(ctx context.Context, op string) error {
	c.add(op)
	c.mu.Lock()
	d := c.delay
	c.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *CountingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if err := c.before(ctx, "SendMessageBatch"); err != nil {
		return nil, err
	}
	return c.Client.SendMessageBatch(ctx, in, opts...)
}

func (c *CountingSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if err := c.before(ctx, "SendMessage"); err != nil {
		return nil, err
	}
	return c.Client.SendMessage(ctx, in, opts...)
}

func (c *CountingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if err := c.before(ctx, "ReceiveMessage"); err != nil {
		return nil, err
	}
	return c.Client.ReceiveMessage(ctx, in, opts...)
}

func (c *CountingSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if err := c.before(ctx, "DeleteMessageBatch"); err != nil {
		return nil, err
	}
	return c.Client.DeleteMessageBatch(ctx, in, opts...)
}

func (c *CountingSQS) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if err := c.before(ctx, "ChangeMessageVisibilityBatch"); err != nil {
		return nil, err
	}
	return c.Client.ChangeMessageVisibilityBatch(ctx, in, opts...)
}
