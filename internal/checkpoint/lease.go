package checkpoint

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lease is one run's claim on a source until ExpiresAt.
type Lease struct {
	SourceID  string
	Owner     string
	ExpiresAt time.Time
}

// AcquireLease claims the source for owner until now+d. It succeeds when no
// lease exists, when the stored one has expired (DynamoDB deletes expired
// items lazily, so expiry is part of the condition, not left to TTL), or
// when owner already holds it; otherwise it returns ErrLeaseHeld.
//
// The lease item's expiresAt is the table's TTL attribute, so leases of
// deleted sources eventually disappear by themselves.
func (s *Store) AcquireLease(ctx context.Context, sourceID, owner string, now time.Time, d time.Duration) (Lease, error) {
	if owner == "" {
		return Lease{}, fmt.Errorf("acquire lease of source %s: owner is required", sourceID)
	}
	// Whole seconds, as TTL wants; rounded up so a lease never ends early.
	expires := now.Add(d + time.Second - 1).Truncate(time.Second)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			"pk":         &types.AttributeValueMemberS{Value: partition(sourceID)},
			"sk":         &types.AttributeValueMemberS{Value: leaseSK},
			"type":       &types.AttributeValueMemberS{Value: "lease"},
			"owner":      &types.AttributeValueMemberS{Value: owner},
			"acquiredAt": &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
			"expiresAt":  epoch(expires),
		},
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":   epoch(now),
			":owner": &types.AttributeValueMemberS{Value: owner},
		},
	})
	if err != nil {
		if conditionFailed(err) {
			return Lease{}, fmt.Errorf("acquire lease of source %s: %w", sourceID, ErrLeaseHeld)
		}
		return Lease{}, fmt.Errorf("acquire lease of source %s: %w", sourceID, err)
	}
	return Lease{SourceID: sourceID, Owner: owner, ExpiresAt: expires}, nil
}

// ReleaseLease ends l early so the next run need not wait for it to expire.
// A lease that has meanwhile passed to another owner is left alone. It
// updates rather than deletes, so the scheduler needs no DeleteItem right.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      key(l.SourceID, leaseSK),
		UpdateExpression:         aws.String("SET expiresAt = :released REMOVE #owner"),
		ConditionExpression:      aws.String("#owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":released": &types.AttributeValueMemberN{Value: "0"},
			":owner":    &types.AttributeValueMemberS{Value: l.Owner},
		},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release lease of source %s: %w", l.SourceID, err)
	}
	return nil
}

// HeldLease returns the source's lease if one is in force at now.
func (s *Store) HeldLease(ctx context.Context, sourceID string, now time.Time) (Lease, bool, error) {
	var item struct {
		Owner     string `dynamodbav:"owner"`
		ExpiresAt int64  `dynamodbav:"expiresAt"`
	}
	found, err := s.get(ctx, sourceID, leaseSK, &item)
	if err != nil || !found || item.Owner == "" {
		return Lease{}, false, err
	}
	l := Lease{SourceID: sourceID, Owner: item.Owner, ExpiresAt: time.Unix(item.ExpiresAt, 0).UTC()}
	// The same test as AcquireLease's condition: held through its last second.
	if item.ExpiresAt < now.Unix() {
		return Lease{}, false, nil
	}
	return l, true, nil
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}
