// Command scheduler is the Lambda function EventBridge runs every minute: it
// lists the enabled sources and sends one tick per source to the tick queue,
// whose function (sourcetick) polls each source's Contacthub change feed,
// advances its backfill and the reconciliation of Contactsend subscription
// statuses.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
)

func main() {
	handler, err := schedulerfn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
