package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// cannedDynamoDB answers every GetItem with one stored entry, so the
// benchmark measures the ledger's own work (request, decoding, the
// worker's hash comparison) without the network.
type cannedDynamoDB struct {
	DynamoDB
	item map[string]types.AttributeValue
}

func (c cannedDynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: c.item}, nil
}

// BenchmarkGetCompare reads a customer's entry and decides, as the worker
// does, whether the mapped attributes changed since the last write.
//
//	go test -run '^$' -bench GetCompare -benchmem ./internal/ledger/
func BenchmarkGetCompare(b *testing.B) {
	const hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	at := timeText(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	db := cannedDynamoDB{item: map[string]types.AttributeValue{
		"pk": str(entryPK("src-1")), "sk": str(entrySK("cust-1")),
		"sourceId": str("src-1"), "customerId": str("cust-1"),
		"subscriberId": num(2147483648), "hash": str(hash),
		"customerUpdatedAt": str(at), "syncedAt": str(at),
		"deleted": boolean(false), "failed": boolean(false), "version": num(7),
	}}
	s := New(db, "table")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, err := s.Get(ctx, "src-1", "cust-1")
		if err != nil {
			b.Fatal(err)
		}
		if !(e.Stored() && e.SubscriberID != 0 && !e.Deleted && e.Hash == hash) {
			b.Fatalf("entry %+v does not match", e)
		}
	}
}
