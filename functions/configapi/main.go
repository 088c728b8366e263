// Command configapi is the Lambda function behind the configuration API.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/console"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/lambdaenv"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/syncer"
)

func main() {
	api, err := wire(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "configapi:", err)
		os.Exit(1)
	}
	lambda.Start(api.Handle)
}

func wire(ctx context.Context) (*configapi.API, error) {
	env, err := lambdaenv.Read(os.Getenv)
	if err != nil {
		return nil, err
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
	send, err := env.Contactsend(logger)
	if err != nil {
		return nil, err
	}
	store := env.Store(cfg, box)
	hub := func(conn configstore.Connection) (*contacthub.Client, error) {
		return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken})
	}
	outcomes := env.Ledger(cfg)
	// The preview runs the worker's own logic, read-only.
	previewer, err := syncer.New(syncer.Config{
		Sources: store,
		Ledger:  outcomes,
		Hub:     func(conn configstore.Connection) (syncer.Hub, error) { return hub(conn) },
		Send:    send,
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}
	return configapi.New(configapi.Config{
		Store: store,
		Hub:   func(conn configstore.Connection) (configapi.Hub, error) { return hub(conn) },
		Send:  send,
		// Only the backfill start and the checkpoints are used here; the
		// scheduler function does the work.
		Intake: scheduler.New(scheduler.Config{
			Sources:     store,
			Checkpoints: checkpoint.New(dynamodb.NewFromConfig(cfg), env.TableName),
			Logger:      logger,
		}),
		Outcomes:         outcomes,
		Previewer:        previewer,
		Jobs:             jobs.NewQueue(sqs.NewFromConfig(cfg), env.SyncQueueURL),
		Console:          console.Assets(),
		WorkspaceClaim:   env.WorkspaceClaim,
		Logger:           logger,
		AllowInsecureHub: env.AllowInsecureHub,
	}), nil
}
