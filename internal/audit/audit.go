// Package audit keeps the record of who changed what in a workspace: every
// change of a source or of the workspace's connection, with the person the
// token named, the time, and a diff in which a secret appears only as
// "changed". Records live in the shared DynamoDB table, newest first per
// workspace (and per source through gsi1), and expire after Retention.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Retention is how long a record is kept: 13 months and a little more, so
// a year-on-year review always finds last year's month whole.
const Retention = 400 * 24 * time.Hour

// Actions, one per kind of change.
const (
	SourceCreate        = "source.create"
	SourceReplace       = "source.replace"
	SourceEnable        = "source.enable"
	SourceDisable       = "source.disable"
	SourceDelete        = "source.delete"
	SourceWebhookSecret = "source.webhook-secret"
	SourceResync        = "source.resync"
	FailureRetry        = "failure.retry"
	WorkspaceConnection = "workspace.connection"
)

// Actor is who made a change.
type Actor struct {
	Subject string `json:"subject" dynamodbav:"subject"`
	Email   string `json:"email,omitempty" dynamodbav:"email,omitempty"`
}

// Change is one field that changed. A secret's values are never recorded:
// Secret says it changed.
type Change struct {
	Path   string `json:"path" dynamodbav:"path"`
	Before any    `json:"before,omitempty" dynamodbav:"before,omitempty"`
	After  any    `json:"after,omitempty" dynamodbav:"after,omitempty"`
	Secret bool   `json:"secret,omitempty" dynamodbav:"secret,omitempty"`
}

// Entry is one recorded change.
type Entry struct {
	ID         string    `json:"id" dynamodbav:"-"`
	Workspace  string    `json:"-" dynamodbav:"workspace"`
	At         time.Time `json:"at" dynamodbav:"at"`
	Actor      Actor     `json:"actor" dynamodbav:"actor"`
	Action     string    `json:"action" dynamodbav:"action"`
	SourceID   string    `json:"sourceId,omitempty" dynamodbav:"sourceId,omitempty"`
	CustomerID string    `json:"customerId,omitempty" dynamodbav:"customerId,omitempty"`
	Changes    []Change  `json:"changes" dynamodbav:"changes"`
}

// DynamoDB is the part of the client the log uses.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Log reads and writes audit records.
type Log struct {
	db    DynamoDB
	table string
	now   func() time.Time
}

// New returns a log on table.
func New(db DynamoDB, table string) *Log {
	return &Log{db: db, table: table, now: time.Now}
}

// ErrBadCursor means a cursor was not one this log handed out.
var ErrBadCursor = errors.New("invalid cursor")

func workspacePK(workspace string) string { return "AUDIT#" + workspace }
func sourceGSI(workspace, sourceID string) string {
	return "AUDIT#" + workspace + "#SOURCE#" + sourceID
}

// sortKey orders records by time; the random suffix keeps two records of
// one nanosecond apart. Fixed width, so text order is time order.
var sortKeyPattern = regexp.MustCompile(`^\d{19}#[0-9a-f]{16}$`)

func newSortKey(at time.Time) string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%019d#%s", at.UnixNano(), hex.EncodeToString(b))
}

type item struct {
	Entry
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	GSI1PK    string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK    string `dynamodbav:"gsi1sk,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// Record stores one entry; its time is now, its ID assigned here. It
// returns the entry with both even when the write fails: recording that
// entry again stores it at most once, though the failed write may have
// landed.
func (l *Log) Record(ctx context.Context, e Entry) (Entry, error) {
	if e.Workspace == "" || e.Action == "" {
		return Entry{}, errors.New("audit: a record needs a workspace and an action")
	}
	if e.ID == "" {
		e.At = l.now().UTC()
		e.ID = newSortKey(e.At)
	} else if !sortKeyPattern.MatchString(e.ID) {
		return Entry{}, fmt.Errorf("audit: %q is not a record id", e.ID)
	}
	if e.Changes == nil {
		e.Changes = []Change{}
	}
	it := item{Entry: e, PK: workspacePK(e.Workspace), SK: e.ID, Type: "audit",
		ExpiresAt: e.At.Add(Retention).Unix()}
	if e.SourceID != "" {
		it.GSI1PK, it.GSI1SK = sourceGSI(e.Workspace, e.SourceID), it.SK
	}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: encode: %w", err)
	}
	_, err = l.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.table), Item: av,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if ccf := (*types.ConditionalCheckFailedException)(nil); errors.As(err, &ccf) {
		return e, nil // an earlier write of this entry landed
	}
	if err != nil {
		return e, fmt.Errorf("audit: store %s: %w", e.Action, err)
	}
	return e, nil
}

// ListOptions page and filter a listing.
type ListOptions struct {
	SourceID string
	Limit    int
	Cursor   string
}

// Page is one page of records, newest first.
type Page struct {
	Entries []Entry
	Next    string
}

// List returns a workspace's records, newest first, optionally of one
// source only.
func (l *Log) List(ctx context.Context, workspace string, opts ListOptions) (Page, error) {
	if opts.Limit <= 0 || opts.Limit > 100 {
		opts.Limit = 50
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(l.table),
		KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: workspacePK(workspace)},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(opts.Limit)),
	}
	if opts.SourceID != "" {
		in.IndexName = aws.String("gsi1")
		in.KeyConditionExpression = aws.String("gsi1pk = :pk")
		in.ExpressionAttributeValues[":pk"] = &types.AttributeValueMemberS{Value: sourceGSI(workspace, opts.SourceID)}
	}
	if opts.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(opts.Cursor)
		if err != nil || !sortKeyPattern.Match(raw) {
			return Page{}, ErrBadCursor
		}
		// The start key is rebuilt from the workspace and filter of this
		// call: a cursor can only point inside what the caller may read.
		sk := string(raw)
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: workspacePK(workspace)},
			"sk": &types.AttributeValueMemberS{Value: sk},
		}
		if opts.SourceID != "" {
			in.ExclusiveStartKey["gsi1pk"] = &types.AttributeValueMemberS{Value: sourceGSI(workspace, opts.SourceID)}
			in.ExclusiveStartKey["gsi1sk"] = &types.AttributeValueMemberS{Value: sk}
		}
	}
	out, err := l.db.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("audit: list: %w", err)
	}
	page := Page{Entries: []Entry{}}
	now := l.now()
	for _, av := range out.Items {
		var it item
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return Page{}, fmt.Errorf("audit: decode: %w", err)
		}
		// TTL deletes lazily: an expired record is gone already.
		if it.ExpiresAt <= now.Unix() {
			continue
		}
		it.Entry.ID = it.SK
		page.Entries = append(page.Entries, it.Entry)
	}
	if sk, ok := out.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS); ok && len(out.Items) > 0 {
		page.Next = base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return page, nil
}
