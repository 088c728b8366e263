// Package schedulerfn builds the scheduler's two functions on the shared
// dependencies: the scheduled tick EventBridge invokes every minute, which
// fans out one tick per enabled source to the tick queue, and the source
// tick function the tick queue's event source mapping invokes, which works
// on one source (see the scheduler package for why).
package schedulerfn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/ticks"
	"github.com/hubsend/hubsend/internal/wiring"
)

// HubRetry is the scheduler's Contacthub retry policy. A Contacthub outage
// must not eat the tick: a few quick tries, then the next tick starts again
// from the same checkpoint.
var HubRetry = retry.Policy{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second}

// Handler is what EventBridge invokes.
type Handler = func(ctx context.Context, event events.EventBridgeEvent) error

// SourceHandler is what the tick queue's event source mapping invokes
// (partial batch responses).
type SourceHandler = func(ctx context.Context, event events.SQSEvent) (events.SQSEventResponse, error)

// New returns the scheduler of the scheduler functions. With a tick queue
// in the environment (SOURCE_TICK_QUEUE_URL) its scheduled tick fans out;
// without one it works every source itself.
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
	cfg := scheduler.Config{
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
		// Each pass that enqueues jobs is a run of the run history.
		Runs: runs.New(d.DynamoDB, d.Env.TableName),
		// After each source's tick, its alert thresholds.
		Alerts: alertChecker(d),
	}
	if d.Env.TickQueueURL != "" {
		if d.SQS == nil {
			return nil, errors.New("schedulerfn: a tick queue without an SQS client")
		}
		cfg.Ticks = ticks.NewQueue(d.SQS, d.Env.TickQueueURL)
	}
	return scheduler.New(cfg)
}

// NewHandler returns the scheduled tick's handler running s, logging with
// logger: it fans out when s has a tick queue, else works every source.
func NewHandler(s *scheduler.Scheduler, logger *slog.Logger) Handler {
	return func(ctx context.Context, event events.EventBridgeEvent) error {
		if s.FansOut() {
			// The event's time is the scheduled minute: a repeated
			// delivery of it sends ticks SQS deduplicates.
			sent, err := s.Dispatch(ctx, event.Time)
			if err != nil {
				logger.ErrorContext(ctx, "scheduler tick failed", "event", event.ID, "sources", sent, "error", err)
				return err
			}
			logger.InfoContext(ctx, "scheduler tick", "event", event.ID, "sources", sent)
			return nil
		}
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

// NewSourceHandler returns the source tick function's handler running s:
// one source per message, within the invocation's deadline (the template
// gives it one message per invocation). A source's own trouble is recorded
// in its checkpoints and its outcome line, and the message is done: the
// next tick is its retry. Only a message that is not a tick fails, to end
// in the dead-letter queue; the messages after it in the batch fail too,
// as a FIFO queue's order requires.
func NewSourceHandler(s *scheduler.Scheduler, logger *slog.Logger) SourceHandler {
	return func(ctx context.Context, event events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		failed := false
		for _, m := range event.Records {
			if failed {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				continue
			}
			t, err := ticks.Decode(m.Body)
			if err != nil {
				logger.ErrorContext(ctx, "tick message refused", "message", m.MessageId, "error", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				failed = true
				continue
			}
			s.RunSource(ctx, t) // logs the source's outcome line
		}
		return resp, nil
	}
}

// FromEnv builds the scheduled tick's handler from the environment, as the
// Lambda does: it needs the sync queue and the tick queue it fans out to.
func FromEnv(ctx context.Context, getenv func(string) string) (Handler, error) {
	d, err := wiring.Load(ctx, getenv, wiring.SyncQueueURL, wiring.TickQueueURL)
	if err != nil {
		return nil, err
	}
	s, err := New(d)
	if err != nil {
		return nil, err
	}
	return NewHandler(s, d.Logger), nil
}

// SourceFromEnv builds the source tick function's handler from the
// environment, as the Lambda does.
func SourceFromEnv(ctx context.Context, getenv func(string) string) (SourceHandler, error) {
	d, err := wiring.Load(ctx, getenv, wiring.SyncQueueURL)
	if err != nil {
		return nil, err
	}
	s, err := New(d)
	if err != nil {
		return nil, fmt.Errorf("source tick function: %w", err)
	}
	return NewSourceHandler(s, d.Logger), nil
}
