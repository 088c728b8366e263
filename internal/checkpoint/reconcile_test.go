package checkpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/testkit"
)

func TestReconcileCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)
	if _, found, err := store.Reconcile(ctx, "src"); err != nil || found {
		t.Fatalf("Reconcile of a new source: found=%v, %v", found, err)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	r, err := store.SaveReconcile(ctx, "src", checkpoint.Reconcile{NextPage: 3, Scanned: 200, PassStartedAt: now, UpdatedAt: now})
	if err != nil || r.Version != 1 {
		t.Fatalf("SaveReconcile = %+v, %v", r, err)
	}
	got, found, err := store.Reconcile(ctx, "src")
	if err != nil || !found || got.NextPage != 3 || got.Scanned != 200 || !got.PassStartedAt.Equal(now) || got.Version != 1 {
		t.Fatalf("Reconcile = %+v, %v, %v", got, found, err)
	}
	stale := got
	got.NextPage = 4
	if _, err := store.SaveReconcile(ctx, "src", got); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SaveReconcile(ctx, "src", stale); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("a stale save = %v, want ErrConflict", err)
	}
}

// TestReconcileCheckpointOfTheFirstBulkRelease: a checkpoint that says its
// ledger is indexed under the flag's first name (written while bulk-loaded
// entries lacked the index keys) reads as not indexed, so the ledger is
// indexed once more; the flag saved now reads back.
func TestReconcileCheckpointOfTheFirstBulkRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, table := testkit.Emulators(t).DynamoDB(), testkit.Table(t)
	store := checkpoint.New(db, table)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "CHECKPOINT#src"}, "sk": &types.AttributeValueMemberS{Value: "RECONCILE"},
		"type": &types.AttributeValueMemberS{Value: "checkpoint-reconcile"}, "ledgerIndexed": &types.AttributeValueMemberBOOL{Value: true},
		"version": &types.AttributeValueMemberN{Value: "7"},
	}}); err != nil {
		t.Fatal(err)
	}
	got, found, err := store.Reconcile(ctx, "src")
	if err != nil || !found || got.LedgerIndexed || got.Version != 7 {
		t.Fatalf("Reconcile = %+v, %v, %v; want found, not indexed, version 7", got, found, err)
	}
	got.LedgerIndexed = true
	if _, err := store.SaveReconcile(ctx, "src", got); err != nil {
		t.Fatal(err)
	}
	if again, _, err := store.Reconcile(ctx, "src"); err != nil || !again.LedgerIndexed {
		t.Fatalf("Reconcile after indexing = %+v, %v", again, err)
	}
}
