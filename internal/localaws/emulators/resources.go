package emulators

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Logical ids in template.yaml that the local resources are built from.
const (
	TableID               = "Table"
	SyncQueueID           = "SyncQueue"
	SyncDeadLetterQueueID = "SyncDeadLetterQueue"
	SourceTickQueueID     = "SourceTickQueue"
)

// CreateTable creates the template's Table under name. An existing table of
// that name is left as it is.
//
// The TTL declared in the template is not applied: dynalite has no
// UpdateTimeToLive, and hubsend treats expired items as absent anyway.
func (s *Stack) CreateTable(ctx context.Context, name string) error {
	tbl, ok := s.template.Tables[TableID]
	if !ok {
		return fmt.Errorf("create table %s: template has no %s resource", name, TableID)
	}
	_, err := s.dynamoClient.CreateTable(ctx, tbl.CreateTableInput(name))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if err := s.waitActive(ctx, name); err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return nil
}

// waitActive polls until the table is ACTIVE. Even with --createTableMs 0,
// dynalite answers CreateTable with CREATING and activates the table a tick
// later; a write in between fails with ResourceNotFoundException.
func (s *Stack) waitActive(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := s.dynamoClient.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		switch {
		case err == nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		case err != nil && !errors.As(err, &notFound):
			return fmt.Errorf("wait for ACTIVE: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for ACTIVE: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Queues are the URLs of the sync queue, the scheduler's source tick queue,
// the bulk queue and their dead-letter queues.
type Queues struct {
	SyncURL       string
	DeadLetterURL string
	// TickURL is the FIFO queue of one tick per source; TickDeadLetterURL
	// its dead-letter queue.
	TickURL           string
	TickDeadLetterURL string
	// BulkURL and BulkDeadLetterURL are the bulk lane's queues.
	BulkURL           string
	BulkDeadLetterURL string
}

// BulkQueueID is the bulk lane's queue in the template.
const BulkQueueID = "BulkQueue"

// URLs lists every queue's URL.
func (q Queues) URLs() []string {
	return []string{q.SyncURL, q.DeadLetterURL, q.TickURL, q.TickDeadLetterURL, q.BulkURL, q.BulkDeadLetterURL}
}

// CreateQueues creates the template's SyncQueue, SourceTickQueue and
// BulkQueue, each after its dead-letter queue, with the template's
// attributes and redrive policies, named prefix-SyncQueue,
// prefix-SyncDeadLetterQueue, prefix-SourceTicks.fifo,
// prefix-SourceTicksDLQ.fifo, prefix-BulkQueue and prefix-BulkDeadLetterQueue
// (FIFO queue names end in .fifo, and a queue name has at most 80
// characters). Like SQS CreateQueue it succeeds for queues that already
// exist with the same attributes.
func (s *Stack) CreateQueues(ctx context.Context, prefix string) (Queues, error) {
	var q Queues
	var err error
	if q.SyncURL, q.DeadLetterURL, err = s.createWithDeadLetter(ctx, SyncQueueID, prefix+"-"+SyncQueueID, prefix+"-"+SyncDeadLetterQueueID); err != nil {
		return Queues{}, err
	}
	if q.BulkURL, q.BulkDeadLetterURL, err = s.createWithDeadLetter(ctx, BulkQueueID, prefix+"-"+BulkQueueID, prefix+"-BulkDeadLetterQueue"); err != nil {
		return Queues{}, err
	}
	if q.TickURL, q.TickDeadLetterURL, err = s.createWithDeadLetter(ctx, SourceTickQueueID, prefix+"-SourceTicks.fifo", prefix+"-SourceTicksDLQ.fifo"); err != nil {
		return Queues{}, err
	}
	return q, nil
}

// createWithDeadLetter creates the template's queue id as name, after its
// dead-letter queue as deadLetterName, and returns both URLs.
func (s *Stack) createWithDeadLetter(ctx context.Context, id, name, deadLetterName string) (url, deadLetterURL string, err error) {
	queue, ok := s.template.Queues[id]
	if !ok {
		return "", "", fmt.Errorf("create queues: template has no %s resource", id)
	}
	if queue.DeadLetterQueue == "" {
		return "", "", fmt.Errorf("create queues: %s has no redrive policy in the template", id)
	}
	deadLetter := s.template.Queues[queue.DeadLetterQueue]
	if deadLetterURL, err = s.createQueue(ctx, deadLetterName, deadLetter.Attributes()); err != nil {
		return "", "", err
	}
	attrs, err := s.SQS().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(deadLetterURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queues: dead-letter queue ARN: %w", err)
	}
	deadLetterARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if deadLetterARN == "" {
		return "", "", fmt.Errorf("create queues: %s has no QueueArn attribute", deadLetterURL)
	}
	queueAttrs := queue.Attributes()
	queueAttrs[string(sqstypes.QueueAttributeNameRedrivePolicy)] = queue.RedrivePolicy(deadLetterARN)
	if url, err = s.createQueue(ctx, name, queueAttrs); err != nil {
		return "", "", err
	}
	return url, deadLetterURL, nil
}

func (s *Stack) createQueue(ctx context.Context, name string, attrs map[string]string) (string, error) {
	out, err := s.SQS().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
