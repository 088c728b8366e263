// Command scheduler is the Lambda function EventBridge runs every minute: it
// polls each enabled source's Contacthub change feed, advances backfills and
// the reconciliation of Contactsend subscription statuses.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/lambdaenv"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
)

func main() {
	handler, err := wire(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}

// wire builds the handler from the environment.
func wire(ctx context.Context, getenv func(string) string) (func(context.Context, events.EventBridgeEvent) error, error) {
	env, err := lambdaenv.Read(getenv)
	if err != nil {
		return nil, err
	}
	if env.SyncQueueURL == "" {
		return nil, fmt.Errorf("SYNC_QUEUE_URL is not set")
	}
	logger := env.Logger()
	cfg, err := lambdaenv.AWS(ctx)
	if err != nil {
		return nil, err
	}
	box, err := env.Box(cfg)
	if err != nil {
		return nil, err
	}
	// The reconciliation of Contactsend subscription statuses reads the
	// userdb through this client and compares with the ledger.
	send, err := env.Contactsend(logger)
	if err != nil {
		return nil, err
	}
	// A Contacthub outage must not eat the tick: a few quick tries, then the
	// next tick starts again from the same checkpoint.
	hubRetry := retry.Policy{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second}
	s := scheduler.New(scheduler.Config{
		Sources: env.Store(cfg, box),
		Hub: func(conn configstore.Connection) (scheduler.Hub, error) {
			return contacthub.New(contacthub.Config{
				BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID,
				Token: conn.ContacthubToken, Retry: hubRetry,
			})
		},
		Checkpoints: checkpoint.New(dynamodb.NewFromConfig(cfg), env.TableName),
		Jobs:        jobs.NewQueue(sqs.NewFromConfig(cfg), env.SyncQueueURL),
		Send:        send,
		Ledger:      env.Ledger(cfg),
		Logger:      logger,
	})
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
	}, nil
}
