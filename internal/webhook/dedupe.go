package webhook

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DedupeWindow is how long a delivered event is remembered. Contacthub
// automations deliver within seconds; two days covers a sender's retries
// and an operator replaying a day's deliveries.
const DedupeWindow = 48 * time.Hour

// DynamoDB is the part of the DynamoDB client the dedupe store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DedupeStore keeps one item per delivered event in the configuration table:
// pk "DEDUPE#<sourceId>#<eventKey>", sk "ITEM", a state ("pending" until the
// event's job is queued, then "done") and expiresAt (epoch seconds, the
// table's TTL attribute). TTL deletion is lazy, so expiry is checked on
// every read and write rather than trusted to have happened.
type DedupeStore struct {
	db    DynamoDB
	table string
}

// NewDedupeStore returns a store on table.
func NewDedupeStore(db DynamoDB, table string) *DedupeStore {
	return &DedupeStore{db: db, table: table}
}

// Dedupe states as stored.
const (
	statePending = "pending"
	stateDone    = "done"
)

// dedupeItemKey returns the item key of an event of a source.
func dedupeItemKey(sourceID, eventKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "DEDUPE#" + sourceID + "#" + eventKey},
		"sk": &types.AttributeValueMemberS{Value: "ITEM"},
	}
}

func epoch(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// Claim writes a pending record for the event unless a live one exists (one
// conditional put), and otherwise reads the live one to say whether its job
// is already queued.
func (s *DedupeStore) Claim(ctx context.Context, sourceID, eventKey string, now time.Time) (Claim, error) {
	item := dedupeItemKey(sourceID, eventKey)
	item["type"] = &types.AttributeValueMemberS{Value: "dedupe"}
	item["state"] = &types.AttributeValueMemberS{Value: statePending}
	item["claimedAt"] = &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)}
	item["expiresAt"] = epoch(now.Add(DedupeWindow))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR expiresAt <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": epoch(now)},
	})
	if err == nil {
		return ClaimNew, nil
	}
	var exists *types.ConditionalCheckFailedException
	if !errors.As(err, &exists) {
		return 0, fmt.Errorf("claim webhook event: %w", err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            dedupeItemKey(sourceID, eventKey),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("read webhook event: %w", err)
	}
	state, _ := out.Item["state"].(*types.AttributeValueMemberS)
	expires, _ := out.Item["expiresAt"].(*types.AttributeValueMemberN)
	if state == nil || expires == nil || state.Value != stateDone {
		return ClaimPending, nil
	}
	if at, err := strconv.ParseInt(expires.Value, 10, 64); err != nil || at <= now.Unix() {
		// Expired between the put and the read: treat it as unfinished,
		// which enqueues; a spare job is harmless, a lost one is not.
		return ClaimPending, nil
	}
	return ClaimDone, nil
}

// Done marks the event's job as queued. A record that vanished meanwhile is
// left alone: there is nothing left to protect.
func (s *DedupeStore) Done(ctx context.Context, sourceID, eventKey string, now time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      dedupeItemKey(sourceID, eventKey),
		UpdateExpression:         aws.String("SET #state = :done, doneAt = :at"),
		ConditionExpression:      aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done": &types.AttributeValueMemberS{Value: stateDone},
			":at":   &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
		},
	})
	var gone *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &gone) {
		return fmt.Errorf("mark webhook event done: %w", err)
	}
	return nil
}
