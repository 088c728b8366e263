package configstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Scanner is the DynamoDB call only MigrateGuardKeys needs: an operator's
// one-off walk of the table, never a request's.
type Scanner interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// MigrationReport says what MigrateGuardKeys did.
type MigrationReport struct {
	// Migrated counts sources moved to the current guard keys.
	Migrated int
	// Conflicts lists sources that could not be moved because another
	// source already holds the same node or userdb under the current keys:
	// two sources that the old keys let serve one userdb (or one node). An
	// operator must disable and change or delete one of them.
	Conflicts []string
}

// MigrateGuardKeys moves every source still holding guards under legacy
// keys (the userdb keyed on a hash of the apiKey, the node keyed on the
// hubsend workspace) to the current ones, claiming the new guards before
// releasing the old, so a source is never unguarded. It is idempotent and
// safe alongside live traffic: a source replaced meanwhile is skipped (its
// replace already moved it). It scans the table, so it is an operator's
// step after upgrading (the functions' roles may not Scan):
//
//	report, err := store.MigrateGuardKeys(ctx, dynamodbClient)
func (s *Store) MigrateGuardKeys(ctx context.Context, db Scanner) (MigrationReport, error) {
	var report MigrationReport
	filter := expression.Name("type").Equal(expression.Value(typeSource)).And(
		expression.AttributeNotExists(expression.Name("nodeGuard")).
			Or(expression.Name("userDbGuard").BeginsWith(legacyUserDBGuardPrefix)).
			Or(expression.Name("nodeGuard").BeginsWith("GUARD#NODE#")))
	expr, err := expression.NewBuilder().WithFilter(filter).Build()
	if err != nil {
		return report, fmt.Errorf("build migration scan: %w", err)
	}
	paginator := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
	})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return report, fmt.Errorf("scan for legacy guards: %w", err)
		}
		for _, av := range page.Items {
			var item sourceItem
			if err := attributevalue.UnmarshalMap(av, &item); err != nil {
				return report, fmt.Errorf("decode source: %w", err)
			}
			moved, err := s.migrateSource(ctx, &item)
			var conflict *ConflictError
			switch {
			case errors.As(err, &conflict):
				report.Conflicts = append(report.Conflicts, fmt.Sprintf("source %s (workspace %s): %s %s is held by another source", item.ID, item.Workspace, conflict.Resource, conflict.Key))
			case err != nil:
				return report, err
			case moved:
				report.Migrated++
			}
		}
	}
	return report, nil
}

func (s *Store) migrateSource(ctx context.Context, item *sourceItem) (bool, error) {
	hubWorkspace, err := s.hubWorkspace(ctx, item.Workspace)
	if err != nil {
		return false, err
	}
	updated := *item
	updated.UserDBGuard = userDBGuardKey(item.UserDBID)
	updated.HubWorkspace = hubWorkspace
	updated.NodeGuard = legacyNodeGuardKey(item.Workspace, item.Node)
	if hubWorkspace != "" {
		updated.NodeGuard = hubNodeGuardKey(hubWorkspace, item.Node)
	}
	if updated.UserDBGuard == item.UserDBGuard && updated.NodeGuard == item.NodeGuard {
		return false, nil // a workspace without a connection: nothing better to move to
	}
	oldGuards, newGuards := s.guardsFor(item), s.guardsFor(&updated)
	undo, err := s.claimAll(ctx, without(newGuards, oldGuards), item.ID, item.Workspace)
	if err != nil {
		return false, err
	}
	update := expression.Set(expression.Name("userDbGuard"), expression.Value(updated.UserDBGuard)).
		Set(expression.Name("nodeGuard"), expression.Value(updated.NodeGuard))
	if hubWorkspace != "" {
		update = update.Set(expression.Name("hubWorkspace"), expression.Value(hubWorkspace))
	}
	expr, err := expression.NewBuilder().WithUpdate(update).
		WithCondition(expression.Name("version").Equal(expression.Value(item.Version))).Build()
	if err != nil {
		undo()
		return false, fmt.Errorf("build guard migration: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(item.PK),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		undo()
		if conditionFailed(err) {
			return false, nil // replaced or deleted meanwhile: a replace writes the current keys
		}
		return false, fmt.Errorf("migrate guards of source %s: %w", item.ID, err)
	}
	for _, g := range without(oldGuards, newGuards) {
		_ = s.release(ctx, g.pk, item.ID)
	}
	return true, nil
}
