package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/pagetoken"
)

// FailureKind says why a customer could not be synced.
type FailureKind string

// The kinds of failed records.
const (
	// Coercion: a Contacthub value does not fit its Contactsend field.
	Coercion FailureKind = "coercion"
	// Rejected: Contactsend refused the subscriber.
	Rejected FailureKind = "rejected"
	// Other: any other permanent failure.
	Other FailureKind = "other"
)

// Failure is a failed record: a customer that cannot be synced until its
// data, the mapping or the configuration changes.
type Failure struct {
	SourceID   string
	CustomerID string
	// Reason is readable by an admin: which field and why, or what
	// Contactsend answered.
	Reason        string
	Kind          FailureKind
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	Attempts      int64
	// JobReason is why the last failing job was made (webhook, feed, ...).
	JobReason string
	// Email, FirstName and LastName name the customer for the admin who
	// reads the record, as the failing job read it; empty when the job
	// failed before reading the customer, and kept from an earlier failure
	// then.
	Email     string
	FirstName string
	LastName  string
}

// MaxNameLen bounds each stored customer name and e-mail.
const MaxNameLen = 320

// MaxReasonLen bounds a stored reason; Contactsend faults can be long.
const MaxReasonLen = 2000

// RecordFailure stores (or updates) the failed record of a customer and
// marks its ledger entry failed, so that the next success clears it. The
// first failure time and the attempt count accumulate.
func (s *Store) RecordFailure(ctx context.Context, f Failure) error {
	if f.SourceID == "" || f.CustomerID == "" {
		return fmt.Errorf("ledger: record failure: source and customer ids are required")
	}
	at := f.LastFailedAt
	if at.IsZero() {
		at = s.now()
	}
	if f.Kind == "" {
		f.Kind = Other
	}
	reason := truncate(f.Reason, MaxReasonLen)
	update := "SET #type = :type, sourceId = :source, customerId = :customer, reason = :reason, kind = :kind, " +
		"lastFailedAt = :at, firstFailedAt = if_not_exists(firstFailedAt, :at), jobReason = :job"
	values := map[string]types.AttributeValue{
		":type": str(typeFailure), ":source": str(f.SourceID), ":customer": str(f.CustomerID),
		":reason": str(reason), ":kind": str(string(f.Kind)), ":at": str(timeText(at)),
		":job": str(f.JobReason), ":one": num(1),
	}
	// The customer's names are written only when the job read the
	// customer: a failure before the read keeps what an earlier one stored.
	var remove []string
	if f.Email != "" || f.FirstName != "" || f.LastName != "" {
		for _, m := range []struct{ name, value string }{{"email", f.Email}, {"firstName", f.FirstName}, {"lastName", f.LastName}} {
			if m.value == "" {
				remove = append(remove, m.name)
				continue
			}
			update += ", " + m.name + " = :" + m.name
			values[":"+m.name] = str(truncate(m.value, MaxNameLen))
		}
		if f.Email != "" {
			// emailKey is what a search by e-mail compares, in any case.
			update += ", emailKey = :emailKey"
			values[":emailKey"] = str(emailKey(f.Email))
		} else {
			remove = append(remove, "emailKey")
		}
	}
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(failurePK(f.SourceID), f.CustomerID),
		UpdateExpression:          aws.String(update + " ADD attempts :one"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("ledger: record failure of %s/%s: %w", f.SourceID, f.CustomerID, err)
	}
	// The flag write bumps the version without a condition: whatever a
	// concurrent worker read is then stale, and it decides again.
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      key(entryPK(f.SourceID), entrySK(f.CustomerID)),
		UpdateExpression:         aws.String("SET #type = :type, sourceId = :source, customerId = :customer, failed = :true ADD version :one"),
		ExpressionAttributeNames: map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":type": str(typeEntry), ":source": str(f.SourceID), ":customer": str(f.CustomerID),
			":true": boolean(true), ":one": num(1),
		},
	})
	if err != nil {
		return fmt.Errorf("ledger: mark %s/%s failed: %w", f.SourceID, f.CustomerID, err)
	}
	return nil
}

// ClearFailure deletes a customer's failed record, if any. The ledger
// entry's flag is cleared by the caller's next Put.
func (s *Store) ClearFailure(ctx context.Context, sourceID, customerID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(failurePK(sourceID), customerID)})
	if err != nil {
		return fmt.Errorf("ledger: clear failure of %s/%s: %w", sourceID, customerID, err)
	}
	return nil
}

