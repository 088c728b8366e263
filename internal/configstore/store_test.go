package configstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
)

func newStore(t *testing.T) (*Store, *testkit.Clock, string) {
	t.Helper()
	table := testkit.Table(t)
	c := testkit.NewClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	return New(testkit.Emulators(t).DynamoDB(), table, testkit.Box(t), WithClock(c.Now)), c, table
}

// mustCreate creates src and fails the test if that fails.
func mustCreate(t *testing.T, store *Store, src source.Source) source.Source {
	t.Helper()
	created, err := store.Create(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func sampleSource(id, workspace, node string, userDB int64) source.Source {
	return source.Source{
		ID: id, WorkspaceID: workspace, Name: "Source " + id, Nodes: []string{node}, Enabled: true,
		Properties: source.Properties{
			UserKey: "user-key-" + id, APIKey: "account-api-key-0001", UserDBID: userDB,
			FieldMapping:  []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
			Subscriptions: []source.Subscription{{HubSubscriptionID: "news", SendSubscriptionID: 1, WebformCode: "wf1"}},
		},
	}
}

func TestCreateGetRoundTripAndSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, table := newStore(t)
	src := sampleSource("s1", "ws1", "n1", 6)
	mustCreate(t, store, src)
	got, err := store.Get(ctx, "ws1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Properties.APIKey != src.Properties.APIKey || got.Properties.UserKey != src.Properties.UserKey ||
		got.Node() != "n1" || len(got.Properties.FieldMapping) != 1 || got.Properties.Subscriptions[0].WebformCode != "wf1" {
		t.Fatalf("Get = %+v", got)
	}
	if _, err := store.Get(ctx, "ws2", "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get from another workspace = %v, want ErrNotFound", err)
	}

	// Nothing stored anywhere holds a secret in plaintext.
	out, err := testkit.Emulators(t).DynamoDB().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf("%#v", out.Items)
	for _, secretValue := range []string{src.Properties.APIKey, src.Properties.UserKey} {
		if bytes.Contains([]byte(raw), []byte(secretValue)) {
			t.Errorf("table holds %q in plaintext", secretValue)
		}
	}
}

func TestConcurrentCreatesOneWinner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		resource string
		build    func(i int) source.Source
	}{
		{"same node", "node", func(i int) source.Source { return sampleSource(fmt.Sprintf("s%d", i), "ws1", "n1", int64(100+i)) }},
		{"same userdb", "userdb", func(i int) source.Source { return sampleSource(fmt.Sprintf("s%d", i), "ws1", fmt.Sprintf("n%d", i), 6) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, _, _ := newStore(t)
			const n = 20
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = store.Create(ctx, tt.build(i))
				})
			}
			close(start)
			wg.Wait()
			winner := ""
			for i, err := range errs {
				if err == nil {
					if winner != "" {
						t.Fatalf("two creates won: %s and s%d", winner, i)
					}
					winner = fmt.Sprintf("s%d", i)
				}
			}
			if winner == "" {
				t.Fatalf("no create won: %v", errs)
			}
			for _, err := range errs {
				if err == nil {
					continue
				}
				var conflict *ConflictError
				if !errors.As(err, &conflict) || conflict.Owner != winner || conflict.Resource != tt.resource {
					t.Errorf("loser got %v, want a %s conflict naming %s", err, tt.resource, winner)
				}
			}
		})
	}
}

func TestConflictAcrossWorkspacesHidesTheOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	mustCreate(t, store, sampleSource("a", "ws1", "n1", 6))
	_, err := store.Create(ctx, sampleSource("b", "ws2", "n9", 6))
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Resource != "userdb" || conflict.Owner != "" {
		t.Fatalf("Create = %v, want an anonymous userdb conflict", err)
	}
	// The same node id in another workspace is another node.
	if _, err := store.Create(ctx, sampleSource("c", "ws2", "n1", 7)); err != nil {
		t.Fatalf("node n1 of another workspace refused: %v", err)
	}
}

