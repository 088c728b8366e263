package configstore

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/testkit"
)

// untouchedDB is a DynamoDB that must not be called: input the store can
// refuse by itself must never reach storage.
type untouchedDB struct {
	mu    sync.Mutex
	calls []string
}

var errUntouched = errors.New("storage called")

func (db *untouchedDB) called(op string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.calls = append(db.calls, op)
	return errUntouched
}

func (db *untouchedDB) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, db.called("GetItem")
}

func (db *untouchedDB) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, db.called("PutItem")
}

func (db *untouchedDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, db.called("UpdateItem")
}

func (db *untouchedDB) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, db.called("DeleteItem")
}

func (db *untouchedDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, db.called("Query")
}

// validCursor is a cursor the store hands out for ws1's listing.
func validCursor(t *testing.T) string {
	t.Helper()
	text, err := encodeCursor(map[string]types.AttributeValue{
		"pk":     &types.AttributeValueMemberS{Value: "SOURCE#s1"},
		"sk":     &types.AttributeValueMemberS{Value: itemSK},
		"gsi1pk": &types.AttributeValueMemberS{Value: workspaceKey("ws1")},
		"gsi1sk": &types.AttributeValueMemberS{Value: "SOURCE#2026-11-27T10:00:00Z#s1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func rawCursor(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

// TestRefusedWithoutAStorageCall: ids that name nothing and cursors the
// store never handed out (or handed to another workspace) are refused with
// the error callers branch on, before any DynamoDB request.
func TestRefusedWithoutAStorageCall(t *testing.T) {
	t.Parallel()
	gets := []struct{ name, id string }{
		{"empty id", ""},
		{"id with a slash", "a/b"},
		{"id with a key separator", "s1#ITEM"},
		{"id too long for a key", strings.Repeat("a", 129)},
	}
	for _, tt := range gets {
		t.Run("Get "+tt.name, func(t *testing.T) {
			db := &untouchedDB{}
			store := New(db, "table", testkit.Box(t))
			if _, err := store.Get(context.Background(), "ws1", tt.id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%q) = %v, want ErrNotFound", tt.id, err)
			}
			if _, err := store.GetByID(context.Background(), tt.id); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetByID(%q) = %v, want ErrNotFound", tt.id, err)
			}
			if len(db.calls) != 0 {
				t.Errorf("storage called: %v", db.calls)
			}
		})
	}
	cursors := []struct{ name, cursor string }{
		{"not base64", "not a cursor!"},
		{"not JSON", rawCursor("hello")},
		{"an unknown field", rawCursor(`{"p":"SOURCE#s1","s":"ITEM","g":"WS#ws1","h":"SOURCE#2026-11-27T10:00:00Z#s1","x":1}`)},
		{"trailing data", rawCursor(`{"p":"SOURCE#s1","s":"ITEM","g":"WS#ws1","h":"SOURCE#2026-11-27T10:00:00Z#s1"}{}`)},
		{"another workspace's listing", rawCursor(`{"p":"SOURCE#s1","s":"ITEM","g":"WS#ws2","h":"SOURCE#2026-11-27T10:00:00Z#s1"}`)},
		{"a key that is not a source", rawCursor(`{"p":"GUARD#SENDUSERDB#6","s":"ITEM","g":"WS#ws1","h":"SOURCE#2026-11-27T10:00:00Z#s1"}`)},
		{"sort key of another source", rawCursor(`{"p":"SOURCE#s1","s":"ITEM","g":"WS#ws1","h":"SOURCE#2026-11-27T10:00:00Z#s2"}`)},
		{"sort key without a time", rawCursor(`{"p":"SOURCE#s1","s":"ITEM","g":"WS#ws1","h":"SOURCE#yesterday#s1"}`)},
		{"empty sort key", rawCursor(`{"p":"SOURCE#s1","s":"","g":"WS#ws1","h":"SOURCE#2026-11-27T10:00:00Z#s1"}`)},
	}
	for _, tt := range cursors {
		t.Run("List with "+tt.name, func(t *testing.T) {
			db := &untouchedDB{}
			store := New(db, "table", testkit.Box(t))
			if _, err := store.List(context.Background(), "ws1", ListOptions{Cursor: tt.cursor}); !errors.Is(err, ErrBadCursor) {
				t.Errorf("List = %v, want ErrBadCursor", err)
			}
			if len(db.calls) != 0 {
				t.Errorf("storage called: %v", db.calls)
			}
		})
	}
	// The control: a cursor the store handed out for ws1 reaches storage.
	t.Run("List with a cursor of the workspace", func(t *testing.T) {
		db := &untouchedDB{}
		store := New(db, "table", testkit.Box(t))
		if _, err := store.List(context.Background(), "ws1", ListOptions{Cursor: validCursor(t)}); !errors.Is(err, errUntouched) {
			t.Fatalf("List = %v, want the query sent", err)
		}
		if _, err := store.List(context.Background(), "ws2", ListOptions{Cursor: validCursor(t)}); !errors.Is(err, ErrBadCursor) {
			t.Fatalf("the same cursor for ws2 = %v, want ErrBadCursor", err)
		}
	})
}
