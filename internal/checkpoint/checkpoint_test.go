package checkpoint_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// TestJobLeaseHoldsOneRunOfAJob: while a run holds a bulk job's lease no
// other run takes it; its holder extends it; once it lapses another run
// takes it over, and the old holder can no longer extend it; a run that
// ends gives it up, and only its own. Job leases are the job's alone:
// neither another job's nor the source's tick lease.
func TestJobLeaseHoldsOneRunOfAJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, table := testkit.Emulators(t).DynamoDB(), testkit.Table(t)
	store := checkpoint.New(db, table)
	const job = "bulk:run1:0+20"
	leases := map[string]checkpoint.Lease{}
	steps := []struct {
		name   string
		run    string
		until  time.Duration
		at     time.Duration
		end    bool
		refuse bool
	}{
		{name: "first run takes it", run: "a", until: time.Minute},
		{name: "a copy is refused", run: "b", until: time.Minute, at: time.Second, refuse: true},
		{name: "the holder extends it", run: "a", until: 2 * time.Minute, at: 30 * time.Second},
		{name: "still refused before the extended end", run: "b", until: 3 * time.Minute, at: 90 * time.Second, refuse: true},
		{name: "taken over once lapsed", run: "b", until: 5 * time.Minute, at: 2*time.Minute + time.Second},
		{name: "the old holder cannot extend", run: "a", until: 6 * time.Minute, at: 2*time.Minute + time.Second, refuse: true},
		{name: "the old holder's end leaves it", run: "a", end: true},
		{name: "so it still holds", run: "c", until: 6 * time.Minute, at: 3 * time.Minute, refuse: true},
		{name: "its holder gives it up", run: "b", end: true},
		{name: "and the next run takes it at once", run: "c", until: 6 * time.Minute, at: 3 * time.Minute},
	}
	for _, s := range steps {
		if s.end {
			if err := store.ReleaseLease(ctx, leases[s.run]); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			continue
		}
		l, err := store.AcquireJobLease(ctx, "s1", job, s.run, t0.Add(s.at), t0.Add(s.until))
		if s.refuse != errors.Is(err, checkpoint.ErrLeaseHeld) || !s.refuse && err != nil {
			t.Fatalf("%s: AcquireJobLease = %v", s.name, err)
		}
		if s.refuse && !strings.Contains(err.Error(), "job "+job) {
			t.Errorf("%s: the refusal %q does not name the job", s.name, err)
		}
		if err == nil {
			leases[s.run] = l
		}
	}
	if held, found, err := store.HeldJobLease(ctx, "s1", job, t0.Add(3*time.Minute)); err != nil || !found || held.Owner != "c" || !held.ExpiresAt.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("HeldJobLease = %+v, %v, %v; want c's, until %v", held, found, err, t0.Add(6*time.Minute))
	}
	other, err := store.AcquireJobLease(ctx, "s1", "bulk:run1:20+20", "d", t0, t0.Add(time.Hour))
	if err != nil {
		t.Errorf("another job's lease: %v", err)
	}
	if _, err := store.AcquireLease(ctx, "s1", "d", t0, time.Hour); err != nil {
		t.Errorf("the source's tick lease: %v", err)
	}
	// A released job lease leaves no item behind: each job has its own.
	for _, l := range []checkpoint.Lease{leases["c"], other} {
		if err := store.ReleaseLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range out.Items {
		if sk, _ := item["sk"].(*types.AttributeValueMemberS); sk != nil && strings.HasPrefix(sk.Value, "LEASE#") {
			t.Errorf("a released job lease is still stored: %s", sk.Value)
		}
	}
}
