// Command webhook is the Lambda function behind the webhook routes,
// POST /v1/webhooks/contacthub/{sourceId} and
// POST /v1/webhooks/contactsend/{sourceId}.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/wiring/webhookfn"
)

func main() {
	handler, err := webhookfn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
	lambda.Start(handler.Handle)
}
