package checkpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
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
