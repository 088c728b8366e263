// Package runs keeps the run history of each source: every scheduler pass
// that enqueued jobs (a change-feed tick, a backfill or resync step, a
// reconciliation step) is a run, with its start, end and trigger, the
// customers it read, and what the sync worker then made of its jobs
// (changed, unchanged, failed, skipped, retried; Contactsend and Contacthub
// calls).
//
// The scheduler writes a run once, when its pass ends; the worker adds its
// outcomes once per batch and run. Both are upserts of one item, so their
// order does not matter. A pass that enqueued nothing and failed in
// nothing is not recorded. Runs expire by TTL after Retention.
//
// Counting is per job run: a job given back and run again counts as
// retried, then as what it finally became; copies of one customer's job
// in one batch run once, for the run of the first copy.
package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/pagetoken"
)

// Retention is how long runs are kept.
const Retention = 35 * 24 * time.Hour

// Triggers of runs.
const (
	Feed      = "feed"
	Backfill  = "backfill"
	Reconcile = "reconcile"
)

// Run is one pass and what came of its jobs.
type Run struct {
	SourceID string `json:"-"`
	// ID sorts by start time: the start, the trigger and a random suffix.
	ID        string    `json:"id"`
	Trigger   string    `json:"trigger"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	// Read counts the customers (or subscribers) the pass enqueued.
	Read  int64  `json:"read"`
	Error string `json:"error,omitempty"`
	Outcomes
}

// Outcomes is what the worker made of a run's jobs.
type Outcomes struct {
	Changed   int64 `json:"changed"`
	Unchanged int64 `json:"unchanged"`
	Failed    int64 `json:"failed"`
	Skipped   int64 `json:"skipped"`
	// Retried counts jobs given back to the queue (each comes again).
	Retried   int64 `json:"retried"`
	SendCalls int64 `json:"contactsendCalls"`
	HubCalls  int64 `json:"contacthubCalls"`
}

// Zero reports whether nothing was counted.
func (o Outcomes) Zero() bool { return o == Outcomes{} }

// NewID returns the id of a run of trigger starting at start.
func NewID(start time.Time, trigger string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return start.UTC().Format(idLayout) + "-" + trigger + "-" + hex.EncodeToString(b)
}

// idLayout is fixed-width, so ids sort by time.
const idLayout = "20060102T150405.000Z"

// ValidID reports whether id could be one NewID made; the worker takes
// ids from queue messages and never writes a key it did not expect.
func ValidID(id string) bool {
	if len(id) < len(idLayout)+3 || len(id) > 64 {
		return false
	}
	_, err := time.Parse(idLayout, id[:len(idLayout)])
	if err != nil {
		return false
	}
	for _, c := range id[len(idLayout):] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// DynamoDB is the part of the DynamoDB client runs use.
type DynamoDB interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store writes and reads runs in the single table.
type Store struct {
	db    DynamoDB
	table string
}

// New returns the run history on table.
func New(db DynamoDB, table string) *Store { return &Store{db: db, table: table} }

func partition(sourceID string) string { return "RUNS#" + sourceID }

const typeRun = "run"

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func expires(id string) int64 {
	start, err := time.Parse(idLayout, id[:min(len(id), len(idLayout))])
	if err != nil {
		start = time.Now()
	}
	return start.Add(Retention).Unix()
}

// Record stores a pass when it ends (one UpdateItem).
func (st *Store) Record(ctx context.Context, r Run) error {
	if r.SourceID == "" || !ValidID(r.ID) {
		return fmt.Errorf("runs: record: a source id and a run id from NewID are required")
	}
	values := map[string]types.AttributeValue{
		":type": s(typeRun), ":trigger": s(r.Trigger), ":started": s(r.StartedAt.UTC().Format(time.RFC3339Nano)),
		":ended": s(r.EndedAt.UTC().Format(time.RFC3339Nano)), ":read": n(r.Read), ":expires": n(expires(r.ID)),
	}
	update := "SET #type = :type, #trigger = :trigger, startedAt = :started, endedAt = :ended, expiresAt = :expires ADD #read :read"
	if r.Error != "" {
		values[":error"] = s(truncate(r.Error, 1000))
		update = strings.Replace(update, " ADD", ", #error = :error ADD", 1)
	}
	names := map[string]string{"#type": "type", "#trigger": "trigger", "#read": "read"}
	if r.Error != "" {
		names["#error"] = "error"
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: map[string]types.AttributeValue{"pk": s(partition(r.SourceID)), "sk": s(r.ID)},
		UpdateExpression: &update, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("runs: record %s of %s: %w", r.ID, r.SourceID, err)
	}
	return nil
}

// AddOutcomes adds what a batch made of a run's jobs (one UpdateItem).
func (st *Store) AddOutcomes(ctx context.Context, sourceID, runID string, o Outcomes) error {
	if !ValidID(runID) {
		return fmt.Errorf("runs: add outcomes: invalid run id")
	}
	update := "SET #type = :type, expiresAt = if_not_exists(expiresAt, :expires) " +
		"ADD changed :changed, unchanged :unchanged, failed :failed, skipped :skipped, retried :retried, sendCalls :send, hubCalls :hub"
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: map[string]types.AttributeValue{"pk": s(partition(sourceID)), "sk": s(runID)},
		UpdateExpression:         &update,
		ExpressionAttributeNames: map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":type": s(typeRun), ":expires": n(expires(runID)),
			":changed": n(o.Changed), ":unchanged": n(o.Unchanged), ":failed": n(o.Failed), ":skipped": n(o.Skipped),
			":retried": n(o.Retried), ":send": n(o.SendCalls), ":hub": n(o.HubCalls),
		},
	})
	if err != nil {
		return fmt.Errorf("runs: add outcomes to %s of %s: %w", runID, sourceID, err)
	}
	return nil
}

// Page is one page of runs, newest first.
type Page struct {
	Runs []Run
	Next string
}

// ErrBadCursor means a cursor was not one List handed out for the source.
var ErrBadCursor = errors.New("invalid cursor")

type cursor struct {
	Source string `json:"s"`
	Key    string `json:"k"`
}

// List returns a source's runs, newest first; limit zero means 50.
func (st *Store) List(ctx context.Context, sourceID string, limit int, after string) (Page, error) {
	if limit <= 0 {
		limit = 50
	}
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(partition(sourceID))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(min(limit, 500))),
	}
	if after != "" {
		var c cursor
		err := pagetoken.Decode(after, &c)
		if err != nil || c.Source != sourceID || !ValidID(c.Key) {
			return Page{}, fmt.Errorf("runs: runs of %s: %w", sourceID, ErrBadCursor)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{"pk": s(partition(sourceID)), "sk": s(c.Key)}
	}
	out, err := st.db.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("runs: runs of %s: %w", sourceID, err)
	}
	now := time.Now().Unix()
	page := Page{Runs: make([]Run, 0, len(out.Items))}
	for _, item := range out.Items {
		if exp := getN(item, "expiresAt"); exp > 0 && exp <= now {
			continue
		}
		r := Run{
			SourceID: sourceID, ID: getS(item, "sk"), Trigger: getS(item, "trigger"), Read: getN(item, "read"), Error: getS(item, "error"),
			Outcomes: Outcomes{
				Changed: getN(item, "changed"), Unchanged: getN(item, "unchanged"), Failed: getN(item, "failed"), Skipped: getN(item, "skipped"),
				Retried: getN(item, "retried"), SendCalls: getN(item, "sendCalls"), HubCalls: getN(item, "hubCalls"),
			},
		}
		r.StartedAt, _ = time.Parse(time.RFC3339Nano, getS(item, "startedAt"))
		r.EndedAt, _ = time.Parse(time.RFC3339Nano, getS(item, "endedAt"))
		if r.Trigger == "" {
			// Outcomes landed before the scheduler recorded the pass.
			if parts := strings.Split(r.ID, "-"); len(parts) >= 3 {
				r.Trigger = parts[len(parts)-2]
			}
		}
		page.Runs = append(page.Runs, r)
	}
	if last, ok := out.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS); ok {
		page.Next = pagetoken.Encode(cursor{Source: sourceID, Key: last.Value})
	}
	return page, nil
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		x, _ := strconv.ParseInt(v.Value, 10, 64)
		return x
	}
	return 0
}

func truncate(v string, max int) string {
	if len(v) <= max {
		return v
	}
	return strings.ToValidUTF8(v[:max], "") + "…"
}
