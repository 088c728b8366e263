package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/localaws/emulators"
)

// TestPagingExpiryAndCursors stores records on dynalite: pages newest
// first, expired records (TTL is lazy) left out, and cursors that only page
// inside the caller's own workspace and filter.
func TestPagingExpiryAndCursors(t *testing.T) {
	stack := emulators.StartT(t)
	log := New(stack.DynamoDB(), emulators.NewTableT(t, stack))
	now := time.Now()
	log.now = func() time.Time { return now.Add(-Retention - time.Hour) }
	if _, err := log.Record(t.Context(), Entry{Workspace: "ws1", Action: SourceCreate, SourceID: "s1"}); err != nil {
		t.Fatal(err)
	}
	log.now = func() time.Time { return now }
	for i, action := range []string{SourceEnable, SourceDisable, SourceResync, WorkspaceConnection} {
		now = now.Add(time.Millisecond)
		source := "s1"
		if action == WorkspaceConnection {
			source = ""
		}
		e, err := log.Record(t.Context(), Entry{Workspace: "ws1", Action: action, SourceID: source, Actor: Actor{Subject: "u", Email: "u@example.com"},
			Changes: []Change{{Path: "enabled", After: i%2 == 0}}})
		if err != nil || e.ID == "" || e.At.IsZero() {
			t.Fatalf("record %s: %+v %v", action, e, err)
		}
	}
	if _, err := log.Record(t.Context(), Entry{Workspace: "ws2", Action: SourceCreate, SourceID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Record(t.Context(), Entry{Action: SourceCreate}); err == nil {
		t.Error("a record without a workspace was stored")
	}

	var actions []string
	var page Page
	for {
		var err error
		page, err = log.List(t.Context(), "ws1", ListOptions{Limit: 2, Cursor: page.Next})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			actions = append(actions, e.Action)
		}
		if page.Next == "" {
			break
		}
	}
	want := []string{WorkspaceConnection, SourceResync, SourceDisable, SourceEnable}
	if len(actions) != len(want) {
		t.Fatalf("actions %v, want %v (the expired create left out)", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("actions %v, want %v", actions, want)
		}
	}
	bySource, err := log.List(t.Context(), "ws1", ListOptions{SourceID: "s1", Limit: 100})
	if err != nil || len(bySource.Entries) != 3 {
		t.Fatalf("s1's records: %d %v", len(bySource.Entries), err)
	}
	first, _ := log.List(t.Context(), "ws1", ListOptions{Limit: 1})
	other, err := log.List(t.Context(), "ws2", ListOptions{Limit: 10, Cursor: first.Next})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range other.Entries {
		if e.Workspace != "ws2" {
			t.Fatalf("a ws1 cursor showed %+v to ws2", e)
		}
	}
	for _, cursor := range []string{"nope", "MTIz", "!!"} {
		if _, err := log.List(t.Context(), "ws1", ListOptions{Cursor: cursor}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", cursor, err)
		}
	}
}

// lostAnswer stores every PutItem but answers the first with an error, as
// a write whose answer the network lost.
type lostAnswer struct {
	DynamoDB
	answered bool
}

func (l *lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := l.DynamoDB.PutItem(ctx, in, opts...)
	if err == nil && !l.answered {
		l.answered = true
		return nil, errors.New("connection reset (test)")
	}
	return out, err
}

// TestRecordingAnEntryAgainStoresItOnce: a write that landed though its
// answer was lost, recorded again as Record returned it, leaves one record.
func TestRecordingAnEntryAgainStoresItOnce(t *testing.T) {
	stack := emulators.StartT(t)
	table := emulators.NewTableT(t, stack)
	log := New(&lostAnswer{DynamoDB: stack.DynamoDB()}, table)
	e, err := log.Record(t.Context(), Entry{Workspace: "ws1", Action: SourceDisable, SourceID: "s1"})
	if err == nil || e.ID == "" {
		t.Fatalf("first write: %+v, %v; want an error and the entry's id", e, err)
	}
	if _, err := log.Record(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	page, err := log.List(t.Context(), "ws1", ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d records after recording one entry twice, want 1", len(page.Entries))
	}
	if _, err := log.Record(t.Context(), Entry{Workspace: "ws1", Action: SourceDisable, ID: "not-an-id"}); err == nil {
		t.Fatal("an entry with a made-up id was stored")
	}
}
