package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/subscriptions"
)

// The subscriber range index (gsi3) holds every entry that names a
// Contactsend subscriber under one key per source, sorted by subscriber id,
// with only what the reconciliation compares projected (the customer, the
// subscriber, the synced subscription states). The reconciliation walks a
// userdb in subscriber id order, so a page of subscribers is one range of
// the index: one Query, where a lookup by subscriber (gsi1) costs one per
// subscriber. Put maintains it beside gsi1; IndexSubscribers adds entries
// written before it existed.
const subscriberRangeIndex = "gsi3"

func subscriberRangePK(sourceID string) string { return "SUBSCRIBERS#" + sourceID }

// subscriberRangeKey is the gsi3 key of an entry linked to a subscriber.
func subscriberRangeKey(sourceID string, subscriberID int64) (pk, sk types.AttributeValue) {
	return str(subscriberRangePK(sourceID)), num(subscriberID)
}

// Linked is what the subscriber range index holds of an entry: which
// customer a subscriber is linked to, and the synced subscription states.
type Linked struct {
	CustomerID   string
	SubscriberID int64
	// subscriptions is the synced state by Contacthub subscription id.
	subscriptions *map[string]subscriptions.Synced
}

// Subscription returns the synced state of a subscription row; its Known
// is false when the row was never synced for this customer.
func (l Linked) Subscription(hubSubscriptionID string) subscriptions.Synced {
	if l.subscriptions == nil {
		return subscriptions.Synced{}
	}
	return (*l.subscriptions)[hubSubscriptionID]
}

// LinkedRange returns the entries of the source linked to a subscriber
// whose id is within [first, last], by subscriber id (an entry per
// subscriber: should two customers name one subscriber, the first read
// stands, as BySubscriber's does). It pages through the range, so its cost
// is one Query per MiB of entries: a page of 200 subscribers is one.
//
// The index is eventually consistent, and holds only entries written since
// it exists or added by IndexSubscribers.
func (s *Store) LinkedRange(ctx context.Context, sourceID string, first, last int64) (map[int64]Linked, error) {
	if first > last {
		return nil, fmt.Errorf("ledger: subscriber range of source %s: first %d after last %d", sourceID, first, last)
	}
	pk, _ := subscriberRangeKey(sourceID, 0)
	out := make(map[int64]Linked)
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		IndexName:              aws.String(subscriberRangeIndex),
		KeyConditionExpression: aws.String("gsi3pk = :pk AND gsi3sk BETWEEN :first AND :last"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": pk, ":first": num(first), ":last": num(last),
		},
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ledger: subscribers %d to %d of source %s: %w", first, last, sourceID, err)
		}
		for _, item := range page.Items {
			id := getN(item, "subscriberId")
			if _, seen := out[id]; seen || id == 0 {
				continue
			}
			out[id] = Linked{CustomerID: getS(item, "customerId"), SubscriberID: id, subscriptions: decodeSubscriptions(item["subscriptions"])}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// IndexProgress is how far IndexSubscribers got.
type IndexProgress struct {
	// Next is where the next call starts; empty once the whole ledger of
	// the source has been read.
	Next string
	// Read counts the entries read, Indexed those added to the index.
	Read, Indexed int
}

// Done reports whether every entry of the source has been read.
func (p IndexProgress) Done() bool { return p.Next == "" }

// indexCursorPrefix marks IndexSubscribers' cursors as its own.
const indexCursorPrefix = "CUSTOMER#"

// IndexSubscribers adds to the subscriber range index the entries of the
// source that name a subscriber but were written before the index existed,
// reading up to limit entries from after (empty: the start; then
// IndexProgress.Next). Each addition is conditional on the entry still
// naming that subscriber, and leaves its version alone: a worker's
// concurrent write wins and indexes the entry itself, and the worker's
// optimistic concurrency is not disturbed.
func (s *Store) IndexSubscribers(ctx context.Context, sourceID, after string, limit int) (IndexProgress, error) {
	if after != "" && !strings.HasPrefix(after, indexCursorPrefix) {
		return IndexProgress{}, fmt.Errorf("ledger: index subscribers of source %s from %q: %w", sourceID, after, ErrBadCursor)
	}
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :entry)"),
		FilterExpression:       aws.String("attribute_exists(subscriberId) AND attribute_not_exists(gsi3pk)"),
		ProjectionExpression:   aws.String("sk, subscriberId"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(entryPK(sourceID)), ":entry": str(indexCursorPrefix),
		},
		Limit: aws.Int32(int32(max(1, limit))),
	}
	if after != "" {
		in.ExclusiveStartKey = key(entryPK(sourceID), after)
	}
	page, err := s.db.Query(ctx, in)
	if err != nil {
		return IndexProgress{}, fmt.Errorf("ledger: index subscribers of source %s: %w", sourceID, err)
	}
	progress := IndexProgress{Read: int(page.ScannedCount)}
	indexed := make([]bool, len(page.Items))
	errs := make([]error, len(page.Items))
	limiter := make(chan struct{}, indexWriters)
	var wg sync.WaitGroup
	for i, item := range page.Items {
		id := getN(item, "subscriberId")
		if id == 0 {
			continue
		}
		limiter <- struct{}{}
		wg.Go(func() {
			defer func() { <-limiter }()
			indexed[i], errs[i] = s.indexEntry(ctx, sourceID, getS(item, "sk"), id)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return IndexProgress{}, err
	}
	for _, ok := range indexed {
		if ok {
			progress.Indexed++
		}
	}
	if len(page.LastEvaluatedKey) > 0 {
		progress.Next = getS(page.LastEvaluatedKey, "sk")
		if progress.Next == "" {
			return IndexProgress{}, fmt.Errorf("ledger: index subscribers of source %s: page ended without a key", sourceID)
		}
	}
	return progress, nil
}

// indexWriters bounds IndexSubscribers' concurrent writes.
const indexWriters = 16

// indexEntry adds one entry to the subscriber range index if it still
// names the subscriber; false when it no longer does (relinked or unlinked
// meanwhile, and its writer indexed it).
func (s *Store) indexEntry(ctx context.Context, sourceID, sk string, subscriberID int64) (bool, error) {
	pk, rangeKey := subscriberRangeKey(sourceID, subscriberID)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(entryPK(sourceID), sk),
		UpdateExpression:          aws.String("SET gsi3pk = :pk, gsi3sk = :sk"),
		ConditionExpression:       aws.String("subscriberId = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": pk, ":sk": rangeKey},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: index subscriber %d of source %s: %w", subscriberID, sourceID, err)
	}
	return true, nil
}
