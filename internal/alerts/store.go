package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the part of the DynamoDB client the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Sealer encrypts the webhook secret at rest (package secret's Box).
type Sealer interface {
	Seal(ctx context.Context, plaintext, purpose string) ([]byte, error)
	Open(ctx context.Context, sealed []byte, purpose string) (string, error)
}

// DynamoStore keeps settings and states in the single table.
type DynamoStore struct {
	db    DynamoDB
	table string
	box   Sealer
}

// NewStore returns the alert store on table.
func NewStore(db DynamoDB, table string, box Sealer) *DynamoStore {
	return &DynamoStore{db: db, table: table, box: box}
}

func key(sourceID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("ALERTS#" + sourceID), "sk": str(sk)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

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
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

func purpose(sourceID string) string { return "alerts/" + sourceID + "/webhookSecret" }

// Settings returns a source's settings, the webhook secret opened.
func (s *DynamoStore) Settings(ctx context.Context, sourceID string) (Settings, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(sourceID, "SETTINGS"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Settings{}, false, fmt.Errorf("alerts: settings of %s: %w", sourceID, err)
	}
	if out.Item == nil {
		return Settings{}, false, nil
	}
	st := Settings{
		FailedPerHour: getN(out.Item, "failedPerHour"), FeedLagSeconds: getN(out.Item, "feedLagSeconds"),
		BackfillStalledMinutes: getN(out.Item, "backfillStalledMinutes"), SNS: getBool(out.Item, "sns"),
		WebhookURL: getS(out.Item, "webhookUrl"), Version: max(getN(out.Item, "version"), 1),
	}
	if sealed, ok := out.Item["webhookSecret"].(*types.AttributeValueMemberB); ok {
		if st.WebhookSecret, err = s.box.Open(ctx, sealed.Value, purpose(sourceID)); err != nil {
			return Settings{}, false, fmt.Errorf("alerts: open the webhook secret of %s: %w", sourceID, err)
		}
	}
	return st, true, nil
}

// ReplaceSettings stores a source's settings over those the caller read
// at version read (0: none were stored): ErrSettingsChanged when another write
// came in between, whose change would be lost, or whose webhook the
// caller's decision to keep the stored secret did not see.
func (s *DynamoStore) ReplaceSettings(ctx context.Context, sourceID string, st Settings, read int64) error {
	item := key(sourceID, "SETTINGS")
	item["version"] = num(read + 1)
	item["type"] = str("alert-settings")
	item["failedPerHour"] = num(st.FailedPerHour)
	item["feedLagSeconds"] = num(st.FeedLagSeconds)
	item["backfillStalledMinutes"] = num(st.BackfillStalledMinutes)
	item["sns"] = &types.AttributeValueMemberBOOL{Value: st.SNS}
	if st.WebhookURL != "" {
		item["webhookUrl"] = str(st.WebhookURL)
	}
	if st.WebhookSecret != "" {
		sealed, err := s.box.Seal(ctx, st.WebhookSecret, purpose(sourceID))
		if err != nil {
			return fmt.Errorf("alerts: seal the webhook secret of %s: %w", sourceID, err)
		}
		item["webhookSecret"] = &types.AttributeValueMemberB{Value: sealed}
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	switch read {
	case 0:
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	case 1:
		// Settings stored before they had a version read as version 1.
		in.ConditionExpression = aws.String("attribute_not_exists(version) OR version = :read")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":read": num(1)}
	default:
		in.ConditionExpression = aws.String("version = :read")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":read": num(read)}
	}
	_, err := s.db.PutItem(ctx, in)
	if ccf := (*types.ConditionalCheckFailedException)(nil); errors.As(err, &ccf) {
		return ErrSettingsChanged
	}
	if err != nil {
		return fmt.Errorf("alerts: put settings of %s: %w", sourceID, err)
	}
	return nil
}

// State returns a source's alert state; a zero State when none is stored.
func (s *DynamoStore) State(ctx context.Context, sourceID string) (State, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(sourceID, "STATE"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return State{}, fmt.Errorf("alerts: state of %s: %w", sourceID, err)
	}
	if out.Item == nil {
		return State{}, nil
	}
	since, _ := time.Parse(time.RFC3339Nano, getS(out.Item, "since"))
	st := State{Bad: getBool(out.Item, "bad"), Since: since, Version: getN(out.Item, "version"), Attempts: getN(out.Item, "attempts")}
	if pending := getS(out.Item, "pending"); pending != "" {
		var n Notification
		if err := json.Unmarshal([]byte(pending), &n); err != nil {
			return State{}, fmt.Errorf("alerts: state of %s: pending alert: %w", sourceID, err)
		}
		st.Pending = &n
		st.RetryAt, _ = time.Parse(time.RFC3339Nano, getS(out.Item, "retryAt"))
		if d, ok := out.Item["delivered"].(*types.AttributeValueMemberSS); ok {
			st.Delivered = d.Value
		}
	}
	return st, nil
}

// PutState stores next conditionally on next.Version.
func (s *DynamoStore) PutState(ctx context.Context, sourceID string, next State) error {
	item := key(sourceID, "STATE")
	item["type"] = str("alert-state")
	item["bad"] = &types.AttributeValueMemberBOOL{Value: next.Bad}
	item["since"] = str(next.Since.UTC().Format(time.RFC3339Nano))
	item["version"] = num(next.Version + 1)
	if next.Pending != nil {
		pending, err := json.Marshal(next.Pending)
		if err != nil {
			return fmt.Errorf("alerts: put state of %s: %w", sourceID, err)
		}
		item["pending"] = str(string(pending))
		item["attempts"] = num(next.Attempts)
		item["retryAt"] = str(next.RetryAt.UTC().Format(time.RFC3339Nano))
		if len(next.Delivered) > 0 {
			item["delivered"] = &types.AttributeValueMemberSS{Value: next.Delivered}
		}
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if next.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("version = :read")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":read": num(next.Version)}
	}
	_, err := s.db.PutItem(ctx, in)
	if ccf := (*types.ConditionalCheckFailedException)(nil); errors.As(err, &ccf) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("alerts: put state of %s: %w", sourceID, err)
	}
	return nil
}
