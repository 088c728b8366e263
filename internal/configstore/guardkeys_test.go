package configstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/testkit"
)

func connect(t *testing.T, store *Store, workspace, hubWorkspace string) {
	t.Helper()
	if _, err := store.PutConnection(context.Background(), Connection{
		Workspace: workspace, ContacthubBaseURL: "https://api.contactlab.it/hub/v1", ContacthubWorkspaceID: hubWorkspace, ContacthubToken: "token-" + workspace,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestUserDBGuardIsKeyedOnTheUserDB: any key that reaches a userdb, in any
// workspace, meets the same guard.
func TestUserDBGuardIsKeyedOnTheUserDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	mustCreate(t, store, sampleSource("a", "ws1", "n1", 6))
	tests := []struct {
		name, workspace, apiKey string
		wantOwner               string
	}{
		{"another apiKey of the account", "ws1", "second-api-key-of-the-account", "a"},
		{"the apiKey with a trailing space", "ws1", "account-api-key-0001 ", "a"},
		{"another workspace", "ws2", "second-api-key-of-the-account", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := sampleSource("b"+strconv.Itoa(i), tt.workspace, "n"+strconv.Itoa(10+i), 6)
			src.Properties.APIKey = tt.apiKey
			_, err := store.Create(ctx, src)
			var conflict *ConflictError
			if !errors.As(err, &conflict) || conflict.Resource != "userdb" || conflict.Owner != tt.wantOwner {
				t.Fatalf("Create = %v, want a userdb conflict with owner %q", err, tt.wantOwner)
			}
		})
	}
}

// TestNodeGuardIsKeyedOnTheContacthubWorkspace: two hubsend workspaces
// connected to one Contacthub workspace share its nodes.
func TestNodeGuardIsKeyedOnTheContacthubWorkspace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	connect(t, store, "ws1", "hub-a")
	connect(t, store, "ws2", "hub-a")
	connect(t, store, "ws3", "hub-b")
	mustCreate(t, store, sampleSource("a", "ws1", "n1", 6))
	_, err := store.Create(ctx, sampleSource("b", "ws2", "n1", 7))
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Resource != "node" || conflict.Owner != "" {
		t.Fatalf("Create in a workspace on the same Contacthub workspace = %v, want an anonymous node conflict", err)
	}
	if strings.Contains(err.Error(), "ws1") {
		t.Errorf("the conflict names the other hubsend workspace: %v", err)
	}
	// Node n1 of another Contacthub workspace is another node.
	mustCreate(t, store, sampleSource("c", "ws3", "n1", 8))
}

// legacySource rewrites a stored source as the previous release stored it:
// guards keyed on a hash of the apiKey and on the hubsend workspace.
func legacySource(t *testing.T, store *Store, id string) {
	t.Helper()
	ctx := context.Background()
	item, err := store.readSource(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	apiKey, err := store.box.Open(ctx, item.APIKey, purpose(id, "apiKey"))
	if err != nil {
		t.Fatal(err)
	}
	legacyUserDB := legacyUserDBGuardKey(apiKey, item.UserDBID)
	for _, g := range store.guardsFor(item) {
		if err := store.deleteItem(ctx, g.pk); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []guard{{pk: legacyNodeGuardKey(item.Workspace, item.Node), resource: "node", key: item.Node}, {pk: legacyUserDB, resource: "userdb", key: "6"}} {
		if _, err := store.claim(ctx, g, id, item.Workspace); err != nil {
			t.Fatal(err)
		}
	}
	update := expression.Set(expression.Name("userDbGuard"), expression.Value(legacyUserDB)).
		Remove(expression.Name("nodeGuard")).Remove(expression.Name("hubWorkspace"))
	expr, err := expression.NewBuilder().WithUpdate(update).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &store.table, Key: itemKey(sourceKey(id)), UpdateExpression: expr.Update(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateGuardKeys: sources of a previous release keep their node and
// userdb against the current keys once migrated, and two sources the old
// keys let share a userdb are reported.
func TestMigrateGuardKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clk, _ := newStore(t)
	connect(t, store, "ws1", "hub-a")
	connect(t, store, "ws2", "hub-a")
	mustCreate(t, store, sampleSource("old", "ws1", "n1", 6))
	mustCreate(t, store, sampleSource("twin", "ws1", "n2", 9))
	legacySource(t, store, "old")
	legacySource(t, store, "twin")
	// Before the migration, the legacy guards refuse what they refused.
	var conflict *ConflictError
	if _, err := store.Create(ctx, sampleSource("same-key", "ws1", "n5", 6)); !errors.As(err, &conflict) || conflict.Owner != "old" {
		t.Fatalf("Create on a legacy source's userdb with its apiKey = %v, want a conflict naming old", err)
	}
	// The bypass the old keys allowed: another apiKey of the account gets
	// the twin's userdb.
	intruder := sampleSource("intruder", "ws2", "n3", 9)
	intruder.Properties.APIKey = "second-api-key-of-the-account"
	mustCreate(t, store, intruder)
	clk.Advance(time.Hour)

	report, err := store.MigrateGuardKeys(ctx, testkit.Emulators(t).DynamoDB())
	if err != nil {
		t.Fatal(err)
	}
	if report.Migrated != 1 || len(report.Conflicts) != 1 || !strings.Contains(report.Conflicts[0], "twin") {
		t.Fatalf("report %+v, want old migrated and twin in conflict", report)
	}
	if _, err := store.Create(ctx, sampleSource("new", "ws2", "n1", 7)); !errors.As(err, &conflict) || conflict.Resource != "node" {
		t.Errorf("node of the migrated source: Create = %v, want a node conflict", err)
	}
	other := sampleSource("new2", "ws2", "n4", 6)
	other.Properties.APIKey = "second-api-key-of-the-account"
	if _, err := store.Create(ctx, other); !errors.As(err, &conflict) || conflict.Resource != "userdb" {
		t.Errorf("userdb of the migrated source: Create = %v, want a userdb conflict", err)
	}
	again, err := store.MigrateGuardKeys(ctx, testkit.Emulators(t).DynamoDB())
	if err != nil || again.Migrated != 0 {
		t.Errorf("second run: %+v, %v; want nothing left to migrate", again, err)
	}
}
