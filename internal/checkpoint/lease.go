package checkpoint

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lease is one run's claim on a source (the scheduler's tick of it), or
// on one of its bulk jobs, until ExpiresAt.
type Lease struct {
	SourceID  string
	Owner     string
	ExpiresAt time.Time
	sk        string // the lease item's sort key
}

// jobLeaseSK keys the lease of a source's bulk job.
func jobLeaseSK(job string) string { return leaseSK + "#" + job }

// leaseName says whose lease a sort key holds, for errors.
func leaseName(sourceID, sk string) string {
	if job, ok := strings.CutPrefix(sk, leaseSK+"#"); ok {
		return fmt.Sprintf("lease of job %s of source %s", job, sourceID)
	}
	return "lease of source " + sourceID
}

// AcquireLease claims the source for owner until now+d. It succeeds when no
// lease exists, when the stored one has expired (DynamoDB deletes expired
// items lazily, so expiry is part of the condition, not left to TTL), or
// when owner already holds it; otherwise it returns ErrLeaseHeld.
//
// The lease item's expiresAt is the table's TTL attribute, so leases of
// deleted sources eventually disappear by themselves.
func (s *Store) AcquireLease(ctx context.Context, sourceID, owner string, now time.Time, d time.Duration) (Lease, error) {
	return s.acquire(ctx, sourceID, leaseSK, owner, now, now.Add(d))
}

// AcquireJobLease claims one of the source's bulk jobs (named job) for
// owner, one run of it, until until, as AcquireLease claims the source.
// SQS may deliver a job twice at once: the bulk lane lets one run work.
func (s *Store) AcquireJobLease(ctx context.Context, sourceID, job, owner string, now, until time.Time) (Lease, error) {
	return s.acquire(ctx, sourceID, jobLeaseSK(job), owner, now, until)
}

// HeldJobLease returns the lease of the source's bulk job if one is in
// force at now.
func (s *Store) HeldJobLease(ctx context.Context, sourceID, job string, now time.Time) (Lease, bool, error) {
	return s.held(ctx, sourceID, jobLeaseSK(job), now)
}

func (s *Store) acquire(ctx context.Context, sourceID, sk, owner string, now, until time.Time) (Lease, error) {
	if owner == "" {
		return Lease{}, fmt.Errorf("acquire %s: owner is required", leaseName(sourceID, sk))
	}
	// Whole seconds, as TTL wants; rounded up so a lease never ends early.
	expires := until.Add(time.Second - 1).Truncate(time.Second)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			"pk":         &types.AttributeValueMemberS{Value: partition(sourceID)},
			"sk":         &types.AttributeValueMemberS{Value: sk},
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
			return Lease{}, fmt.Errorf("acquire %s: %w", leaseName(sourceID, sk), ErrLeaseHeld)
		}
		return Lease{}, fmt.Errorf("acquire %s: %w", leaseName(sourceID, sk), err)
	}
	return Lease{SourceID: sourceID, Owner: owner, ExpiresAt: expires, sk: sk}, nil
}

// ReleaseLease ends l early so the next run need not wait for it to expire.
// A lease that has meanwhile passed to another owner is left alone. A
// source's lease is updated rather than deleted, so the scheduler needs no
// DeleteItem right. A job's lease is deleted: nobody takes it again once
// its job is done, and a resync leaves one per job, which should not wait
// for TTL.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	if l.sk != "" && l.sk != leaseSK {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                &s.table,
			Key:                      key(l.SourceID, l.sk),
			ConditionExpression:      aws.String("#owner = :owner"),
			ExpressionAttributeNames: map[string]string{"#owner": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":owner": &types.AttributeValueMemberS{Value: l.Owner},
			},
		})
		if err != nil && !conditionFailed(err) {
			return fmt.Errorf("release %s: %w", leaseName(l.SourceID, l.sk), err)
		}
		return nil
	}
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
		return fmt.Errorf("release %s: %w", leaseName(l.SourceID, leaseSK), err)
	}
	return nil
}

// HeldLease returns the source's lease if one is in force at now.
func (s *Store) HeldLease(ctx context.Context, sourceID string, now time.Time) (Lease, bool, error) {
	return s.held(ctx, sourceID, leaseSK, now)
}

func (s *Store) held(ctx context.Context, sourceID, sk string, now time.Time) (Lease, bool, error) {
	var item struct {
		Owner     string `dynamodbav:"owner"`
		ExpiresAt int64  `dynamodbav:"expiresAt"`
	}
	found, err := s.get(ctx, sourceID, sk, &item)
	if err != nil || !found || item.Owner == "" {
		return Lease{}, false, err
	}
	l := Lease{SourceID: sourceID, Owner: item.Owner, ExpiresAt: time.Unix(item.ExpiresAt, 0).UTC(), sk: sk}
	// The same test as AcquireLease's condition: held through its last second.
	if item.ExpiresAt < now.Unix() {
		return Lease{}, false, nil
	}
	return l, true, nil
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}
