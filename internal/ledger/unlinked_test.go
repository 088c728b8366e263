package ledger

import (
	"maps"
	"testing"
	"time"
)

func TestUnlinkedOptOutsAreRememberedByRange(t *testing.T) {
	t.Parallel()
	s, clock := newStore(t)
	ctx := t.Context()
	for id, optOut := range map[int64]string{9: "news@11", 10: "news@11,promo@12", 4294967299: "news@11"} {
		if err := s.RememberUnlinkedOptOut(ctx, "src", id, optOut, 1, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RememberUnlinkedOptOut(ctx, "other", 10, "news@11", 2, clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.UnlinkedOptOuts(ctx, "src", 5, 100)
	if err != nil {
		t.Fatal(err)
	}
	// 9 and 10 only: ids compare as numbers (not "4294967299" < "5"), and
	// another source's records are not this one's.
	at := clock.Now()
	if want := map[int64]UnlinkedOptOut{9: {"news@11", 1, at}, 10: {"news@11,promo@12", 1, at}}; !maps.EqualFunc(got, want, func(a, b UnlinkedOptOut) bool {
		return a.OptOut == b.OptOut && a.Tries == b.Tries && a.At.Equal(b.At)
	}) {
		t.Fatalf("opt-outs 5..100 = %v, want %v", got, want)
	}
	clock.Advance(UnlinkedRetention + time.Hour)
	if got, err := s.UnlinkedOptOuts(ctx, "src", 1, 1<<40); err != nil || len(got) != 0 {
		t.Fatalf("after the retention: %v, %v; want none", got, err)
	}
	if _, err := s.UnlinkedOptOuts(ctx, "src", 10, 9); err == nil {
		t.Fatal("a range that ends before it starts was read")
	}
}
