package ledger

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/subscriptions"
)

// Entry is what the ledger knows of one customer of one source.
type Entry struct {
	SourceID   string
	CustomerID string
	// SubscriberID is the Contactsend subscriber, zero when none is known.
	SubscriberID int64
	// Hash is mapping.Attributes.Hash of the attributes last written.
	Hash string
	// FieldDigest holds a short digest per mapped field of what was last
	// written ("FIELD=digest,..."), so that the consent trail can name the
	// fields a write changed without keeping their values.
	FieldDigest string
	// CustomerUpdatedAt is the customer's updatedAt when it was last synced.
	CustomerUpdatedAt time.Time
	SyncedAt          time.Time
	// Deleted says the customer was deleted in Contacthub.
	Deleted bool
	// Failed says a failed record exists for the customer, so a success
	// knows to delete it (and costs nothing extra when there is none).
	Failed bool
	// AddingUntil is a claim: a worker is adding the subscriber and others
	// must not add one too until it records the result or the claim lapses.
	AddingUntil time.Time
	// SubscriptionClaimUntil and SubscriptionClaimBy are a claim: a worker
	// is writing the customer's subscriptions to one side, and others must
	// not decide for it until it records the result or the claim lapses.
	SubscriptionClaimUntil time.Time
	SubscriptionClaimBy    string
	// subscriptions is the synced state of each subscription row, by
	// Contacthub subscription id (see Subscription and SetSubscription).
	// A pointer keeps Entry comparable; nil means none read or set, and
	// Put then leaves the stored map as it is.
	subscriptions *map[string]subscriptions.Synced
	// Version counts writes; zero means the entry is not stored yet.
	Version int64
}

// Stored reports whether the entry exists in the table.
func (e Entry) Stored() bool { return e.Version > 0 }

// Adding reports whether another worker's claim to add the subscriber
// still holds at now.
func (e Entry) Adding(now time.Time) bool { return now.Before(e.AddingUntil) }

// ClaimWork is how long, at now, the holder of a claim that ends at until
// and lasts claim may go on writing to Contactsend under it: up to the
// claim's end less a margin (a quarter of the claim, at most ten seconds)
// in which a write cut off with its outcome unknown can still be followed
// by prolonging the claim, before anyone else may take it. Counted from
// the claim's end, so that time the claim's own write took is not spent
// twice; zero or less means no time is left.
func ClaimWork(until, now time.Time, claim time.Duration) time.Duration {
	return until.Sub(now) - min(claim/4, 10*time.Second)
}

// Get returns the entry of a customer; an absent entry is a zero Entry
// (Version 0) with the ids filled in, not an error.
func (s *Store) Get(ctx context.Context, sourceID, customerID string) (Entry, error) {
	item, err := s.get(ctx, entryPK(sourceID), entrySK(customerID))
	if err != nil {
		return Entry{}, fmt.Errorf("ledger: get %s/%s: %w", sourceID, customerID, err)
	}
	if item == nil {
		return Entry{SourceID: sourceID, CustomerID: customerID}, nil
	}
	return decodeEntry(item), nil
}

func decodeEntry(item map[string]types.AttributeValue) Entry {
	return Entry{
		SourceID:               getS(item, "sourceId"),
		CustomerID:             getS(item, "customerId"),
		SubscriberID:           getN(item, "subscriberId"),
		Hash:                   getS(item, "hash"),
		FieldDigest:            getS(item, "fieldDigest"),
		CustomerUpdatedAt:      getTime(item, "customerUpdatedAt"),
		SyncedAt:               getTime(item, "syncedAt"),
		Deleted:                getBool(item, "deleted"),
		Failed:                 getBool(item, "failed"),
		AddingUntil:            getTime(item, "addingUntil"),
		subscriptions:          decodeSubscriptions(item["subscriptions"]),
		SubscriptionClaimUntil: getTime(item, "subscriptionClaimUntil"),
		SubscriptionClaimBy:    getS(item, "subscriptionClaimBy"),
		Version:                getN(item, "version"),
	}
}

// Subscription returns the synced state of a subscription row; its Known
// is false when the row was never synced for this customer.
func (e Entry) Subscription(hubSubscriptionID string) subscriptions.Synced {
	if e.subscriptions == nil {
		return subscriptions.Synced{}
	}
	return (*e.subscriptions)[hubSubscriptionID]
}

// SetSubscription sets the synced state of a subscription row; the next
// Put stores it. It copies the map, so copies of e are not affected.
func (e *Entry) SetSubscription(hubSubscriptionID string, s subscriptions.Synced) {
	next := make(map[string]subscriptions.Synced)
	if e.subscriptions != nil {
		maps.Copy(next, *e.subscriptions)
	}
	next[hubSubscriptionID] = s
	e.subscriptions = &next
}

// decodeSubscriptions reads the subscriptions map; nil when there is none.
func decodeSubscriptions(v types.AttributeValue) *map[string]subscriptions.Synced {
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		return nil
	}
	out := make(map[string]subscriptions.Synced, len(m.Value))
	for id, raw := range m.Value {
		item, ok := raw.(*types.AttributeValueMemberM)
		if !ok {
			continue
		}
		out[id] = subscriptions.Synced{
			Known:        true,
			Subscribed:   getBool(item.Value, "subscribed"),
			At:           getTime(item.Value, "at"),
			Origin:       subscriptions.Side(getS(item.Value, "origin")),
			HubUpdatedAt: getTime(item.Value, "hubUpdatedAt"),
			// Zero in entries written before the pair was kept.
			SendSubscriptionID: getN(item.Value, "sendSubscriptionId"),
			SubscriberID:       getN(item.Value, "subscriberId"),
		}
	}
	return &out
}

