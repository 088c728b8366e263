package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StatsRetention is how long hourly counters are kept.
const StatsRetention = 8 * 24 * time.Hour

// bucketLayout names an hour bucket, e.g. 2026-11-27T10 (UTC).
const bucketLayout = "2006-01-02T15"

// Counts are sync outcomes.
type Counts struct {
	Synced    int64 // subscribers added or updated
	Unchanged int64 // nothing to write (no-op skip)
	Failed    int64 // failed records written
	Removed   int64 // subscribers removed: their customers were deleted in Contacthub
	Skipped   int64 // customers outside the source's node, or skipped for a reason below
	Retried   int64 // jobs given back to SQS after a transient error
	// Kept and Unsubscribed count the other delete policies' effects: a
	// deleted customer's subscriber left as it was, or unsubscribed from
	// the source's subscriptions.
	Kept         int64
	Unsubscribed int64
	// Unmatchable counts the skipped customers without a match value.
	Unmatchable int64
}

// Add returns c + d.
func (c Counts) Add(d Counts) Counts {
	return Counts{
		Synced: c.Synced + d.Synced, Unchanged: c.Unchanged + d.Unchanged, Failed: c.Failed + d.Failed,
		Removed: c.Removed + d.Removed, Skipped: c.Skipped + d.Skipped, Retried: c.Retried + d.Retried,
		Kept: c.Kept + d.Kept, Unsubscribed: c.Unsubscribed + d.Unsubscribed, Unmatchable: c.Unmatchable + d.Unmatchable,
	}
}

// Zero reports whether nothing was counted.
func (c Counts) Zero() bool { return c == Counts{} }

// Batch is what one SQS batch did for one source, written at once.
type Batch struct {
	Counts
	// LastError is the last error's readable text, empty when none.
	LastError   string
	ProcessedAt time.Time
	// JobLatency is the longest time a job of the batch waited between
	// being enqueued and being done.
	JobLatency time.Duration
}

// Bucket is one hour's counters.
type Bucket struct {
	Hour time.Time
	Counts
}

// Stats sums a source's recent buckets.
type Stats struct {
	Counts
	Buckets         []Bucket // oldest first
	LastError       string
	LastErrorAt     time.Time
	LastProcessedAt time.Time
	LastJobLatency  time.Duration
	// LastHealthyAt is the last batch that did work (a job synced,
	// unchanged, removed or skipped) without any error: once it is after
	// LastErrorAt, the last error is resolved.
	LastHealthyAt time.Time
}

// Resolved reports whether the source was healthy again after its last
// error.
func (s Stats) Resolved() bool {
	return !s.LastErrorAt.IsZero() && s.LastHealthyAt.After(s.LastErrorAt)
}

// AddStats adds a batch's counters to its hour bucket in one write.
func (s *Store) AddStats(ctx context.Context, sourceID string, b Batch) error {
	at := b.ProcessedAt
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	values := map[string]types.AttributeValue{
		":type": str(typeStats), ":source": str(sourceID), ":at": str(timeText(at)),
		":latency": num(b.JobLatency.Milliseconds()), ":expires": num(at.Add(StatsRetention).Unix()),
		":synced": num(b.Synced), ":unchanged": num(b.Unchanged), ":failed": num(b.Failed),
		":removed": num(b.Removed), ":skipped": num(b.Skipped), ":retried": num(b.Retried),
		":kept": num(b.Kept), ":unsubscribed": num(b.Unsubscribed), ":unmatchable": num(b.Unmatchable),
	}
	update := "SET #type = :type, sourceId = :source, lastProcessedAt = :at, lastJobLatencyMs = :latency, expiresAt = :expires"
	if b.LastError != "" {
		values[":error"] = str(truncate(b.LastError, MaxReasonLen))
		update += ", lastError = :error, lastErrorAt = :at"
	} else if b.Synced+b.Unchanged+b.Removed+b.Skipped > 0 && b.Retried == 0 && b.Failed == 0 {
		update += ", lastHealthyAt = :at"
	}
	update += " ADD synced :synced, unchanged :unchanged, failed :failed, removed :removed, skipped :skipped, retried :retried, kept :kept, unsubscribed :unsubscribed, unmatchable :unmatchable"
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(statsPK(sourceID), at.Format(bucketLayout)),
		UpdateExpression:          &update,
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("ledger: add stats of %s: %w", sourceID, err)
	}
	return nil
}

