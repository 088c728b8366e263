package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/ledger"
)

// Stats reads a source's sync counters (the ledger's).
type Stats interface {
	Stats(ctx context.Context, sourceID string, since time.Time) (ledger.Stats, error)
}

// Backfills reads a source's backfill checkpoint.
type Backfills interface {
	Backfill(ctx context.Context, sourceID string) (checkpoint.Backfill, bool, error)
}

// Checker is what the scheduler calls after each tick of a source: it
// observes the source and checks it, reading the counters and the
// backfill only for sources that have alert settings.
type Checker struct {
	Monitor   *Monitor
	Stats     Stats
	Backfills Backfills
	Now       func() time.Time
}

// CheckSource observes and checks one source, given the feed lag the tick
// measured.
func (c Checker) CheckSource(ctx context.Context, sourceID, sourceName string, feedLagSeconds int64) error {
	if _, found, err := c.Monitor.store.Settings(ctx, sourceID); err != nil || !found {
		return err
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	o := Observation{Now: now, FeedLagSeconds: feedLagSeconds}
	st, err := c.Stats.Stats(ctx, sourceID, now.Add(-time.Hour))
	if err != nil {
		return fmt.Errorf("alerts: observe %s: %w", sourceID, err)
	}
	// The counters are hourly buckets: the last hour is this one and the
	// one before, as the status endpoint reads it.
	o.FailedLastHour = st.Failed
	b, found, err := c.Backfills.Backfill(ctx, sourceID)
	if err != nil {
		return fmt.Errorf("alerts: observe %s: %w", sourceID, err)
	}
	if found && b.Status == checkpoint.BackfillRunning {
		o.BackfillRunning, o.BackfillUpdatedAt = true, b.UpdatedAt
	}
	return c.Monitor.Check(ctx, sourceID, sourceName, o)
}

// SNSClient is the part of the SNS client the publisher uses.
type SNSClient interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSPublisher publishes alerts to one topic.
type SNSPublisher struct {
	Client   SNSClient
	TopicARN string
}

// Publish sends one message to the topic.
func (p SNSPublisher) Publish(ctx context.Context, subject, message string) error {
	_, err := p.Client.Publish(ctx, &sns.PublishInput{TopicArn: &p.TopicARN, Subject: &subject, Message: &message})
	return err
}
