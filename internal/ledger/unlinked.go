package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// An opt-out of a subscriber no customer is linked to (a duplicate of a
// linked subscriber imported twice, or a person Contacthub does not hold)
// reaches Contacthub only if someone looks for its customer. The
// reconciliation hands each new one to the worker, which looks in
// Contacthub by the subscriber's match values; these records remember what
// was handed over, so that a pass over the userdb hands the same opt-out
// over once more only (after Contacthub's search has caught up with a
// customer created meanwhile, or after a failed job), and one that
// changes anew.

// UnlinkedRetention is how long an unlinked subscriber's opt-out is
// remembered; after it the next pass hands it over once more.
const UnlinkedRetention = 400 * 24 * time.Hour

const unlinkedType = "unlinked-opt-out"

func unlinkedPK(sourceID string) string { return "UNLINKED#" + sourceID }

// unlinkedSK orders subscriber ids as numbers: 20 digits hold any int64.
func unlinkedSK(subscriberID int64) string { return fmt.Sprintf("%020d", subscriberID) }

// UnlinkedOptOut is what was handed over of an unlinked subscriber.
type UnlinkedOptOut struct {
	// OptOut names the rows the subscriber was unsubscribed in; empty
	// once it subscribed again.
	OptOut string
	// Tries counts the hand-overs of this opt-out; At is the last one.
	Tries int64
	At    time.Time
}

// UnlinkedOptOuts returns the remembered opt-outs of the source's unlinked
// subscribers with ids from first to last, by subscriber id: one Query for
// a reconciliation page.
func (s *Store) UnlinkedOptOuts(ctx context.Context, sourceID string, first, last int64) (map[int64]UnlinkedOptOut, error) {
	if first > last || first < 0 {
		return nil, fmt.Errorf("ledger: unlinked opt-outs of source %s: bad range %d to %d", sourceID, first, last)
	}
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :first AND :last"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(unlinkedPK(sourceID)), ":first": str(unlinkedSK(first)), ":last": str(unlinkedSK(last)),
		},
		ProjectionExpression:     aws.String("sk, optOut, tries, #at, expiresAt"),
		ExpressionAttributeNames: map[string]string{"#at": "at"},
	}
	now := s.now().Unix()
	out := make(map[int64]UnlinkedOptOut)
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ledger: unlinked opt-outs %d to %d of source %s: %w", first, last, sourceID, err)
		}
		for _, item := range page.Items {
			if exp := getN(item, "expiresAt"); exp > 0 && exp <= now {
				continue // expired; DynamoDB deletes it lazily
			}
			id, err := strconv.ParseInt(getS(item, "sk"), 10, 64)
			if err != nil {
				continue
			}
			at, _ := time.Parse(time.RFC3339Nano, getS(item, "at"))
			out[id] = UnlinkedOptOut{OptOut: getS(item, "optOut"), Tries: getN(item, "tries"), At: at}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// RememberUnlinkedOptOut records the opt-out the reconciliation handed
// over for an unlinked subscriber, for the tries-th time, at at (the
// reconciliation's time, which it later compares with).
func (s *Store) RememberUnlinkedOptOut(ctx context.Context, sourceID string, subscriberID int64, optOut string, tries int64, at time.Time) error {
	now := at
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: map[string]types.AttributeValue{
		"pk": str(unlinkedPK(sourceID)), "sk": str(unlinkedSK(subscriberID)), "type": str(unlinkedType),
		"sourceId": str(sourceID), "subscriberId": num(subscriberID), "optOut": str(optOut), "tries": num(tries),
		"at": str(now.UTC().Format(time.RFC3339Nano)), "expiresAt": num(now.Add(UnlinkedRetention).Unix()),
	}})
	if err != nil {
		return fmt.Errorf("ledger: remember the opt-out of unlinked subscriber %d of source %s: %w", subscriberID, sourceID, err)
	}
	return nil
}
