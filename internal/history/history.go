// Package history keeps the consent audit trail: per source and customer,
// every sync decision hubsend took that changed something, newest first, so
// that an admin can answer months later why a person is (un)subscribed on
// either side and what hubsend wrote where.
//
// An entry is either a subscription decision (one subscription row: which
// side changed, each side's state before and after and its time, the rule
// that decided, what hubsend wrote, the trigger) or a compact data entry
// (which Contactsend fields a customer write changed, never their values:
// the trail holds no personal data beyond identifiers).
//
// Cost: one PutItem per entry, and entries are written only for decisions
// that change something. An unchanged job, and an echo (hubsend's own
// write coming back, dropped), write nothing: the echo is accounted for in
// the entry of the write it echoes, whose Echo says on which side the write
// comes back and that it is dropped there.
//
// Entries expire by DynamoDB TTL after the retention: DefaultRetention, or
// what the workspace chose (SetRetention), for entries written after.
package history

import (
	"context"
	"encoding/json"
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

// DefaultRetention is how long entries are kept: 13 months and a little,
// so that a year-on-year question still finds its answer.
const DefaultRetention = 400 * 24 * time.Hour

// Kind says what an entry records.
type Kind string

// The kinds of entries.
const (
	Subscription Kind = "subscription"
	Data         Kind = "data"
)

// Changed says which side a subscription decision reacted to.
type Changed string

// The sides a decision reacts to.
const (
	FirstSync   Changed = "first-sync"
	Contacthub  Changed = "contacthub"
	Contactsend Changed = "contactsend"
	Both        Changed = "both"
	// Neither: the decision followed the synced state (e.g. a pending
	// Contactsend status written as the unsubscribe Contacthub holds).
	Neither Changed = "neither"
)

// States of a side, as entries show them.
const (
	StateSubscribed   = "subscribed"
	StateUnsubscribed = "unsubscribed"
	StatePending      = "pending"  // Contactsend 0
	StateUnknown      = "unknown"  // Contactsend: a value hubsend does not know
	StateNone         = "none"     // Contacthub: no subscription object
	StateNotRead      = "not-read" // Contactsend not read: the ledger vouched for it
	StateGone         = "deleted"  // the customer was deleted in Contacthub
)

// Where hubsend wrote.
const (
	WroteContactsend = "contactsend"
	WroteContacthub  = "contacthub"
	WroteLedger      = "ledger" // the sides agreed; only the ledger learned it
)

// Entry is one decision.
type Entry struct {
	SourceID   string `json:"-"`
	CustomerID string `json:"customerId"`
	// LedgerVersion is the version of the customer's ledger entry the
	// decision wrote: it orders a customer's entries whatever the clocks
	// of the workers that took them say.
	LedgerVersion int64     `json:"-"`
	At            time.Time `json:"at"`
	Kind          Kind      `json:"kind"`
	// Trigger is why the job ran: the job's reason (webhook, send-webhook,
	// feed, backfill, reconcile, retry).
	Trigger      string `json:"trigger"`
	SubscriberID int64  `json:"subscriberId,omitempty"`

	// Subscription decisions.
	SubscriptionID string    `json:"subscriptionId,omitempty"`
	Changed        Changed   `json:"changed,omitempty"`
	HubBefore      string    `json:"hubBefore,omitempty"`
	HubAfter       string    `json:"hubAfter,omitempty"`
	HubAt          time.Time `json:"hubAt,omitzero"`
	SendBefore     string    `json:"sendBefore,omitempty"`
	SendAfter      string    `json:"sendAfter,omitempty"`
	SendAt         time.Time `json:"sendAt,omitzero"`
	Rule           string    `json:"rule,omitempty"`
	// Wrote is where hubsend wrote: contactsend, contacthub, or ledger.
	Wrote string `json:"wrote,omitempty"`
	// WebformCode is the web form code of the subscription system hubsend
	// wrote Contactsend through (modifySubscriberSubscriptionStatus): the
	// channel Contactsend records the consent under.
	WebformCode string `json:"webformCode,omitempty"`
	// Echo says the write will come back from that side as hubsend's own
	// change, and is dropped there without a write or an entry.
	Echo string `json:"echo,omitempty"`

	// Data entries: the Contactsend fields the write changed (names only)
	// and whether the subscriber was added.
	Fields []string `json:"fields,omitempty"`
	Added  bool     `json:"added,omitempty"`
}

// DynamoDB is the part of the DynamoDB client the trail uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// ErrBadCursor means a cursor was not one List handed out for the customer.
var ErrBadCursor = errors.New("invalid cursor")

// Store writes and reads entries in the single table.
type Store struct {
	db    DynamoDB
	table string
	now   func() time.Time
}

// New returns a trail on table.
func New(db DynamoDB, table string) *Store {
	return &Store{db: db, table: table, now: time.Now}
}

// WithClock returns a copy of the store reading time from now (for expiry
// checks on read).
func (s *Store) WithClock(now func() time.Time) *Store {
	c := *s
	c.now = now
	return &c
}

const typeHistory = "history"

func partition(sourceID, customerID string) string {
	return "HISTORY#" + sourceID + "#" + customerID
}

// Add stores entries, one PutItem each, kept for retention (zero means
// DefaultRetention). Sort keys are the ledger version the decision wrote,
// its time and its subscription row: a customer's decisions are ordered by
// the ledger's conditional writes, which no two workers share, and the
// rows of one decision by their id. Writing an entry again overwrites it.
func (s *Store) Add(ctx context.Context, retention time.Duration, entries ...Entry) error {
	if retention <= 0 {
		retention = DefaultRetention
	}
	for _, e := range entries {
		if e.SourceID == "" || e.CustomerID == "" || e.LedgerVersion <= 0 {
			return errors.New("history: add: source and customer ids and the ledger version are required")
		}
		if e.At.IsZero() {
			e.At = s.now()
		}
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("history: add: %w", err)
		}
		name := e.SubscriptionID
		if e.Kind == Data {
			name = "" // the data entry of a version sorts before its rows
		}
		item := map[string]types.AttributeValue{
			"pk":        &types.AttributeValueMemberS{Value: partition(e.SourceID, e.CustomerID)},
			"sk":        &types.AttributeValueMemberS{Value: fmt.Sprintf("%016d#%s#%s", e.LedgerVersion, e.At.UTC().Format(sortLayout), name)},
			"type":      &types.AttributeValueMemberS{Value: typeHistory},
			"entry":     &types.AttributeValueMemberS{Value: string(data)},
			"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(e.At.Add(retention).Unix(), 10)},
		}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
			return fmt.Errorf("history: add entry of %s/%s: %w", e.SourceID, e.CustomerID, err)
		}
	}
	return nil
}

