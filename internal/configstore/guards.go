package configstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

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

// guardsFor returns the guards a stored source holds, under the keys it
// was stored with: a source stored before the current keys holds the
// legacy ones until it is replaced or migrated.
func (s *Store) guardsFor(item *sourceItem) []guard {
	node := item.NodeGuard
	if node == "" {
		node = legacyNodeGuardKey(item.Workspace, item.Node)
	}
	return []guard{
		{pk: node, resource: "node", key: item.Node},
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
		err = s.putIf(ctx, av, notExists)
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
		err = s.putIf(ctx, av, cond)
		if err == nil {
			return true, nil
		}
		if !conditionFailed(err) {
			return false, fmt.Errorf("take over stale %s guard: %w", g.resource, err)
		}
	}
	return false, fmt.Errorf("claim %s guard %s: too much contention", g.resource, g.key)
}

// checkLegacy refuses a source whose node or userdb a source of the
// previous release still holds under a legacy key (see the package
// documentation): until MigrateGuardKeys has run, such a source holds no
// guard under the current keys. Only reads: nothing claims legacy keys any
// more, so a guard found free stays free of old sources.
func (s *Store) checkLegacy(ctx context.Context, item *sourceItem, apiKey string) error {
	for _, g := range []guard{
		{pk: legacyNodeGuardKey(item.Workspace, item.Node), resource: "node", key: item.Node},
		{pk: legacyUserDBGuardKey(apiKey, item.UserDBID), resource: "userdb", key: fmt.Sprint(item.UserDBID)},
	} {
		if slices.ContainsFunc(s.guardsFor(item), func(own guard) bool { return own.pk == g.pk }) {
			continue // the source's own current guard (a workspace with no connection)
		}
		current, found, err := s.readGuard(ctx, g.pk)
		if err != nil {
			return err
		}
		if !found || current.Owner == item.ID {
			continue
		}
		held, err := s.held(ctx, current)
		if err != nil {
			return err
		}
		if held {
			conflict := &ConflictError{Resource: g.resource, Key: g.key}
			if current.OwnerWorkspace == item.Workspace {
				conflict.Owner = current.Owner
			}
			return conflict
		}
	}
	return nil
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
	return getItem[guardItem](ctx, s, itemKey(pk), "guard")
}

// claimAll claims every guard of gs for owner. On failure it releases what
// it claimed; on success it returns undo, which releases only the guards
// this call created: one the owner already held may belong to a concurrent
// request of the same source, which may win.
func (s *Store) claimAll(ctx context.Context, gs []guard, owner, workspace string) (undo func(), err error) {
	var claimed []guard
	undo = func() {
		for _, g := range claimed {
			_ = s.release(context.WithoutCancel(ctx), g.pk, owner)
		}
	}
	for _, g := range gs {
		created, err := s.claim(ctx, g, owner, workspace)
		if err != nil {
			undo()
			return nil, err
		}
		if created {
			claimed = append(claimed, g)
		}
	}
	return undo, nil
}

// without returns the guards of gs that are not in others.
func without(gs, others []guard) []guard {
	var out []guard
	for _, g := range gs {
		if !slices.ContainsFunc(others, func(o guard) bool { return o.pk == g.pk }) {
			out = append(out, g)
		}
	}
	return out
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

// notExists is the condition of a write that must create its item.
var notExists = expression.AttributeNotExists(expression.Name("pk"))

// putIf writes av if cond holds; a failed condition is returned as is, for
// conditionFailed.
func (s *Store) putIf(ctx context.Context, av map[string]types.AttributeValue, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build condition: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      av,
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	return err
}

// getItem reads one item consistently; found is false when there is none.
func getItem[T any](ctx context.Context, s *Store, key map[string]types.AttributeValue, what string) (item T, found bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return item, false, fmt.Errorf("get %s: %w", what, err)
	}
	if out.Item == nil {
		return item, false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return item, false, fmt.Errorf("decode %s: %w", what, err)
	}
	return item, true, nil
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
