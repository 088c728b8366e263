package ledger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BatchDynamoDB is the part of the DynamoDB client the bulk lane's ledger
// access uses: batch reads and writes, 100 and 25 items a request, and
// single conditional writes for claims.
type BatchDynamoDB interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Batch sizes DynamoDB allows.
const (
	maxBatchGet   = 100
	maxBatchWrite = 25
)

// BulkEntry is a ledger entry as the bulk lane reads and writes it: the
// entry, and the bulk lane's own claim to add its subscriber.
type BulkEntry struct {
	Entry
	// BulkClaimBy names the bulk run holding the add claim; it holds only
	// while BulkClaimUntil equals the entry's AddingUntil (a later claim of
	// the per-customer lane changes AddingUntil and leaves these alone).
	BulkClaimBy    string
	BulkClaimUntil time.Time
}

// ClaimedBy reports whether run holds the entry's add claim at now.
func (e BulkEntry) ClaimedBy(run string, now time.Time) bool {
	return e.BulkClaimBy == run && e.Adding(now) && e.BulkClaimUntil.Equal(e.AddingUntil)
}

// Bulk reads and writes many ledger entries a request, without
// conditions (the bulk lane's add claims among them), and writes with
// conditions, an item a request, what must not overwrite another worker's
// write: a claim on a subscriber the lane is about to write (Claim) and
// the drop or extension of its add claims (PutEach).
// See package bulk for how its writes are guarded.
type Bulk struct {
	db    BatchDynamoDB
	table string
}

// NewBulk returns batch access to the ledger on table.
func NewBulk(db BatchDynamoDB, table string) *Bulk { return &Bulk{db: db, table: table} }

// GetMany returns the entries of the customers, by customer id; an absent
// entry is a zero entry with the ids filled in. Reads are consistent.
func (b *Bulk) GetMany(ctx context.Context, sourceID string, customerIDs []string) (map[string]BulkEntry, error) {
	out := make(map[string]BulkEntry, len(customerIDs))
	for _, id := range customerIDs {
		out[id] = BulkEntry{Entry: Entry{SourceID: sourceID, CustomerID: id}}
	}
	for start := 0; start < len(customerIDs); start += maxBatchGet {
		keys := make([]map[string]types.AttributeValue, 0, maxBatchGet)
		seen := make(map[string]bool)
		for _, id := range customerIDs[start:min(start+maxBatchGet, len(customerIDs))] {
			if !seen[id] {
				seen[id] = true
				keys = append(keys, key(entryPK(sourceID), entrySK(id)))
			}
		}
		for attempt := 0; len(keys) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return nil, fmt.Errorf("ledger: batch get of source %s: %d keys unprocessed: %w", sourceID, len(keys), err)
				}
			}
			res, err := b.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				b.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
			}})
			if err != nil {
				return nil, fmt.Errorf("ledger: batch get of source %s: %w", sourceID, err)
			}
			for _, item := range res.Responses[b.table] {
				e := BulkEntry{Entry: decodeEntry(item), BulkClaimBy: getS(item, "bulkClaimBy"), BulkClaimUntil: getTime(item, "bulkClaimUntil")}
				out[e.CustomerID] = e
			}
			keys = res.UnprocessedKeys[b.table].Keys
		}
	}
	return out, nil
}

// PutMany writes the entries whole, each with its version increased by
// jump: a jump larger than any number of writes a concurrent per-customer
// worker could make since the bulk lane read the entry makes that
// worker's conditional write fail, so it reads and decides again.
func (b *Bulk) PutMany(ctx context.Context, entries []BulkEntry, jump int64) error {
	for start := 0; start < len(entries); start += maxBatchWrite {
		reqs := make([]types.WriteRequest, 0, maxBatchWrite)
		for _, e := range entries[start:min(start+maxBatchWrite, len(entries))] {
			if e.SourceID == "" || e.CustomerID == "" {
				return fmt.Errorf("ledger: batch put: source and customer ids are required")
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: encodeBulkEntry(e, e.Version+jump)}})
		}
		for attempt := 0; len(reqs) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return fmt.Errorf("ledger: batch put: %d items unprocessed: %w", len(reqs), err)
				}
			}
			res, err := b.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{b.table: reqs}})
			if err != nil {
				return fmt.Errorf("ledger: batch put: %w", err)
			}
			reqs = res.UnprocessedItems[b.table]
		}
	}
	return nil
}