// sortLayout orders entries by time as text (fixed width, UTC).
const sortLayout = "2006-01-02T15:04:05.000000000Z"

// Page is one page of a customer's trail, newest first. Next is the cursor
// of the following page, empty on the last.
type Page struct {
	Entries []Entry
	Next    string
}

// Listing limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

type cursor struct {
	Source   string `json:"s"`
	Customer string `json:"c"`
	Key      string `json:"k"`
}

// List returns a customer's entries, newest first, limit at a time (zero
// means DefaultLimit), from after ("" for the first page). Expired entries
// TTL has not deleted yet are left out.
func (s *Store) List(ctx context.Context, sourceID, customerID string, limit int, after string) (Page, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	pk := partition(sourceID, customerID)
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if after != "" {
		var c cursor
		err := pagetoken.Decode(after, &c)
		if err != nil || c.Source != sourceID || c.Customer != customerID || c.Key == "" {
			return Page{}, fmt.Errorf("history: entries of %s/%s: %w", sourceID, customerID, ErrBadCursor)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: c.Key},
		}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("history: entries of %s/%s: %w", sourceID, customerID, err)
	}
	now := s.now().Unix()
	page := Page{Entries: make([]Entry, 0, len(out.Items))}
	for _, item := range out.Items {
		if exp, ok := item["expiresAt"].(*types.AttributeValueMemberN); ok {
			if n, _ := strconv.ParseInt(exp.Value, 10, 64); n > 0 && n <= now {
				continue
			}
		}
		raw, _ := item["entry"].(*types.AttributeValueMemberS)
		if raw == nil {
			continue
		}
		var e Entry
		if err := json.Unmarshal([]byte(raw.Value), &e); err != nil {
			return Page{}, fmt.Errorf("history: entry of %s/%s unreadable: %w", sourceID, customerID, err)
		}
		e.SourceID = sourceID
		page.Entries = append(page.Entries, e)
	}
	if last, ok := out.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS); ok {
		page.Next = pagetoken.Encode(cursor{Source: sourceID, Customer: customerID, Key: last.Value})
	}
	return page, nil
}