func encodeSubscriptions(subs map[string]subscriptions.Synced) types.AttributeValue {
	m := make(map[string]types.AttributeValue, len(subs))
	for id, s := range subs {
		if !s.Known {
			continue
		}
		item := map[string]types.AttributeValue{"subscribed": boolean(s.Subscribed), "origin": str(string(s.Origin))}
		if !s.At.IsZero() {
			item["at"] = str(timeText(s.At))
		}
		if !s.HubUpdatedAt.IsZero() {
			item["hubUpdatedAt"] = str(timeText(s.HubUpdatedAt))
		}
		if s.SendSubscriptionID != 0 {
			item["sendSubscriptionId"] = num(s.SendSubscriptionID)
		}
		if s.SubscriberID != 0 {
			item["subscriberId"] = num(s.SubscriberID)
		}
		m[id] = &types.AttributeValueMemberM{Value: item}
	}
	return &types.AttributeValueMemberM{Value: m}
}

// Put writes e if the stored entry still has e.Version (or, for Version
// 0, does not exist), and returns it with its new version. Otherwise it
// fails with ErrConflict. The subscriptions map is written only when the
// entry holds one (read by Get or set by SetSubscription).
func (s *Store) Put(ctx context.Context, e Entry) (Entry, error) {
	if e.SourceID == "" || e.CustomerID == "" {
		return Entry{}, fmt.Errorf("ledger: put: source and customer ids are required")
	}
	values := map[string]types.AttributeValue{
		":type": str(typeEntry), ":source": str(e.SourceID), ":customer": str(e.CustomerID),
		":hash": str(e.Hash), ":deleted": boolean(e.Deleted), ":failed": boolean(e.Failed),
		":next": num(e.Version + 1),
	}
	set := []string{"#type = :type", "sourceId = :source", "customerId = :customer", "#hash = :hash",
		"deleted = :deleted", "failed = :failed", "version = :next"}
	var remove []string
	optionalTime := func(name string, t time.Time) {
		if t.IsZero() {
			remove = append(remove, name)
			return
		}
		values[":"+name] = str(timeText(t))
		set = append(set, name+" = :"+name)
	}
	optionalTime("customerUpdatedAt", e.CustomerUpdatedAt)
	optionalTime("syncedAt", e.SyncedAt)
	optionalTime("addingUntil", e.AddingUntil)
	optionalTime("subscriptionClaimUntil", e.SubscriptionClaimUntil)
	if e.SubscriptionClaimBy != "" {
		values[":claimBy"] = str(e.SubscriptionClaimBy)
		set = append(set, "subscriptionClaimBy = :claimBy")
	} else {
		remove = append(remove, "subscriptionClaimBy")
	}
	if e.FieldDigest != "" {
		values[":fieldDigest"] = str(e.FieldDigest)
		set = append(set, "fieldDigest = :fieldDigest")
	} else {
		remove = append(remove, "fieldDigest")
	}
	if e.SubscriberID != 0 {
		values[":subscriber"] = num(e.SubscriberID)
		values[":gsi1pk"] = str(subscriberGSI(e.SourceID, e.SubscriberID))
		values[":gsi1sk"] = str(gsiSK)
		values[":gsi3pk"], values[":gsi3sk"] = subscriberRangeKey(e.SourceID, e.SubscriberID)
		set = append(set, "subscriberId = :subscriber", "gsi1pk = :gsi1pk", "gsi1sk = :gsi1sk", "gsi3pk = :gsi3pk", "gsi3sk = :gsi3sk")
	} else {
		// Without a subscriber the item must leave the subscriber indexes.
		remove = append(remove, "subscriberId", "gsi1pk", "gsi1sk", "gsi3pk", "gsi3sk")
	}
	if e.subscriptions != nil {
		values[":subscriptions"] = encodeSubscriptions(*e.subscriptions)
		set = append(set, "subscriptions = :subscriptions")
	}
	cond := "attribute_not_exists(pk)"
	if e.Version > 0 {
		cond = "version = :read"
		values[":read"] = num(e.Version)
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(entryPK(e.SourceID), entrySK(e.CustomerID)),
		UpdateExpression:          &update,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  map[string]string{"#type": "type", "#hash": "hash"},
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return Entry{}, fmt.Errorf("ledger: put %s/%s at version %d: %w", e.SourceID, e.CustomerID, e.Version, ErrConflict)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("ledger: put %s/%s: %w", e.SourceID, e.CustomerID, err)
	}
	e.Version++
	return e, nil
}

// BySubscriber returns the entry that holds a Contactsend subscriber, for
// changes seen on the Contactsend side. The index is eventually
// consistent: a subscriber added a moment ago may not be found yet.
func (s *Store) BySubscriber(ctx context.Context, sourceID string, subscriberID int64) (Entry, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              &s.table,
		IndexName:              aws.String("gsi1"),
		KeyConditionExpression: aws.String("gsi1pk = :pk AND gsi1sk = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(subscriberGSI(sourceID, subscriberID)), ":sk": str(gsiSK),
		},
		Limit: aws.Int32(2),
	})
	if err != nil {
		return Entry{}, fmt.Errorf("ledger: subscriber %d of source %s: %w", subscriberID, sourceID, err)
	}
	if len(out.Items) == 0 {
		return Entry{}, fmt.Errorf("ledger: subscriber %d of source %s: %w", subscriberID, sourceID, ErrNotFound)
	}
	return decodeEntry(out.Items[0]), nil
}
