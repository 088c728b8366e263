package configstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// guardItem reserves a node or a userdb for one source.
type guardItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	Type           string `dynamodbav:"type"`
	Resource       string `dynamodbav:"resource"`
	Key            string `dynamodbav:"key"`
	Owner          string `dynamodbav:"owner"`
	OwnerWorkspace string `dynamodbav:"ownerWorkspace"`
	// LeaseUntil (Unix milliseconds) protects a claim whose source item is
	// not written yet. After it, the guard holds only while its owner
	// source exists and still uses this node or userdb.
	LeaseUntil int64 `dynamodbav:"leaseUntil"`
}

// guard names one guard a source needs.
type guard struct {
	pk       string
	resource string // "node" or "userdb"
	key      string // shown to people: node id or userdb id
}

func (s *Store) guardsFor(item *sourceItem) []guard {
	return []guard{
		{pk: nodeGuardKey(item.Workspace, item.Node), resource: "node", key: item.Node},
		{pk: item.UserDBGuard, resource: "userdb", key: fmt.Sprint(item.UserDBID)},
	}
}

// claim reserves g for the source owner, taking over a stale guard. It
// reports whether this call wrote the guard: a guard the owner already held
// (another request of the same source made it) must not be released by this
// call's undo.
func (s *Store) claim(ctx context.Context, g guard, owner, workspace string) (bool, error) {
	for range 5 {
		now := s.now()
		item := guardItem{
			PK: g.pk, SK: itemSK, Type: typeGuard, Resource: g.resource, Key: g.key,
			Owner: owner, OwnerWorkspace: workspace, LeaseUntil: now.Add(s.lease).UnixMilli(),
		}
		av, err := attributevalue.MarshalMap(item)
		if err != nil {
			return false, fmt.Errorf("encode guard: %w", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           &s.table,
			Item:                av,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if err == nil {
			return true, nil
		}
		if !conditionFailed(err) {
			return false, fmt.Errorf("claim %s guard: %w", g.resource, err)
		}

		current, found, err := s.readGuard(ctx, g.pk)
		if err != nil {
			return false, err
		}
		if !found {
			continue // released meanwhile: try again
		}
		if current.Owner == owner {
			return false, nil
		}
		held, err := s.held(ctx, current)
		if err != nil {
			return false, err
		}
		if held {
			conflict := &ConflictError{Resource: g.resource, Key: g.key}
			if current.OwnerWorkspace == workspace {
				conflict.Owner = current.Owner
			}
			return false, conflict
		}
		// Stale: take it over, but only if nobody else did first.
		cond := expression.Name("owner").Equal(expression.Value(current.Owner)).
			And(expression.Name("leaseUntil").Equal(expression.Value(current.LeaseUntil)))
		expr, err := expression.NewBuilder().WithCondition(cond).Build()
		if err != nil {
			return false, fmt.Errorf("build guard takeover: %w", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 &s.table,
			Item:                      av,
			ConditionExpression:       expr.Condition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		})
		if err == nil {
			return true, nil
		}
		if !conditionFailed(err) {
			return false, fmt.Errorf("take over stale %s guard: %w", g.resource, err)
		}
	}
	return false, fmt.Errorf("claim %s guard %s: too much contention", g.resource, g.key)
}

// held reports whether a guard still protects its owner's claim.
func (s *Store) held(ctx context.Context, g guardItem) (bool, error) {
	if s.now().UnixMilli() < g.LeaseUntil {
		return true, nil
	}
	owner, err := s.readSource(ctx, g.Owner)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, needed := range s.guardsFor(owner) {
		if needed.pk == g.PK {
			return true, nil
		}
	}
	return false, nil
}

func (s *Store) readGuard(ctx context.Context, pk string) (guardItem, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            itemKey(pk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return guardItem{}, false, fmt.Errorf("read guard: %w", err)
	}
	if out.Item == nil {
		return guardItem{}, false, nil
	}
	var g guardItem
	if err := attributevalue.UnmarshalMap(out.Item, &g); err != nil {
		return guardItem{}, false, fmt.Errorf("decode guard: %w", err)
	}
	return g, true, nil
}

// release deletes a guard if owner still holds it. A failure here leaves a
// stale guard, which the next claim takes over, so callers may ignore it.
func (s *Store) release(ctx context.Context, pk, owner string) error {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name("owner").Equal(expression.Value(owner))).Build()
	if err != nil {
		return fmt.Errorf("build guard release: %w", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(pk),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release guard: %w", err)
	}
	return nil
}

func itemKey(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: itemSK},
	}
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
