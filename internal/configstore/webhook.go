package configstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrConcurrentRotation means another rotation of the same secret won.
var ErrConcurrentRotation = errors.New("the webhook secret was rotated at the same time by another request")

// RotationGrace is how long the previous webhook secret keeps working after
// a rotation, so senders can be reconfigured without losing events.
const RotationGrace = 24 * time.Hour

type webhookItem struct {
	PK            string    `dynamodbav:"pk"`
	SK            string    `dynamodbav:"sk"`
	Type          string    `dynamodbav:"type"`
	Current       []byte    `dynamodbav:"current"`
	Previous      []byte    `dynamodbav:"previous,omitempty"`
	PreviousUntil time.Time `dynamodbav:"previousUntil"`
	RotatedAt     time.Time `dynamodbav:"rotatedAt"`
}

const webhookSK = "WEBHOOK"

func webhookKey(sourceID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: sourceKey(sourceID)},
		"sk": &types.AttributeValueMemberS{Value: webhookSK},
	}
}

// RotateWebhookSecret makes a new webhook secret for a source of the
// workspace and returns it: the only time it is ever shown. The previous
// secret keeps working for RotationGrace.
func (s *Store) RotateWebhookSecret(ctx context.Context, workspace, sourceID string) (string, error) {
	if _, err := s.Get(ctx, workspace, sourceID); err != nil {
		return "", err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := "whsec_" + hex.EncodeToString(raw)
	sealed, err := s.box.Seal(ctx, secret, purpose(sourceID, "webhookSecret"))
	if err != nil {
		return "", fmt.Errorf("seal webhook secret: %w", err)
	}
	now := s.now().UTC()
	item := webhookItem{PK: sourceKey(sourceID), SK: webhookSK, Type: "webhook", Current: sealed, RotatedAt: now}
	// The write is conditional on the secret read, so of two rotations at
	// once only one is stored, and the other caller is told rather than
	// handed a secret that never works.
	cond := notExists
	old, found, err := s.readWebhook(ctx, sourceID)
	if err != nil {
		return "", err
	}
	if found {
		item.Previous, item.PreviousUntil = old.Current, now.Add(RotationGrace)
		cond = expression.Name("rotatedAt").Equal(expression.Value(old.RotatedAt))
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return "", fmt.Errorf("encode webhook secret: %w", err)
	}
	err = s.putIf(ctx, av, cond)
	if conditionFailed(err) {
		return "", ErrConcurrentRotation
	}
	if err != nil {
		return "", fmt.Errorf("put webhook secret: %w", err)
	}
	return secret, nil
}

// WebhookSecrets returns the secrets a webhook for the source may be
// authenticated with: the current one and, during a rotation's grace
// period, the previous one. None means no secret was ever made.
func (s *Store) WebhookSecrets(ctx context.Context, sourceID string) ([]string, error) {
	item, found, err := s.readWebhook(ctx, sourceID)
	if err != nil || !found {
		return nil, err
	}
	current, err := s.box.Open(ctx, item.Current, purpose(sourceID, "webhookSecret"))
	if err != nil {
		return nil, fmt.Errorf("open webhook secret: %w", err)
	}
	secrets := []string{current}
	if len(item.Previous) > 0 && s.now().Before(item.PreviousUntil) {
		previous, err := s.box.Open(ctx, item.Previous, purpose(sourceID, "webhookSecret"))
		if err != nil {
			return nil, fmt.Errorf("open previous webhook secret: %w", err)
		}
		secrets = append(secrets, previous)
	}
	return secrets, nil
}

func (s *Store) readWebhook(ctx context.Context, sourceID string) (webhookItem, bool, error) {
	return getItem[webhookItem](ctx, s, webhookKey(sourceID), "webhook secret")
}
