package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/subscriptions"
	"github.com/hubsend/hubsend/internal/testkit"
)

// bulkStores returns the per-customer and the bulk access to one new
// table, the first on clock c.
func bulkStores(t *testing.T, c *testkit.Clock) (*Store, *Bulk) {
	t.Helper()
	table := testkit.Table(t)
	db := testkit.Emulators(t).DynamoDB()
	return New(db, table, WithClock(c.Now)), NewBulk(db, table)
}

// TestBulkRoundTrip: what the bulk lane writes in batches is what the
// per-customer lane reads, subscriptions map included; the version jump
// makes a per-customer write based on an earlier read fail; more entries
// than one batch holds are all read and written.
func TestBulkRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testkit.NewClock(time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC))
	s, b := bulkStores(t, c)

	// A per-customer entry with a synced subscription.
	e, err := s.Get(ctx, "src", "c000")
	if err != nil {
		t.Fatal(err)
	}
	e.SubscriberID, e.Hash = 7, "old"
	e.SetSubscription("newsletter", subscriptions.Synced{Known: true, Subscribed: true, At: c.Now(), Origin: subscriptions.Hub})
	if e, err = s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	stale := e // what a per-customer worker read before the bulk write

	ids := make([]string, 130) // more than a BatchGetItem (100) and five BatchWriteItems (25)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%03d", i)
	}
	got, err := b.GetMany(ctx, "src", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) || got["c000"].Version != e.Version || got["c001"].Stored() {
		t.Fatalf("GetMany: %d entries, c000 at version %d (want %d), c001 stored %v", len(got), got["c000"].Version, e.Version, got["c001"].Stored())
	}
	until := c.Now().Add(time.Minute)
	var writes []BulkEntry
	for _, id := range ids {
		w := got[id]
		w.SubscriberID, w.Hash = 100, "new"
		if id == "c001" {
			w.SubscriberID, w.AddingUntil, w.BulkClaimBy, w.BulkClaimUntil = 0, until, "bulk:run", until
		}
		writes = append(writes, w)
	}
	if err := b.PutMany(ctx, writes, 1000); err != nil {
		t.Fatal(err)
	}
	back, err := s.Get(ctx, "src", "c000")
	if err != nil {
		t.Fatal(err)
	}
	if back.SubscriberID != 100 || back.Hash != "new" || back.Version != e.Version+1000 || !back.Subscription("newsletter").Subscribed {
		t.Errorf("per-customer read after a bulk write: %+v", back)
	}
	if bySub, err := s.BySubscriber(ctx, "src", 100); err != nil || bySub.SubscriberID != 100 {
		t.Errorf("the subscriber index misses a bulk write: %+v %v", bySub, err)
	}
	// The reconciliation reads subscribers by range: a bulk-loaded
	// subscriber missing from that index would never be reconciled once
	// the source's older entries are indexed.
	if linked, err := s.LinkedRange(ctx, "src", 100, 100); err != nil || linked[100].CustomerID == "" {
		t.Errorf("the subscriber range index misses a bulk write: %+v %v", linked, err)
	}
	stale.Hash = "racing"
	if _, err := s.Put(ctx, stale); !errors.Is(err, ErrConflict) {
		t.Errorf("a per-customer write from before the bulk write = %v, want ErrConflict", err)
	}
	again, err := b.GetMany(ctx, "src", ids)
	if err != nil {
		t.Fatal(err)
	}
	claimed := again["c001"]
	if !claimed.ClaimedBy("bulk:run", c.Now()) || claimed.ClaimedBy("bulk:other", c.Now()) || claimed.ClaimedBy("bulk:run", until.Add(time.Second)) {
		t.Errorf("claim %+v: held by its run only, until it lapses", claimed)
	}
	// A per-customer claim taken after the bulk one lapsed is not the bulk run's.
	claimed.AddingUntil = until.Add(time.Hour)
	if claimed.ClaimedBy("bulk:run", c.Now()) {
		t.Error("a later claim with another end is taken for the bulk run's")
	}
	if n := len(again); n != 130 || again["c129"].Hash != "new" {
		t.Errorf("%d entries read back, c129 hash %q", n, again["c129"].Hash)
	}
}

// TestPutEachWritesOnlyWhatDidNotMove: each entry is written only if
// nobody wrote it since it was read, an absent one only if still absent;
// of two runs claiming the same entries from the same read, the second
// finds every one the first took moved: no entry is held by both.
func TestPutEachWritesOnlyWhatDidNotMove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testkit.NewClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	s, b := bulkStores(t, c)

	stored, err := s.Put(ctx, Entry{SourceID: "src", CustomerID: "stored", SubscriberID: 5})
	if err != nil {
		t.Fatal(err)
	}
	read, err := b.GetMany(ctx, "src", []string{"stored", "absent", "created"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, Entry{SourceID: "src", CustomerID: "created"}); err != nil {
		t.Fatal(err) // created after the read
	}
	until := c.Now().Add(time.Minute)
	claim := func(run string, ids ...string) []error {
		var es []BulkEntry
		for _, id := range ids {
			e := read[id]
			e.AddingUntil, e.BulkClaimBy, e.BulkClaimUntil = until, run, until
			es = append(es, e)
		}
		return b.PutEach(ctx, es, 1000)
	}
	errs := claim("bulk:a", "stored", "absent", "created")
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrConflict) {
		t.Fatalf("first claims = %v, want the stored and the absent entry claimed, the one created meanwhile refused", errs)
	}
	// A second run from the same read finds them moved.
	for i, err := range claim("bulk:b", "stored", "absent") {
		if !errors.Is(err, ErrConflict) {
			t.Errorf("second run's claim %d = %v, want ErrConflict", i, err)
		}
	}
	back, err := b.GetMany(ctx, "src", []string{"stored", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range back {
		if !e.ClaimedBy("bulk:a", c.Now()) {
			t.Errorf("%s: %+v, want bulk:a's claim", id, e)
		}
	}
	if v := back["stored"].Version; v != stored.Version+1000 {
		t.Errorf("stored entry at version %d, want %d", v, stored.Version+1000)
	}
	if back["stored"].SubscriberID != 5 {
		t.Errorf("claim lost the entry's subscriber: %+v", back["stored"])
	}
}