// Claim writes the bulk run's claim on one entry, on the condition that
// nobody wrote the entry since the bulk lane read it (e.Version; an entry
// never stored must still be absent), and returns the entry as written
// (its version increased by jump); ErrConflict when somebody did. The
// bulk lane claims this way, one entry a request, the subscribers it is
// about to write to Contactsend: a blind claim could overwrite a
// per-customer worker's record of newer values, and the bulk write would
// then put older values back with nobody left to notice.
func (b *Bulk) Claim(ctx context.Context, e BulkEntry, run string, until time.Time, jump int64) (BulkEntry, error) {
	e.AddingUntil, e.BulkClaimBy, e.BulkClaimUntil = until, run, until
	if err := b.putIf(ctx, e, jump); err != nil {
		return BulkEntry{}, err
	}
	e.Version += jump
	return e, nil
}

// PutEach writes the entries whole, as PutMany does, but each on the
// condition Claim sets: that nobody wrote it since it was read. It takes a
// request per entry, putsInFlight at a time, and returns an error per
// entry: nil for one written (its version is now e.Version+jump),
// ErrConflict for one that moved and was left alone. The bulk lane drops
// and prolongs its add claims this way: written blindly once its own had
// lapsed, they could undo another worker's claim, and two would add.
func (b *Bulk) PutEach(ctx context.Context, entries []BulkEntry, jump int64) []error {
	errs := make([]error, len(entries))
	sem := make(chan struct{}, putsInFlight)
	var wg sync.WaitGroup
	for i, e := range entries {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = b.putIf(ctx, e, jump)
		})
	}
	wg.Wait()
	return errs
}

// putsInFlight bounds PutEach's concurrent requests.
const putsInFlight = 16

// putIf writes e whole at version e.Version+jump if the stored entry is
// still at e.Version (absent, for an entry never stored).
func (b *Bulk) putIf(ctx context.Context, e BulkEntry, jump int64) error {
	if e.SourceID == "" || e.CustomerID == "" {
		return fmt.Errorf("ledger: conditional put: source and customer ids are required")
	}
	in := &dynamodb.PutItemInput{TableName: &b.table, Item: encodeBulkEntry(e, e.Version+jump)}
	if e.Stored() {
		in.ConditionExpression = aws.String("version = :read")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":read": num(e.Version)}
	} else {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	}
	_, err := b.db.PutItem(ctx, in)
	if conditionFailed(err) {
		return fmt.Errorf("ledger: put %s/%s at version %d: %w", e.SourceID, e.CustomerID, e.Version, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("ledger: put %s/%s: %w", e.SourceID, e.CustomerID, err)
	}
	return nil
}

// encodeBulkEntry is the whole item Put would leave for e.
func encodeBulkEntry(e BulkEntry, version int64) map[string]types.AttributeValue {
	item := key(entryPK(e.SourceID), entrySK(e.CustomerID))
	item["type"] = str(typeEntry)
	item["sourceId"] = str(e.SourceID)
	item["customerId"] = str(e.CustomerID)
	item["hash"] = str(e.Hash)
	item["deleted"] = boolean(e.Deleted)
	item["failed"] = boolean(e.Failed)
	item["version"] = num(version)
	for name, t := range map[string]time.Time{
		"customerUpdatedAt": e.CustomerUpdatedAt, "syncedAt": e.SyncedAt, "addingUntil": e.AddingUntil,
		"subscriptionClaimUntil": e.SubscriptionClaimUntil, "bulkClaimUntil": e.BulkClaimUntil,
	} {
		if !t.IsZero() {
			item[name] = str(timeText(t))
		}
	}
	if e.SubscriptionClaimBy != "" {
		item["subscriptionClaimBy"] = str(e.SubscriptionClaimBy)
	}
	if e.BulkClaimBy != "" {
		item["bulkClaimBy"] = str(e.BulkClaimBy)
	}
	if e.SubscriberID != 0 {
		item["subscriberId"] = num(e.SubscriberID)
		item["gsi1pk"] = str(subscriberGSI(e.SourceID, e.SubscriberID))
		item["gsi1sk"] = str(gsiSK)
		item["gsi3pk"], item["gsi3sk"] = subscriberRangeKey(e.SourceID, e.SubscriberID)
	}
	if e.subscriptions != nil {
		item["subscriptions"] = encodeSubscriptions(*e.subscriptions)
	}
	return item
}

// pause waits before another try of unprocessed items, growing with the
// attempt, and gives up with the context or after a dozen tries.
func pause(ctx context.Context, attempt int) error {
	if attempt > 12 {
		return fmt.Errorf("gave up after %d tries", attempt)
	}
	t := time.NewTimer(time.Duration(min(1<<attempt, 1000)) * 10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
