// Command syncworker is the Lambda function behind the SQS sync queue: it
// brings Contacthub customers up to date in Contactsend, reporting partial
// batch failures (the event source mapping sets ReportBatchItemFailures).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/lambdaenv"
	"github.com/hubsend/hubsend/internal/syncer"
)

func main() {
	worker, err := wire(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncworker:", err)
		os.Exit(1)
	}
	lambda.Start(worker.HandleSQS)
}

func wire(ctx context.Context, getenv func(string) string) (*syncer.Worker, error) {
	env, err := lambdaenv.Read(getenv)
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
	return syncer.New(syncer.Config{
		Sources: env.Store(cfg, box),
		Ledger:  env.Ledger(cfg),
		Hub: func(conn configstore.Connection) (syncer.Hub, error) {
			return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken})
		},
		Send:   send,
		Logger: logger,
		// Jobs given back come again after syncer.RedeliveryDelay.
		Queue:    sqs.NewFromConfig(cfg),
		QueueURL: env.SyncQueueURL,
	})
}
