package checkpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/testkit"
)

var t0 = time.Date(2026, 11, 27, 9, 32, 0, 0, time.UTC)

func newStore(t *testing.T) *checkpoint.Store {
	t.Helper()
	return checkpoint.New(testkit.Emulators(t).DynamoDB(), testkit.Table(t))
}

func TestLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)
	const d = time.Minute

	a, err := store.AcquireLease(ctx, "s1", "run-a", t0, d)
	if err != nil {
		t.Fatal(err)
	}
	if !a.ExpiresAt.Equal(t0.Add(d)) {
		t.Errorf("ExpiresAt = %v, want %v", a.ExpiresAt, t0.Add(d))
	}
	steps := []struct {
		name    string
		owner   string
		at      time.Time
		wantErr error
	}{
		{"another run while held", "run-b", t0.Add(30 * time.Second), checkpoint.ErrLeaseHeld},
		{"another run in the last second", "run-b", t0.Add(d), checkpoint.ErrLeaseHeld},
		{"the holder again", "run-a", t0.Add(40 * time.Second), nil},
		{"another source is independent", "", t0, nil},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			source, owner := "s1", step.owner
			if owner == "" {
				source, owner = "s2", "run-b"
			}
			_, err := store.AcquireLease(ctx, source, owner, step.at, d)
			if !errors.Is(err, step.wantErr) {
				t.Fatalf("AcquireLease = %v, want %v", err, step.wantErr)
			}
		})
	}

	// run-a re-acquired at t0+40s, so its lease runs to t0+100s.
	if l, held, err := store.HeldLease(ctx, "s1", t0.Add(90*time.Second)); err != nil || !held || l.Owner != "run-a" {
		t.Fatalf("HeldLease = %+v, %v, %v", l, held, err)
	}
	// Expired but not deleted (TTL is lazy): another run takes it over.
	b, err := store.AcquireLease(ctx, "s1", "run-b", t0.Add(102*time.Second), d)
	if err != nil {
		t.Fatalf("take over expired lease: %v", err)
	}
	// The crashed run's late release leaves the new holder alone.
	if err := store.ReleaseLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	if l, held, _ := store.HeldLease(ctx, "s1", t0.Add(103*time.Second)); !held || l.Owner != "run-b" {
		t.Fatalf("after a stale release the lease is %+v, held %v; want run-b's", l, held)
	}
	if err := store.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := store.HeldLease(ctx, "s1", t0.Add(103*time.Second)); held {
		t.Fatal("lease still held after its owner released it")
	}
	if _, err := store.AcquireLease(ctx, "s1", "run-c", t0.Add(103*time.Second), d); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

func TestFeedVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)

	if _, found, err := store.Feed(ctx, "s1"); err != nil || found {
		t.Fatalf("Feed before any save = %v, %v", found, err)
	}
	first, err := store.SaveFeed(ctx, "s1", checkpoint.Feed{NodeID: "n1", Offset: 10, Started: true, LastPolledAt: t0})
	if err != nil || first.Version != 1 {
		t.Fatalf("first save = %+v, %v", first, err)
	}
	if _, err := store.SaveFeed(ctx, "s1", checkpoint.Feed{NodeID: "n1", Offset: 3, Started: true}); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("second creation = %v, want ErrConflict", err)
	}

	// Two runs read version 1; the first to save wins and the slow one
	// cannot move the offset back.
	fast, slow := first, first
	fast.Offset = 20
	if fast, err = store.SaveFeed(ctx, "s1", fast); err != nil {
		t.Fatal(err)
	}
	slow.Offset = 15
	if _, err := store.SaveFeed(ctx, "s1", slow); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("stale save = %v, want ErrConflict", err)
	}
	got, found, err := store.Feed(ctx, "s1")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	want := fast
	if got.Offset != 20 || got.Version != 2 || got.NodeID != "n1" || !got.Started || !got.LastPolledAt.Equal(t0) || got.Version != want.Version {
		t.Fatalf("Feed = %+v, want %+v", got, want)
	}
	if !got.LastErrorAt.IsZero() {
		t.Errorf("unset LastErrorAt read back as %v", got.LastErrorAt)
	}
}

func TestBackfillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)

	run1, err := store.StartBackfill(ctx, "s1", "run-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if run1.Status != checkpoint.BackfillRunning || run1.NextPage != 0 || run1.RunID != "run-1" || !run1.StartedAt.Equal(t0) || run1.Version != 1 {
		t.Fatalf("started = %+v", run1)
	}
	progress := run1
	progress.NextPage, progress.Enqueued, progress.LastError = 3, 150, "boom"
	if progress, err = store.SaveBackfill(ctx, "s1", progress); err != nil {
		t.Fatal(err)
	}

	run2, err := store.StartBackfill(ctx, "s1", "run-2", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if run2.RunID != "run-2" || run2.NextPage != 0 || run2.Enqueued != 0 || run2.LastError != "" || run2.Version != 3 || !run2.StartedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("restarted = %+v", run2)
	}
	// The run that was replaced cannot write over the new one.
	progress.NextPage = 4
	if _, err := store.SaveBackfill(ctx, "s1", progress); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("save of the replaced run = %v, want ErrConflict", err)
	}
	done := run2
	done.Status, done.FinishedAt = checkpoint.BackfillDone, t0.Add(2*time.Hour)
	if _, err := store.SaveBackfill(ctx, "s1", done); err != nil {
		t.Fatal(err)
	}
	got, _, err := store.Backfill(ctx, "s1")
	if err != nil || got.Status != checkpoint.BackfillDone || !got.FinishedAt.Equal(t0.Add(2*time.Hour)) || got.RunID != "run-2" {
		t.Fatalf("Backfill = %+v, %v", got, err)
	}
	restarted, err := store.StartBackfill(ctx, "s1", "run-3", t0.Add(3*time.Hour))
	if err != nil || restarted.Status != checkpoint.BackfillRunning || !restarted.FinishedAt.IsZero() {
		t.Fatalf("restart after done = %+v, %v", restarted, err)
	}
}
