// Package ledger keeps the sync ledger in DynamoDB: per source and customer,
// what hubsend last wrote to Contactsend (the subscriber, a hash of the
// mapped attributes), the failed records an operator can see and replay,
// and hourly sync counters. Every write is a single-item write; ledger
// entries change only conditionally on the version read (optimistic
// concurrency), so two workers syncing one customer cannot interleave.
package ledger

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the part of the DynamoDB client the ledger uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Errors callers branch on.
var (
	// ErrConflict means the entry changed since it was read: another
	// worker got there first. Read again and decide again.
	ErrConflict = errors.New("ledger entry changed since it was read")
	ErrNotFound = errors.New("not found")
	// ErrBadCursor means a cursor was not one Failures handed out for
	// this source.
	ErrBadCursor = errors.New("invalid cursor")
)

// Store reads and writes ledger items in the single table.
type Store struct {
	db    DynamoDB
	table string
	now   func() time.Time
}

// Option adjusts a Store.
type Option func(*Store)

// WithClock makes the store read time from now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a ledger on table.
func New(db DynamoDB, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Item keys. Every prefix is the ledger's own; the configuration store
// owns SOURCE#, GUARD#, WORKSPACE#, WS# and ENABLED.
func entryPK(sourceID string) string   { return "LEDGER#" + sourceID }
func entrySK(customerID string) string { return "CUSTOMER#" + customerID }
func failurePK(sourceID string) string { return "FAILED#" + sourceID }
func statsPK(sourceID string) string   { return "STATS#" + sourceID }
func subscriberGSI(sourceID string, id int64) string {
	return "SUBSCRIBER#" + sourceID + "#" + strconv.FormatInt(id, 10)
}

const (
	gsiSK       = "LEDGER"
	typeEntry   = "ledger"
	typeFailure = "failure"
	typeStats   = "stats"
)

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func boolean(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Attribute readers tolerate absent attributes: items grow fields over time.

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func getBool(item map[string]types.AttributeValue, name string) bool {
	if v, ok := item[name].(*types.AttributeValueMemberBOOL); ok {
		return v.Value
	}
	return false
}

func getTime(item map[string]types.AttributeValue, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, getS(item, name))
	return t
}

func (s *Store) get(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}
