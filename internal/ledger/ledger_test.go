package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/pagetoken"
	"github.com/hubsend/hubsend/internal/testkit"
)

func newStore(t *testing.T) (*Store, *testkit.Clock) {
	t.Helper()
	c := testkit.NewClock(time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC))
	return New(testkit.Emulators(t).DynamoDB(), testkit.Table(t), WithClock(c.Now)), c
}

func TestEntryVersioning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)

	e, err := s.Get(ctx, "src", "cust")
	if err != nil || e.Stored() || e.SourceID != "src" || e.CustomerID != "cust" {
		t.Fatalf("Get of a new customer = %+v, %v", e, err)
	}
	e.SubscriberID, e.Hash, e.SyncedAt, e.CustomerUpdatedAt = 1<<33, "h1", c.Now(), c.Now().Add(-time.Hour)
	put, err := s.Put(ctx, e)
	if err != nil || put.Version != 1 {
		t.Fatalf("first Put = %+v, %v", put, err)
	}
	// A second writer that read the absent entry loses.
	if _, err := s.Put(ctx, e); !errors.Is(err, ErrConflict) {
		t.Fatalf("racing first Put = %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, "src", "cust")
	if err != nil || got != put {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, put)
	}
	bySub, err := s.BySubscriber(ctx, "src", 1<<33)
	if err != nil || bySub.CustomerID != "cust" {
		t.Fatalf("BySubscriber = %+v, %v", bySub, err)
	}

	// Forgetting the subscriber takes the entry out of the index.
	got.SubscriberID, got.Deleted = 0, true
	if got, err = s.Put(ctx, got); err != nil || got.Version != 2 {
		t.Fatalf("Put = %+v, %v", got, err)
	}
	if _, err := s.BySubscriber(ctx, "src", 1<<33); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BySubscriber after forgetting = %v, want ErrNotFound", err)
	}
	stale := put // version 1
	if _, err := s.Put(ctx, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale Put = %v, want ErrConflict", err)
	}
}

func TestConcurrentPutsOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	e, _ := s.Get(ctx, "src", "cust")
	const n = 10
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			x := e
			x.SubscriberID = int64(i + 1)
			if _, err := s.Put(ctx, x); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers won, want 1", wins.Load())
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	for i := range 5 {
		f := Failure{SourceID: "src", CustomerID: fmt.Sprintf("c%d", i), Reason: "base.dob: 'abc' is not a date for DATE field BIRTH_DATE", Kind: Coercion, JobReason: "feed"}
		if err := s.RecordFailure(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	first := c.Now()
	c.Advance(time.Minute)
	if err := s.RecordFailure(ctx, Failure{SourceID: "src", CustomerID: "c0", Reason: "Invalid value", Kind: Rejected, JobReason: "retry"}); err != nil {
		t.Fatal(err)
	}
	f, err := s.Failure(ctx, "src", "c0")
	if err != nil {
		t.Fatal(err)
	}
	if f.Attempts != 2 || !f.FirstFailedAt.Equal(first) || !f.LastFailedAt.Equal(c.Now()) || f.Kind != Rejected || f.Reason != "Invalid value" || f.JobReason != "retry" {
		t.Fatalf("Failure = %+v", f)
	}
	if e, _ := s.Get(ctx, "src", "c0"); !e.Failed || !e.Stored() {
		t.Fatalf("entry of a failed customer = %+v, want Failed", e)
	}

	var all []string
	next := ""
	for pages := 0; ; pages++ {
		page, err := s.Failures(ctx, "src", 2, next)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Failures {
			all = append(all, f.CustomerID)
		}
		if page.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		next = page.Next
	}
	if fmt.Sprint(all) != "[c0 c1 c2 c3 c4]" {
		t.Fatalf("paged failures = %v", all)
	}
	for _, bad := range []string{"!!", "e30", pagetoken.Encode(cursor{Source: "other", Customer: "c1"})} {
		if _, err := s.Failures(ctx, "src", 2, bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("Failures(cursor %q) = %v, want ErrBadCursor", bad, err)
		}
	}

	if err := s.ClearFailure(ctx, "src", "c0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Failure(ctx, "src", "c0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Failure after clear = %v, want ErrNotFound", err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	start := c.Now()
	if err := s.AddStats(ctx, "src", Batch{Counts: Counts{Synced: 3, Unchanged: 2}, ProcessedAt: c.Now(), JobLatency: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddStats(ctx, "src", Batch{Counts: Counts{Failed: 1}, LastError: "contactsend: HTTP 500", ProcessedAt: c.Now()}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	if err := s.AddStats(ctx, "src", Batch{Counts: Counts{Synced: 1, Removed: 1, Kept: 2, Unsubscribed: 3, Skipped: 5, Unmatchable: 4}, ProcessedAt: c.Now(), JobLatency: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx, "src", start)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Synced: 4, Unchanged: 2, Failed: 1, Removed: 1, Kept: 2, Unsubscribed: 3, Skipped: 5, Unmatchable: 4}
	if st.Counts != want || len(st.Buckets) != 2 || st.LastError != "contactsend: HTTP 500" || !st.LastProcessedAt.Equal(c.Now()) || st.LastJobLatency != 2*time.Second {
		t.Fatalf("Stats = %+v, want counts %+v", st, want)
	}
	if st.Buckets[0].Hour.Format(bucketLayout) != "2026-11-27T10" || st.Buckets[0].Synced != 3 {
		t.Fatalf("first bucket = %+v", st.Buckets[0])
	}
	recent, err := s.Stats(ctx, "src", c.Now())
	if err != nil || recent.Synced != 1 || len(recent.Buckets) != 1 {
		t.Fatalf("Stats of the last hour = %+v, %v", recent, err)
	}
	c.Advance(StatsRetention)
	if old, err := s.Stats(ctx, "src", start); err != nil || !old.Counts.Zero() {
		t.Fatalf("Stats after retention = %+v, %v; want nothing", old, err)
	}
}

func TestLastErrorResolved(t *testing.T) {
	t.Parallel()
	healthy := Batch{Counts: Counts{Synced: 1}}
	failing := Batch{Counts: Counts{Retried: 1}, LastError: "contactsend update failed: HTTP 503"}
	mixed := Batch{Counts: Counts{Synced: 1, Retried: 1}, LastError: "contactsend update failed: HTTP 503"}
	idle := Batch{}
	tests := []struct {
		name    string
		batches []Batch
		want    bool
	}{
		{"no error", []Batch{healthy}, false},
		{"error only", []Batch{failing}, false},
		{"error then healthy", []Batch{failing, healthy}, true},
		{"healthy then error", []Batch{healthy, failing}, false},
		{"error then some work and more errors", []Batch{failing, mixed}, false},
		{"error then a batch doing nothing", []Batch{failing, idle}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, c := newStore(t)
			start := c.Now()
			for _, b := range tt.batches {
				c.Advance(time.Second)
				b.ProcessedAt = c.Now()
				if err := s.AddStats(ctx, "src", b); err != nil {
					t.Fatal(err)
				}
			}
			st, err := s.Stats(ctx, "src", start)
			if err != nil {
				t.Fatal(err)
			}
			if st.Resolved() != tt.want {
				t.Fatalf("Resolved = %v, want %v (%+v)", st.Resolved(), tt.want, st)
			}
		})
	}
}

func TestWaiting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	soon, later := c.Now().Add(2*time.Second), c.Now().Add(8*time.Second)
	if err := s.MarkWaiting(ctx, "src", []WaitingJob{{Key: "c1", NextRetryAt: later}, {Key: "c2", NextRetryAt: soon}}); err != nil {
		t.Fatal(err)
	}
	check := func(want Waiting) {
		t.Helper()
		got, err := s.Waiting(ctx, "src")
		if err != nil || got.Count != want.Count || !got.NextRetryAt.Equal(want.NextRetryAt) {
			t.Fatalf("Waiting = %+v, %v; want %+v", got, err, want)
		}
	}
	check(Waiting{Count: 2, NextRetryAt: soon})
	// Given back again: one mark per customer, the newest retry time.
	if err := s.MarkWaiting(ctx, "src", []WaitingJob{{Key: "c2", NextRetryAt: later.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	check(Waiting{Count: 2, NextRetryAt: later})
	if err := s.ClearWaiting(ctx, "src", []string{"c1"}); err != nil {
		t.Fatal(err)
	}
	check(Waiting{Count: 1, NextRetryAt: later.Add(time.Second)})
	if other, err := s.Waiting(ctx, "other"); err != nil || other.Count != 0 {
		t.Fatalf("another source's waiting = %+v, %v", other, err)
	}
	// A job that never came back (the dead-letter queue) stops counting.
	c.Advance(time.Minute + WaitingLinger)
	check(Waiting{})
}

// TestFailureNames: a failed record keeps the customer's e-mail and names
// as the failing job read them, keeps them through a failure that did not
// read the customer, and is found by customer id or e-mail in any case.
func TestFailureNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	named := Failure{SourceID: "src", CustomerID: "c1", Reason: "bad", Email: "Ada.L@example.com", FirstName: "Ada", LastName: "Lovelace"}
	for _, f := range []Failure{
		named,
		{SourceID: "src", CustomerID: "c2", Reason: "bad", Email: "bob@example.com", FirstName: "Bob"},
		{SourceID: "src", CustomerID: "c3", Reason: "bad"},
		{SourceID: "other", CustomerID: "c4", Reason: "bad", Email: "ada.l@example.com"},
		// A later failure before the customer was read keeps the names.
		{SourceID: "src", CustomerID: "c1", Reason: "configuration unusable"},
	} {
		if err := s.RecordFailure(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Failure(ctx, "src", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != named.Email || got.FirstName != "Ada" || got.LastName != "Lovelace" || got.Reason != "configuration unusable" {
		t.Fatalf("Failure = %+v, want the names of the first failure and the reason of the last", got)
	}
	if err := s.RecordFailure(ctx, Failure{SourceID: "src", CustomerID: "c2", Reason: "bad", Email: "robert@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Failure(ctx, "src", "c2"); got.Email != "robert@example.com" || got.FirstName != "" {
		t.Fatalf("Failure after a rename = %+v, want the new e-mail and no first name", got)
	}
	for _, tc := range []struct{ q, want string }{
		{"c1", "[c1]"},
		{"ADA.L@EXAMPLE.COM", "[c1]"},
		{"bob@example.com", "[]"},
		{"robert@example.com", "[c2]"},
		{"c4", "[]"},
		{"nobody", "[]"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			page, err := s.FindFailures(ctx, "src", tc.q, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, f := range page.Failures {
				ids = append(ids, f.CustomerID)
			}
			if fmt.Sprint(ids) != tc.want && !(tc.want == "[]" && len(ids) == 0) {
				t.Fatalf("FindFailures(%q) = %v, want %s", tc.q, ids, tc.want)
			}
		})
	}
}
