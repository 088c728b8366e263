// Package checkpoint keeps the scheduler's progress in DynamoDB: per source
// the change-feed offset, the progress of a backfill, and the lease that
// lets only one scheduler run work on a source at a time; and the leases
// that let only one run of each of its bulk jobs work at a time.
//
// They live in the partition CHECKPOINT#<sourceId> of the shared single
// table, under the sort keys FEED, BACKFILL, LEASE and LEASE#<job>.
//
// Checkpoints are written with optimistic concurrency: every item carries a
// version, and a save names the version it read. A run that lost its lease
// while it was slow therefore cannot move a checkpoint backwards or
// overwrite what a newer run stored: its next save meets a version it did
// not read and fails with ErrConflict.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the part of the DynamoDB client the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Errors callers branch on.
var (
	// ErrConflict means the checkpoint changed since it was read: another
	// run, or a restarted backfill, wrote it first.
	ErrConflict = errors.New("checkpoint changed since it was read")
	// ErrLeaseHeld means another run holds the source's lease.
	ErrLeaseHeld = errors.New("lease is held by another run")
)

// Store reads and writes checkpoints and leases in one table.
type Store struct {
	db    DynamoDB
	table string
}

// New returns a store on table.
func New(db DynamoDB, table string) *Store {
	return &Store{db: db, table: table}
}

// Sort keys of a source's checkpoint partition.
const (
	feedSK     = "FEED"
	backfillSK = "BACKFILL"
	leaseSK    = "LEASE"
)

func partition(sourceID string) string { return "CHECKPOINT#" + sourceID }

func key(sourceID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: partition(sourceID)},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

// get reads one item into out, reporting whether it exists.
func (s *Store) get(ctx context.Context, sourceID, sk string, out any) (bool, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            key(sourceID, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("get %s checkpoint of source %s: %w", sk, sourceID, err)
	}
	if res.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, fmt.Errorf("decode %s checkpoint of source %s: %w", sk, sourceID, err)
	}
	return true, nil
}

// load reads the checkpoint stored under sk and whether it exists.
func load[T any](ctx context.Context, s *Store, sourceID, sk string) (T, bool, error) {
	var v T
	found, err := s.get(ctx, sourceID, sk, &v)
	if err != nil || !found {
		var zero T
		return zero, found, err
	}
	return v, true, nil
}

// put writes checkpoint v, with the key and the item type typ added, if the
// stored version is still version (0: no item yet).
func (s *Store) put(ctx context.Context, sourceID, sk, typ string, v any, version int64) error {
	av, err := encode(v)
	if err != nil {
		return fmt.Errorf("encode %s checkpoint of source %s: %w", sk, sourceID, err)
	}
	for k, val := range key(sourceID, sk) {
		av[k] = val
	}
	av["type"] = &types.AttributeValueMemberS{Value: typ}
	av["sourceId"] = &types.AttributeValueMemberS{Value: sourceID}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: av}
	if version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("version = :read")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":read": &types.AttributeValueMemberN{Value: fmt.Sprint(version)},
		}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("save %s checkpoint of source %s: %w", sk, sourceID, ErrConflict)
		}
		return fmt.Errorf("save %s checkpoint of source %s: %w", sk, sourceID, err)
	}
	return nil
}

// encode marshals an item, storing times in UTC and leaving unset times
// out rather than storing the zero time.
func encode(item any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(item, func(o *attributevalue.EncoderOptions) {
		o.OmitEmptyTime = true
		o.EncodeTime = func(t time.Time) (types.AttributeValue, error) {
			return &types.AttributeValueMemberS{Value: t.UTC().Format(time.RFC3339Nano)}, nil
		}
	})
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
