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
	RunID  string         `json:"runId"`
	Status BackfillStatus `json:"status"`
	// NextPage is the first page of the customer list not yet enqueued.
	NextPage int `json:"nextPage"`
	// Enqueued counts the jobs this run has enqueued (a page read twice
	// counts twice).
	Enqueued int64 `json:"enqueued"`
	// Total is the node's customer count as of the latest page read.
	Total       int64     `json:"total"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
	UpdatedBy   string    `json:"updatedBy,omitempty"`
	Version     int64     `json:"version"`
}

type backfillItem struct {
	PK          string    `dynamodbav:"pk"`
	SK          string    `dynamodbav:"sk"`
	Type        string    `dynamodbav:"type"`
	SourceID    string    `dynamodbav:"sourceId"`
	RunID       string    `dynamodbav:"runId"`
	Status      string    `dynamodbav:"status"`
	NextPage    int       `dynamodbav:"nextPage"`
	Enqueued    int64     `dynamodbav:"enqueued"`
	Total       int64     `dynamodbav:"total"`
	StartedAt   time.Time `dynamodbav:"startedAt,omitempty"`
	FinishedAt  time.Time `dynamodbav:"finishedAt,omitempty"`
	LastError   string    `dynamodbav:"lastError,omitempty"`
	LastErrorAt time.Time `dynamodbav:"lastErrorAt,omitempty"`
	UpdatedAt   time.Time `dynamodbav:"updatedAt,omitempty"`
	UpdatedBy   string    `dynamodbav:"updatedBy,omitempty"`
	Version     int64     `dynamodbav:"version"`
}

func (item backfillItem) backfill() Backfill {
	return Backfill{
		RunID: item.RunID, Status: BackfillStatus(item.Status), NextPage: item.NextPage, Enqueued: item.Enqueued,
		Total: item.Total, StartedAt: item.StartedAt, FinishedAt: item.FinishedAt, LastError: item.LastError,
		LastErrorAt: item.LastErrorAt, UpdatedAt: item.UpdatedAt, UpdatedBy: item.UpdatedBy, Version: item.Version,
	}
}

// Backfill returns the source's backfill checkpoint and whether one exists.
func (s *Store) Backfill(ctx context.Context, sourceID string) (Backfill, bool, error) {
	var item backfillItem
	found, err := s.get(ctx, sourceID, backfillSK, &item)
	if err != nil || !found {
		return Backfill{}, found, err
	}
	return item.backfill(), true, nil
}

// SaveBackfill stores b if the stored checkpoint still has b.Version and
// returns it with its new version; otherwise it returns ErrConflict.
func (s *Store) SaveBackfill(ctx context.Context, sourceID string, b Backfill) (Backfill, error) {
	item := backfillItem{
		PK: partition(sourceID), SK: backfillSK, Type: "checkpoint-backfill", SourceID: sourceID,
		RunID: b.RunID, Status: string(b.Status), NextPage: b.NextPage, Enqueued: b.Enqueued, Total: b.Total,
		StartedAt: b.StartedAt.UTC(), FinishedAt: b.FinishedAt.UTC(), LastError: b.LastError,
		LastErrorAt: b.LastErrorAt.UTC(), UpdatedAt: b.UpdatedAt.UTC(), UpdatedBy: b.UpdatedBy, Version: b.Version + 1,
	}
	if err := s.put(ctx, sourceID, backfillSK, item, b.Version); err != nil {
		return b, err
	}
	b.Version++
	return b, nil
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
	var item backfillItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &item); err != nil {
		return Backfill{}, fmt.Errorf("decode backfill of source %s: %w", sourceID, err)
	}
	return item.backfill(), nil
}