// Stats sums the buckets of a source from the hour holding since until
// now. Expired buckets are ignored (TTL deletion is lazy).
func (s *Store) Stats(ctx context.Context, sourceID string, since time.Time) (Stats, error) {
	now := s.now()
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND sk >= :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(statsPK(sourceID)), ":from": str(since.UTC().Format(bucketLayout)),
		},
	}
	var st Stats
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Stats{}, fmt.Errorf("ledger: stats of %s: %w", sourceID, err)
		}
		for _, item := range out.Items {
			if exp := getN(item, "expiresAt"); exp > 0 && exp <= now.Unix() {
				continue
			}
			hour, _ := time.Parse(bucketLayout, getS(item, "sk"))
			c := Counts{
				Synced: getN(item, "synced"), Unchanged: getN(item, "unchanged"), Failed: getN(item, "failed"),
				Removed: getN(item, "removed"), Skipped: getN(item, "skipped"), Retried: getN(item, "retried"),
				Kept: getN(item, "kept"), Unsubscribed: getN(item, "unsubscribed"), Unmatchable: getN(item, "unmatchable"),
			}
			st.Counts = st.Counts.Add(c)
			st.Buckets = append(st.Buckets, Bucket{Hour: hour, Counts: c})
			if at := getTime(item, "lastProcessedAt"); at.After(st.LastProcessedAt) {
				st.LastProcessedAt = at
				st.LastJobLatency = time.Duration(getN(item, "lastJobLatencyMs")) * time.Millisecond
			}
			if at := getTime(item, "lastErrorAt"); at.After(st.LastErrorAt) {
				st.LastErrorAt, st.LastError = at, getS(item, "lastError")
			}
			if at := getTime(item, "lastHealthyAt"); at.After(st.LastHealthyAt) {
				st.LastHealthyAt = at
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return st, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WaitingLinger is how long a waiting mark outlives the retry it announces:
// longer than any redelivery delay and the queue's visibility timeout, so a
// job still alive is marked again before its mark expires, and a job that
// went to the dead-letter queue stops counting after it.
const WaitingLinger = 15 * time.Minute

func waitingPK(sourceID string) string { return "WAITING#" + sourceID }

const typeWaiting = "waiting"

// WaitingJob is a job given back to the queue after a transient failure:
// Key names its customer (or subscriber), NextRetryAt when the queue
// delivers it again.
type WaitingJob struct {
	Key         string
	NextRetryAt time.Time
}

// Waiting is how many of a source's jobs wait to be retried, and when the
// next retry is due.
type Waiting struct {
	Count       int
	NextRetryAt time.Time
}

// MarkWaiting records jobs given back, one item per customer, so that a
// job given back again replaces its mark.
func (s *Store) MarkWaiting(ctx context.Context, sourceID string, jobs []WaitingJob) error {
	for _, j := range jobs {
		item := key(waitingPK(sourceID), j.Key)
		item["type"] = str(typeWaiting)
		item["nextRetryAt"] = str(timeText(j.NextRetryAt))
		item["expiresAt"] = num(j.NextRetryAt.Add(WaitingLinger).Unix())
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
			return fmt.Errorf("ledger: mark waiting job of %s: %w", sourceID, err)
		}
	}
	return nil
}

// ClearWaiting removes the marks of jobs that were retried and are done.
func (s *Store) ClearWaiting(ctx context.Context, sourceID string, keys []string) error {
	for _, k := range keys {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(waitingPK(sourceID), k)}); err != nil {
			return fmt.Errorf("ledger: clear waiting job of %s: %w", sourceID, err)
		}
	}
	return nil
}

// Waiting counts the source's waiting jobs whose marks have not expired.
func (s *Store) Waiting(ctx context.Context, sourceID string) (Waiting, error) {
	now := s.now()
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(waitingPK(sourceID))},
		ProjectionExpression:      aws.String("nextRetryAt, expiresAt"),
	}
	var w Waiting
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Waiting{}, fmt.Errorf("ledger: waiting jobs of %s: %w", sourceID, err)
		}
		for _, item := range out.Items {
			if exp := getN(item, "expiresAt"); exp > 0 && exp <= now.Unix() {
				continue
			}
			w.Count++
			at := getTime(item, "nextRetryAt")
			if w.NextRetryAt.IsZero() || at.Before(w.NextRetryAt) {
				w.NextRetryAt = at
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return w, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