// All returns every entry of a customer, newest first (for the CSV export
// and tests).
func (s *Store) All(ctx context.Context, sourceID, customerID string) ([]Entry, error) {
	var out []Entry
	after := ""
	for {
		p, err := s.List(ctx, sourceID, customerID, MaxLimit, after)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Entries...)
		if p.Next == "" {
			return out, nil
		}
		after = p.Next
	}
}

// CSVHeader is the header row of a trail's CSV export.
var CSVHeader = []string{"at", "kind", "trigger", "subscriptionId", "changed", "hubBefore", "hubAfter", "hubAt",
	"sendBefore", "sendAfter", "sendAt", "rule", "wrote", "echo", "fields", "added", "subscriberId", "webformCode"}

// CSVRecord is an entry as a CSV row under CSVHeader.
func (e Entry) CSVRecord() []string {
	t := func(at time.Time) string {
		if at.IsZero() {
			return ""
		}
		return at.UTC().Format(time.RFC3339Nano)
	}
	sub := ""
	if e.SubscriberID != 0 {
		sub = strconv.FormatInt(e.SubscriberID, 10)
	}
	return []string{t(e.At), string(e.Kind), e.Trigger, e.SubscriptionID, string(e.Changed), e.HubBefore, e.HubAfter, t(e.HubAt),
		e.SendBefore, e.SendAfter, t(e.SendAt), e.Rule, e.Wrote, e.Echo, strings.Join(e.Fields, " "), strconv.FormatBool(e.Added), sub, e.WebformCode}
}

// Retention bounds a workspace may choose: at least a month, at most ten
// years.
const (
	MinRetentionDays = 30
	MaxRetentionDays = 3650
)

// ErrRetention says a retention is out of bounds.
var ErrRetention = fmt.Errorf("retention must be from %d to %d days", MinRetentionDays, MaxRetentionDays)

func settingsKey(workspace string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "HISTORY-SETTINGS#" + workspace},
		"sk": &types.AttributeValueMemberS{Value: "ITEM"},
	}
}

// Retention returns how long a workspace keeps its trail: its own choice,
// or DefaultRetention.
func (s *Store) Retention(ctx context.Context, workspace string) (time.Duration, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: settingsKey(workspace)})
	if err != nil {
		return 0, fmt.Errorf("history: retention of workspace %s: %w", workspace, err)
	}
	if v, ok := out.Item["retentionDays"].(*types.AttributeValueMemberN); ok {
		if days, err := strconv.Atoi(v.Value); err == nil && days >= MinRetentionDays && days <= MaxRetentionDays {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	return DefaultRetention, nil
}

// SetRetention stores a workspace's retention. Entries already written
// keep the expiry they were written with.
func (s *Store) SetRetention(ctx context.Context, workspace string, days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		return ErrRetention
	}
	item := settingsKey(workspace)
	item["type"] = &types.AttributeValueMemberS{Value: "history-settings"}
	item["retentionDays"] = &types.AttributeValueMemberN{Value: strconv.Itoa(days)}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("history: set the retention of workspace %s: %w", workspace, err)
	}
	return nil
}