// Failure returns one failed record, or ErrNotFound.
func (s *Store) Failure(ctx context.Context, sourceID, customerID string) (Failure, error) {
	item, err := s.get(ctx, failurePK(sourceID), customerID)
	if err != nil {
		return Failure{}, fmt.Errorf("ledger: failure of %s/%s: %w", sourceID, customerID, err)
	}
	if item == nil {
		return Failure{}, fmt.Errorf("ledger: failure of %s/%s: %w", sourceID, customerID, ErrNotFound)
	}
	return decodeFailure(item), nil
}

func decodeFailure(item map[string]types.AttributeValue) Failure {
	return Failure{
		SourceID:      getS(item, "sourceId"),
		CustomerID:    getS(item, "customerId"),
		Reason:        getS(item, "reason"),
		Kind:          FailureKind(getS(item, "kind")),
		FirstFailedAt: getTime(item, "firstFailedAt"),
		LastFailedAt:  getTime(item, "lastFailedAt"),
		Attempts:      getN(item, "attempts"),
		JobReason:     getS(item, "jobReason"),
		Email:         getS(item, "email"),
		FirstName:     getS(item, "firstName"),
		LastName:      getS(item, "lastName"),
	}
}

// FailurePage is one page of failed records, in customer id order. Next is
// the cursor of the following page, empty on the last.
type FailurePage struct {
	Failures []Failure
	Next     string
}

// Failure listing limits.
const (
	DefaultFailuresLimit = 50
	MaxFailuresLimit     = 500
)

// cursor is what a Failures cursor encodes: where the page ended, and for
// which source, so a cursor cannot be replayed against another source.
type cursor struct {
	Source   string `json:"s"`
	Customer string `json:"c"`
}

// Failures lists a source's failed records, limit at a time (zero means
// DefaultFailuresLimit), from cursor ("" for the first page).
func (s *Store) Failures(ctx context.Context, sourceID string, limit int, after string) (FailurePage, error) {
	if limit <= 0 {
		limit = DefaultFailuresLimit
	}
	limit = min(limit, MaxFailuresLimit)
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(failurePK(sourceID))},
		Limit:                     aws.Int32(int32(limit)),
		ConsistentRead:            aws.Bool(true),
	}
	start, err := startKey(sourceID, after)
	if err != nil {
		return FailurePage{}, err
	}
	in.ExclusiveStartKey = start
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return FailurePage{}, fmt.Errorf("ledger: failures of %s: %w", sourceID, err)
	}
	page := FailurePage{Failures: make([]Failure, 0, len(out.Items))}
	for _, item := range out.Items {
		page.Failures = append(page.Failures, decodeFailure(item))
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Next = pagetoken.Encode(cursor{Source: sourceID, Customer: getS(out.LastEvaluatedKey, "sk")})
	}
	return page, nil
}

// emailKey is the form of an e-mail address a search compares: the whole
// address in lower case (Contacthub keeps addresses as given).
func emailKey(email string) string {
	return strings.ToLower(truncate(strings.TrimSpace(email), MaxNameLen))
}

// FindFailures lists a source's failed records whose customer id is q, or
// whose customer e-mail is q in any case, limit at a time from cursor, like
// Failures. It reads the source's failed records a page at a time until it
// has limit matches or reaches the end, so an empty page means no match.
func (s *Store) FindFailures(ctx context.Context, sourceID, q string, limit int, after string) (FailurePage, error) {
	if limit <= 0 {
		limit = DefaultFailuresLimit
	}
	limit = min(limit, MaxFailuresLimit)
	page := FailurePage{Failures: []Failure{}}
	start, err := startKey(sourceID, after)
	if err != nil {
		return FailurePage{}, err
	}
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("pk = :pk"),
			FilterExpression:          aws.String("customerId = :q OR emailKey = :email"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(failurePK(sourceID)), ":q": str(q), ":email": str(emailKey(q))},
			Limit:                     aws.Int32(int32(MaxFailuresLimit)),
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return FailurePage{}, fmt.Errorf("ledger: find failures of %s: %w", sourceID, err)
		}
		for _, item := range out.Items {
			page.Failures = append(page.Failures, decodeFailure(item))
			if len(page.Failures) == limit {
				page.Next = pagetoken.Encode(cursor{Source: sourceID, Customer: getS(item, "sk")})
				return page, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return page, nil
		}
		start = out.LastEvaluatedKey
	}
}

// startKey turns a Failures cursor into the key a query starts after.
func startKey(sourceID, after string) (map[string]types.AttributeValue, error) {
	if after == "" {
		return nil, nil
	}
	var c cursor
	err := pagetoken.Decode(after, &c)
	if err != nil || c.Source != sourceID || c.Customer == "" {
		return nil, fmt.Errorf("ledger: failures of %s: %w", sourceID, ErrBadCursor)
	}
	return key(failurePK(sourceID), c.Customer), nil
}