func TestCrashBetweenStepsNeverBlocksForever(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("claimed guard, no source written", func(t *testing.T) {
		store, clk, _ := newStore(t)
		item, err := store.encode(ctx, sampleSource("ghost", "ws1", "n1", 6))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range store.guardsFor(item) {
			if _, err := store.claim(ctx, g, "ghost", "ws1"); err != nil {
				t.Fatal(err)
			}
		}
		// While the lease runs, the claim holds.
		_, err = store.Create(ctx, sampleSource("s1", "ws1", "n1", 6))
		var conflict *ConflictError
		if !errors.As(err, &conflict) || conflict.Owner != "ghost" {
			t.Fatalf("Create during the lease = %v, want a conflict with ghost", err)
		}
		clk.Advance(DefaultLease + time.Second)
		if _, err := store.Create(ctx, sampleSource("s1", "ws1", "n1", 6)); err != nil {
			t.Fatalf("Create after the lease = %v, want the stale guards taken over", err)
		}
	})

	t.Run("source deleted, guards left behind", func(t *testing.T) {
		store, clk, _ := newStore(t)
		mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
		if err := store.deleteItem(ctx, sourceKey("s1")); err != nil {
			t.Fatal(err)
		}
		clk.Advance(DefaultLease + time.Second)
		if _, err := store.Create(ctx, sampleSource("s2", "ws1", "n1", 6)); err != nil {
			t.Fatalf("Create = %v, want the orphaned guards taken over", err)
		}
	})

	t.Run("a live owner keeps its guards after the lease", func(t *testing.T) {
		store, clk, _ := newStore(t)
		mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
		clk.Advance(time.Hour)
		var conflict *ConflictError
		if _, err := store.Create(ctx, sampleSource("s2", "ws1", "n1", 7)); !errors.As(err, &conflict) {
			t.Fatalf("Create = %v, want a node conflict", err)
		}
	})
}

func TestReplaceMovesGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clk, _ := newStore(t)
	src := mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
	moved := src
	moved.Nodes = []string{"n2"}
	moved.Properties.UserDBID = 7
	if _, err := store.Replace(ctx, moved, 2); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("Replace with a stale version = %v, want ErrVersionMismatch", err)
	}
	saved, err := store.Replace(ctx, moved, 1)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Version != 2 {
		t.Errorf("version = %d, want 2", saved.Version)
	}
	clk.Advance(time.Hour)
	// The old node and userdb are free, the new ones are held.
	if _, err := store.Create(ctx, sampleSource("s2", "ws1", "n1", 6)); err != nil {
		t.Fatalf("old node/userdb still held: %v", err)
	}
	var conflict *ConflictError
	if _, err := store.Create(ctx, sampleSource("s3", "ws1", "n2", 8)); !errors.As(err, &conflict) || conflict.Owner != "s1" {
		t.Fatalf("new node not held: %v", err)
	}
	// A replace onto a taken node is refused and changes nothing.
	stolen := saved
	stolen.Nodes = []string{"n1"}
	if _, err := store.Replace(ctx, stolen, 2); !errors.As(err, &conflict) || conflict.Owner != "s2" {
		t.Fatalf("Replace onto s2's node = %v, want a conflict naming s2", err)
	}
	if got, _ := store.Get(ctx, "ws1", "s1"); got.Node() != "n2" || got.Version != 2 {
		t.Fatalf("refused replace changed the source: %+v", got)
	}
}

func TestEnableDisableDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
	if err := store.Delete(ctx, "ws1", "s1", 0); !errors.Is(err, ErrEnabled) {
		t.Fatalf("Delete of an enabled source = %v, want ErrEnabled", err)
	}
	if _, err := store.SetEnabled(ctx, "ws2", "s1", false, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetEnabled from another workspace = %v, want ErrNotFound", err)
	}
	disabled, err := store.SetEnabled(ctx, "ws1", "s1", false, 0)
	if err != nil || disabled.Enabled || disabled.Version != 2 {
		t.Fatalf("SetEnabled(false) = %+v, %v", disabled, err)
	}
	if again, _ := store.SetEnabled(ctx, "ws1", "s1", false, 0); again.Version != 2 {
		t.Errorf("disabling twice bumped the version to %d", again.Version)
	}
	if err := store.Delete(ctx, "ws1", "s1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "ws1", "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if _, err := store.Create(ctx, sampleSource("s2", "ws1", "n1", 6)); err != nil {
		t.Fatalf("node and userdb not released by Delete: %v", err)
	}
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clk, _ := newStore(t)
	for i := range 5 {
		src := sampleSource(fmt.Sprintf("s%d", i), "ws1", fmt.Sprintf("n%d", i), int64(10+i))
		src.Enabled = i%2 == 0
		mustCreate(t, store, src)
		clk.Advance(time.Second)
	}
	mustCreate(t, store, sampleSource("other", "ws2", "n0", 99))
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		page, err := store.List(ctx, "ws1", ListOptions{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Sources {
			ids = append(ids, s.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if fmt.Sprint(ids) != "[s0 s1 s2 s3 s4]" {
		t.Fatalf("listed %v, want s0..s4 in creation order", ids)
	}
	enabled := true
	page, err := store.List(ctx, "ws1", ListOptions{Enabled: &enabled, Node: "n2"})
	if err != nil || len(page.Sources) != 1 || page.Sources[0].ID != "s2" {
		t.Fatalf("filtered list = %+v, %v", page, err)
	}
	if _, err := store.List(ctx, "ws1", ListOptions{Cursor: "not-a-cursor"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor = %v", err)
	}
	// A cursor of another workspace is refused, not followed.
	other, _ := store.List(ctx, "ws1", ListOptions{Limit: 1})
	if _, err := store.List(ctx, "ws2", ListOptions{Cursor: other.Next}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("cross-workspace cursor = %v", err)
	}
}

func TestConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	if _, err := store.Connection(ctx, "ws1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Connection before Put = %v", err)
	}
	want := Connection{Workspace: "ws1", ContacthubBaseURL: "https://api.contactlab.it/hub/v1", ContacthubWorkspaceID: "w-1", ContacthubToken: "hub-token-secret"}
	if _, err := store.PutConnection(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := store.Connection(ctx, "ws1")
	if err != nil || got.ContacthubToken != want.ContacthubToken || got.ContacthubWorkspaceID != "w-1" {
		t.Fatalf("Connection = %+v, %v", got, err)
	}
}

func TestEnabledSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	for i, enabled := range []bool{true, false, true} {
		src := sampleSource(fmt.Sprintf("s%d", i), fmt.Sprintf("ws%d", i), "n1", int64(10+i))
		src.Enabled = enabled
		mustCreate(t, store, src)
	}
	if _, err := store.SetEnabled(ctx, "ws0", "s0", false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetEnabled(ctx, "ws1", "s1", true, 0); err != nil {
		t.Fatal(err)
	}
	ids, err := store.EnabledSources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[s1 s2]" {
		t.Fatalf("enabled sources = %v, want [s1 s2]", ids)
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clk, _ := newStore(t)
	mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
	if secrets, err := store.WebhookSecrets(ctx, "s1"); err != nil || len(secrets) != 0 {
		t.Fatalf("secrets before any rotation = %v, %v", secrets, err)
	}
	if _, err := store.RotateWebhookSecret(ctx, "ws2", "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotation from another workspace = %v", err)
	}
	first, err := store.RotateWebhookSecret(ctx, "ws1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := store.RotateWebhookSecret(ctx, "ws1", "s1")
	if err != nil || second == first {
		t.Fatalf("second rotation = %q, %v", second, err)
	}
	secrets, _ := store.WebhookSecrets(ctx, "s1")
	if len(secrets) != 2 || secrets[0] != second || secrets[1] != first {
		t.Fatalf("during grace: %v", secrets)
	}
	clk.Advance(RotationGrace + time.Minute)
	secrets, _ = store.WebhookSecrets(ctx, "s1")
	if len(secrets) != 1 || secrets[0] != second {
		t.Fatalf("after grace: %v", secrets)
	}
}

// TestConcurrentReplacesKeepTheWinnersGuards races replaces of one source
// onto the same new node: the one that wins the version race must keep its
// guard even though the losers undo their work.
func TestConcurrentReplacesKeepTheWinnersGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clk, _ := newStore(t)
	src := mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
	moved := src
	moved.Nodes = []string{"n2"}
	moved.Properties.UserDBID = 7
	var wg sync.WaitGroup
	wins := atomic.Int32{}
	for range 20 {
		wg.Go(func() {
			if _, err := store.Replace(ctx, moved, 1); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ErrVersionMismatch) {
				t.Errorf("Replace = %v, want success or ErrVersionMismatch", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d replaces won, want 1", wins.Load())
	}
	clk.Advance(time.Hour)
	var conflict *ConflictError
	if _, err := store.Create(ctx, sampleSource("s2", "ws1", "n2", 8)); !errors.As(err, &conflict) || conflict.Owner != "s1" {
		t.Fatalf("node n2 after the race: %v, want it held by s1", err)
	}
	if _, err := store.Create(ctx, sampleSource("s3", "ws1", "n3", 7)); !errors.As(err, &conflict) || conflict.Owner != "s1" {
		t.Fatalf("userdb 7 after the race: %v, want it held by s1", err)
	}
}

func TestConcurrentRotationsNeverHandOutADeadSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, _ := newStore(t)
	mustCreate(t, store, sampleSource("s1", "ws1", "n1", 6))
	var mu sync.Mutex
	var handedOut []string
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			secret, err := store.RotateWebhookSecret(ctx, "ws1", "s1")
			if errors.Is(err, ErrConcurrentRotation) {
				return
			}
			if err != nil {
				t.Errorf("rotate: %v", err)
				return
			}
			mu.Lock()
			handedOut = append(handedOut, secret)
			mu.Unlock()
		})
	}
	wg.Wait()
	current, err := store.WebhookSecrets(ctx, "s1")
	if err != nil || len(current) == 0 {
		t.Fatalf("secrets: %v, %v", current, err)
	}
	found := false
	for _, s := range handedOut {
		found = found || s == current[0]
	}
	if !found {
		t.Fatalf("the stored secret was never handed out (%d rotations succeeded)", len(handedOut))
	}
}
