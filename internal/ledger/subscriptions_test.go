package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/subscriptions"
)

func TestEntrySubscriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)

	e, err := s.Get(ctx, "src", "cust")
	if err != nil {
		t.Fatal(err)
	}
	e.SubscriberID = 42
	want := subscriptions.Synced{Known: true, Subscribed: true, At: c.Now(), Origin: subscriptions.Hub, HubUpdatedAt: c.Now().Add(-time.Second)}
	e.SetSubscription("newsletter", want)
	if e, err = s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "src", "cust")
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Subscription("newsletter"); g.Known != want.Known || g.Subscribed != want.Subscribed || !g.At.Equal(want.At) ||
		g.Origin != want.Origin || !g.HubUpdatedAt.Equal(want.HubUpdatedAt) {
		t.Fatalf("read back %+v, want %+v", g, want)
	}

	if got.Subscription("other").Known {
		t.Fatal("an unsynced row reads as known")
	}

	// An entry built without reading (no map) leaves the stored map alone.
	bare := Entry{SourceID: "src", CustomerID: "cust", SubscriberID: 42, Hash: "h2", Version: got.Version}
	if _, err := s.Put(ctx, bare); err != nil {
		t.Fatal(err)
	}
	again, err := s.Get(ctx, "src", "cust")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Subscription("newsletter").Subscribed || again.Hash != "h2" {
		t.Fatalf("after a Put without subscriptions: %+v", again)
	}
	byID, err := s.BySubscriber(ctx, "src", 42)
	if err != nil || !byID.Subscription("newsletter").Known {
		t.Fatalf("BySubscriber = %+v, %v", byID, err)
	}
}
