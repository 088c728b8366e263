package configstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/testkit"
)

// interleaving runs before the first write of the named kind: another
// client's change landing between a store method's read and its write.
type interleaving struct {
	DynamoDB
	once   sync.Once
	before func()
	delete bool // before a DeleteItem, else before an UpdateItem
}

func (d *interleaving) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if d.delete {
		d.once.Do(d.before)
	}
	return d.DynamoDB.DeleteItem(ctx, in, opts...)
}

func (d *interleaving) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if !d.delete {
		d.once.Do(d.before)
	}
	return d.DynamoDB.UpdateItem(ctx, in, opts...)
}

// TestVersionedWritesRefuseAChangeMadeSinceTheRead: If-Match names the
// version a client read, and a change landing between the store's check
// and its write must still be refused, not overwritten; a delete that
// names no version must not release the guards of a version it never
// read (the moved node would stay claimed by nobody, or be free twice).
func TestVersionedWritesRefuseAChangeMadeSinceTheRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table := testkit.Table(t)
	plain := New(testkit.Emulators(t).DynamoDB(), table, testkit.Box(t))
	created := mustCreate(t, plain, sampleSource("s1", "ws1", "n1", 6))
	disabled, err := plain.SetEnabled(ctx, "ws1", "s1", false, created.Version)
	if err != nil {
		t.Fatal(err)
	}
	moveToN2 := func() {
		moved := disabled
		moved.Nodes = []string{"n2"}
		if _, err := plain.Replace(ctx, moved, disabled.Version); err != nil {
			t.Errorf("the interleaved change failed: %v", err)
		}
	}

	t.Run("delete naming the version read", func(t *testing.T) {
		racing := New(&interleaving{DynamoDB: testkit.Emulators(t).DynamoDB(), before: moveToN2, delete: true}, table, testkit.Box(t))
		if err := racing.Delete(ctx, "ws1", "s1", disabled.Version); !errors.Is(err, ErrVersionMismatch) {
			t.Fatalf("Delete of a version changed meanwhile = %v, want ErrVersionMismatch", err)
		}
		got, err := plain.Get(ctx, "ws1", "s1")
		if err != nil || got.Node() != "n2" {
			t.Fatalf("after a refused delete: %+v, %v; want the changed source kept", got, err)
		}
		if _, err := plain.Create(ctx, sampleSource("s2", "ws1", "n2", 7)); err == nil {
			t.Fatal("a second source took n2, which s1 still serves: its guard was released")
		}
	})

	t.Run("stale enable", func(t *testing.T) {
		current, err := plain.Get(ctx, "ws1", "s1")
		if err != nil {
			t.Fatal(err)
		}
		rename := func() {
			renamed := current
			renamed.Name = "Renamed meanwhile"
			if _, err := plain.Replace(ctx, renamed, current.Version); err != nil {
				t.Errorf("the interleaved change failed: %v", err)
			}
		}
		racing := New(&interleaving{DynamoDB: testkit.Emulators(t).DynamoDB(), before: rename}, table, testkit.Box(t))
		if _, err := racing.SetEnabled(ctx, "ws1", "s1", true, current.Version); !errors.Is(err, ErrVersionMismatch) {
			t.Fatalf("SetEnabled of a version changed meanwhile = %v, want ErrVersionMismatch", err)
		}
		if got, _ := plain.Get(ctx, "ws1", "s1"); got.Enabled {
			t.Fatal("enabled though the version named was replaced before the write")
		}
	})

	t.Run("delete naming no version", func(t *testing.T) {
		current, err := plain.Get(ctx, "ws1", "s1")
		if err != nil {
			t.Fatal(err)
		}
		moveToN3 := func() {
			moved := current
			moved.Nodes = []string{"n3"}
			if _, err := plain.Replace(ctx, moved, current.Version); err != nil {
				t.Errorf("the interleaved change failed: %v", err)
			}
		}
		racing := New(&interleaving{DynamoDB: testkit.Emulators(t).DynamoDB(), before: moveToN3, delete: true}, table, testkit.Box(t))
		if err := racing.Delete(ctx, "ws1", "s1", 0); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		for _, node := range []string{"n2", "n3"} {
			if _, err := plain.Create(ctx, sampleSource("new-"+node, "ws1", node, 8)); err != nil {
				t.Fatalf("node %s still guarded after the source was deleted: %v", node, err)
			}
			if err := plain.Delete(ctx, "ws1", "new-"+node, 0); !errors.Is(err, ErrEnabled) {
				t.Fatalf("cleanup: %v", err)
			}
			if _, err := plain.SetEnabled(ctx, "ws1", "new-"+node, false, 0); err != nil {
				t.Fatal(err)
			}
			if err := plain.Delete(ctx, "ws1", "new-"+node, 0); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestReplaceConnectionRefusesAWriteInBetween: a connection written over
// the one read refuses to land when another write came in between (the
// caller's decision to keep the stored token was made on the old one),
// and refuses to create one where another was created meanwhile.
func TestReplaceConnectionRefusesAWriteInBetween(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clock, _ := newStore(t)
	first, err := store.ReplaceConnection(ctx, Connection{Workspace: "ws1", ContacthubBaseURL: "https://a.example/hub/v1", ContacthubWorkspaceID: "w", ContacthubToken: "token-a-0123456789"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReplaceConnection(ctx, Connection{Workspace: "ws1", ContacthubBaseURL: "https://b.example/hub/v1", ContacthubWorkspaceID: "w", ContacthubToken: "token-b-0123456789"}, nil); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("creating over an existing connection = %v, want ErrVersionMismatch", err)
	}
	clock.Advance(time.Second)
	second, err := store.ReplaceConnection(ctx, Connection{Workspace: "ws1", ContacthubBaseURL: "https://b.example/hub/v1", ContacthubWorkspaceID: "w", ContacthubToken: "token-b-0123456789"}, &first)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := store.ReplaceConnection(ctx, Connection{Workspace: "ws1", ContacthubBaseURL: "https://a.example/hub/v1", ContacthubWorkspaceID: "w", ContacthubToken: first.ContacthubToken}, &first); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("a write over a connection replaced since = %v, want ErrVersionMismatch", err)
	}
	if got, err := store.Connection(ctx, "ws1"); err != nil || got.ContacthubBaseURL != second.ContacthubBaseURL || got.ContacthubToken != second.ContacthubToken {
		t.Fatalf("stored %+v, %v; want the second write kept", got, err)
	}
}
