// Command webhook is the Lambda function behind the webhook routes,
// POST /v1/webhooks/contacthub/{sourceId} and
// POST /v1/webhooks/contactsend/{sourceId}.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/lambdaenv"
	"github.com/hubsend/hubsend/internal/webhook"
)

func main() {
	handler, err := wire(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
	lambda.Start(handler.Handle)
}

func wire(ctx context.Context, getenv func(string) string) (*webhook.Handler, error) {
	env, err := lambdaenv.Read(getenv)
	if env.SyncQueueURL == "" {
		err = errors.Join(err, errors.New("SYNC_QUEUE_URL is not set"))
	}
	if err != nil {
		return nil, err
	}
	cfg, err := lambdaenv.AWS(ctx)
	if err != nil {
		return nil, err
	}
	box, err := env.Box(cfg)
	if err != nil {
		return nil, err
	}
	logger := env.Logger()
	hcfg := webhook.Config{
		Sources: env.Store(cfg, box),
		Dedupe:  webhook.NewDedupeStore(dynamodb.NewFromConfig(cfg), env.TableName),
		Jobs:    jobs.NewQueue(sqs.NewFromConfig(cfg), env.SyncQueueURL),
		Logger:  logger,
	}
	if env.ContactsendEndpoint != "" {
		// Contactsend events that carry only an email are resolved to
		// subscribers through the source's email match field.
		send, err := env.Contactsend(logger)
		if err != nil {
			return nil, err
		}
		hcfg.Subscribers = webhook.ContactsendFinder{Client: send}
	}
	return webhook.New(hcfg), nil
}
