// Package schedulerfn builds the scheduler function: the scheduler on the
// shared dependencies, and the handler EventBridge invokes every minute.
package schedulerfn

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/wiring"
)

// HubRetry is the scheduler's Contacthub retry policy. A Contacthub outage
// must not eat the tick: a few quick tries, then the next tick starts again
// from the same checkpoint.
var HubRetry = retry.Policy{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second}

// Handler is what EventBridge invokes.
type Handler = func(ctx context.Context, event events.EventBridgeEvent) error

// New returns the scheduler of the scheduler function.
func New(d wiring.Deps) (*scheduler.Scheduler, error) {
	queue, err := d.Queue()
	if err != nil {
		return nil, err
	}
	var lane *scheduler.BulkLane
	if url := d.Env.BulkQueueURL; url != "" {
		client, ok := d.SQS.(jobs.BulkSQS)
		if !ok {
			return nil, errors.New("schedulerfn: the SQS client cannot read queue attributes")
		}
		lane = &scheduler.BulkLane{Queue: jobs.NewBulkQueue(client, url)}
	}
	return scheduler.New(scheduler.Config{
		Bulk:    lane,
		Sources: d.Store,
		Hub: func(conn configstore.Connection) (scheduler.Hub, error) {
			return d.Contacthub(conn, HubRetry)
		},
		Checkpoints: checkpoint.New(d.DynamoDB, d.Env.TableName),
		Jobs:        queue,
		// The reconciliation of Contactsend subscription statuses reads
		// the userdb through Send and compares with the ledger.
		Send:   d.Send,
		Ledger: ledger.New(d.DynamoDB, d.Env.TableName),
		Logger: d.Logger,
	})
}

// NewHandler returns the function's handler running s, logging with logger.
func NewHandler(s *scheduler.Scheduler, logger *slog.Logger) Handler {
	return func(ctx context.Context, event events.EventBridgeEvent) error {
		// The Lambda context's deadline is the function timeout; Tick keeps
		// its DeadlineMargin free before it.
		report, err := s.Tick(ctx)
		if err != nil {
			logger.ErrorContext(ctx, "scheduler tick failed", "event", event.ID, "error", err)
			return err
		}
		logger.InfoContext(ctx, "scheduler tick", "event", event.ID, "sources", len(report.Sources), "enqueued", report.Enqueued())
		return nil
	}
}

// FromEnv builds the handler from the environment, as the Lambda does.
func FromEnv(ctx context.Context, getenv func(string) string) (Handler, error) {
	d, err := wiring.Load(ctx, getenv, wiring.SyncQueueURL)
	if err != nil {
		return nil, err
	}
	s, err := New(d)
	if err != nil {
		return nil, err
	}
	return NewHandler(s, d.Logger), nil
}
