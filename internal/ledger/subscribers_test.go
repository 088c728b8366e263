package ledger

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/subscriptions"
)

// putLinked stores an entry of customer c<id> linked to subscriber id with
// the newsletter synced as subscribed.
func putLinked(t *testing.T, s *Store, sourceID string, id int64, subscribed bool) Entry {
	t.Helper()
	e := Entry{SourceID: sourceID, CustomerID: fmt.Sprintf("c%d", id), SubscriberID: id}
	e.SetSubscription("newsletter", subscriptions.Synced{Known: true, Subscribed: subscribed, Origin: subscriptions.Hub})
	e, err := s.Put(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// unindex makes an entry look as the release before the subscriber range
// index wrote it.
func unindex(t *testing.T, s *Store, sourceID, customerID string) {
	t.Helper()
	_, err := s.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(entryPK(sourceID), entrySK(customerID)),
		UpdateExpression: aws.String("REMOVE gsi3pk, gsi3sk"),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func linkedIDs(t *testing.T, s *Store, sourceID string, first, last int64) []int64 {
	t.Helper()
	got, err := s.LinkedRange(context.Background(), sourceID, first, last)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(got))
}

func TestLinkedRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	for id := int64(1); id <= 12; id++ {
		putLinked(t, s, "src", id, id%2 == 0)
	}
	putLinked(t, s, "other", 5, true) // another source's entry never shows
	// Customer c3 loses its subscriber: it leaves the index.
	e, err := s.Get(ctx, "src", "c3")
	if err != nil {
		t.Fatal(err)
	}
	e.SubscriberID = 0
	if _, err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	// Customer c4 moves to subscriber 100: it is found there only.
	e, err = s.Get(ctx, "src", "c4")
	if err != nil {
		t.Fatal(err)
	}
	e.SubscriberID = 100
	if _, err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		first, last int64
		want        []int64
	}{
		{"inner range", 2, 6, []int64{2, 5, 6}},
		{"one id", 7, 7, []int64{7}},
		{"past the end", 11, 99, []int64{11, 12}},
		{"moved subscriber", 100, 100, []int64{100}},
		{"nothing", 200, 300, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := linkedIDs(t, s, "src", tt.first, tt.last); !slices.Equal(got, tt.want) {
				t.Fatalf("LinkedRange(%d, %d) = %v, want %v", tt.first, tt.last, got, tt.want)
			}
		})
	}

	got, err := s.LinkedRange(ctx, "src", 5, 6)
	if err != nil {
		t.Fatal(err)
	}
	if l := got[5]; l.CustomerID != "c5" || l.Subscription("newsletter").Subscribed || !l.Subscription("newsletter").Known {
		t.Errorf("subscriber 5 = %+v, newsletter %+v; want c5, synced unsubscribed", l, l.Subscription("newsletter"))
	}
	if l := got[6]; l.CustomerID != "c6" || !l.Subscription("newsletter").Subscribed || l.Subscription("other").Known {
		t.Errorf("subscriber 6 = %+v; want c6, newsletter subscribed, nothing else known", l)
	}
	if _, err := s.LinkedRange(ctx, "src", 6, 5); err == nil {
		t.Error("a reversed range was accepted")
	}
}

// TestIndexSubscribersAddsOlderEntries: entries written before the index
// existed are added by IndexSubscribers, page by page, without touching
// their version; an entry unlinked meanwhile is left out.
func TestIndexSubscribersAddsOlderEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	versions := map[string]int64{}
	for id := int64(1); id <= 10; id++ {
		e := putLinked(t, s, "src", id, true)
		versions[e.CustomerID] = e.Version
		if id != 10 {
			unindex(t, s, "src", e.CustomerID)
		}
	}
	// An entry without a subscriber is read and left alone.
	if _, err := s.Put(ctx, Entry{SourceID: "src", CustomerID: "c0"}); err != nil {
		t.Fatal(err)
	}
	if got := linkedIDs(t, s, "src", 1, 10); !slices.Equal(got, []int64{10}) {
		t.Fatalf("before indexing: %v, want only the entry written with the index", got)
	}

	var progress IndexProgress
	calls, indexed := 0, 0
	for {
		var err error
		progress, err = s.IndexSubscribers(ctx, "src", progress.Next, 4)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		indexed += progress.Indexed
		if progress.Done() {
			break
		}
		if calls > 10 {
			t.Fatal("IndexSubscribers never finished")
		}
	}
	if calls < 3 || indexed != 9 {
		t.Errorf("%d calls indexed %d entries; want 11 entries read 4 at a time, 9 indexed", calls, indexed)
	}
	want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := linkedIDs(t, s, "src", 1, 10); !slices.Equal(got, want) {
		t.Fatalf("after indexing: %v, want %v", got, want)
	}
	for customer, version := range versions {
		e, err := s.Get(ctx, "src", customer)
		if err != nil || e.Version != version {
			t.Fatalf("%s: version %d (%v), want %d untouched", customer, e.Version, err, version)
		}
	}
	if _, err := s.IndexSubscribers(ctx, "src", "SOURCE#x", 4); err == nil {
		t.Error("a cursor IndexSubscribers never handed out was accepted")
	}
}

func TestIndexSubscribersLeavesUnlinkedEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	e := putLinked(t, s, "src", 7, true)
	unindex(t, s, "src", e.CustomerID)
	// The worker unlinks the customer between the read and the write.
	indexed, err := s.indexEntry(ctx, "src", entrySK(e.CustomerID), 8)
	if err != nil || indexed {
		t.Fatalf("indexEntry for a subscriber the entry does not name = %v, %v; want false, nil", indexed, err)
	}
	if got := linkedIDs(t, s, "src", 1, 10); len(got) != 0 {
		t.Fatalf("index holds %v, want nothing", got)
	}
}
