package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BackfillStatus says whether a backfill still has pages to enqueue.
type BackfillStatus string

// Backfill states.
const (
	BackfillRunning BackfillStatus = "running"
	BackfillDone    BackfillStatus = "done"
)

// Backfill is the progress of enumerating every customer of a source's node.
type Backfill struct {
	// RunID names one backfill run, so a restart is told apart from the run
	// it replaced.
	RunID  string         `json:"runId" dynamodbav:"runId"`
	Status BackfillStatus `json:"status" dynamodbav:"status"`
	// NextPage is the first page of the customer list not yet enqueued.
	NextPage int `json:"nextPage" dynamodbav:"nextPage"`
	// Enqueued counts the jobs this run has enqueued (a page read twice
	// counts twice).
	Enqueued int64 `json:"enqueued" dynamodbav:"enqueued"`
	// Total is the node's customer count as of the latest page read.
	Total       int64     `json:"total" dynamodbav:"total"`
	StartedAt   time.Time `json:"startedAt,omitzero" dynamodbav:"startedAt,omitempty"`
	FinishedAt  time.Time `json:"finishedAt,omitzero" dynamodbav:"finishedAt,omitempty"`
	LastError   string    `json:"lastError,omitempty" dynamodbav:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero" dynamodbav:"lastErrorAt,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero" dynamodbav:"updatedAt,omitempty"`
	UpdatedBy   string    `json:"updatedBy,omitempty" dynamodbav:"updatedBy,omitempty"`
	Version     int64     `json:"version" dynamodbav:"version"`
}

// Backfill returns the source's backfill checkpoint and whether one exists.
func (s *Store) Backfill(ctx context.Context, sourceID string) (Backfill, bool, error) {
	return load[Backfill](ctx, s, sourceID, backfillSK)
}

// SaveBackfill stores b if the stored checkpoint still has b.Version and
// returns it with its new version; otherwise it returns ErrConflict.
func (s *Store) SaveBackfill(ctx context.Context, sourceID string, b Backfill) (Backfill, error) {
	next := b
	next.Version++
	if err := s.put(ctx, sourceID, backfillSK, "checkpoint-backfill", next, b.Version); err != nil {
		return b, err
	}
	return next, nil
}

// StartBackfill begins run runID from page 0, replacing any earlier run,
// finished or not. It needs no lease: it bumps the version, so a scheduler
// run still working on the replaced run fails its next save with
// ErrConflict and leaves the new run alone.
func (s *Store) StartBackfill(ctx context.Context, sourceID, runID string, now time.Time) (Backfill, error) {
	at, err := attributevalue.Marshal(now.UTC())
	if err != nil {
		return Backfill{}, fmt.Errorf("encode backfill start: %w", err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       key(sourceID, backfillSK),
		UpdateExpression: aws.String("SET #type = :type, sourceId = :source, runId = :run, #status = :running, " +
			"nextPage = :zero, enqueued = :zero, #total = :zero, startedAt = :at, updatedAt = :at, updatedBy = :by " +
			"REMOVE finishedAt, lastError, lastErrorAt ADD version :one"),
		ExpressionAttributeNames: map[string]string{"#type": "type", "#status": "status", "#total": "total"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":type":    &types.AttributeValueMemberS{Value: "checkpoint-backfill"},
			":source":  &types.AttributeValueMemberS{Value: sourceID},
			":run":     &types.AttributeValueMemberS{Value: runID},
			":running": &types.AttributeValueMemberS{Value: string(BackfillRunning)},
			":zero":    &types.AttributeValueMemberN{Value: "0"},
			":one":     &types.AttributeValueMemberN{Value: "1"},
			":at":      at,
			":by":      &types.AttributeValueMemberS{Value: "start:" + runID},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return Backfill{}, fmt.Errorf("start backfill of source %s: %w", sourceID, err)
	}
	var b Backfill
	if err := attributevalue.UnmarshalMap(out.Attributes, &b); err != nil {
		return Backfill{}, fmt.Errorf("decode backfill of source %s: %w", sourceID, err)
	}
	return b, nil
}
