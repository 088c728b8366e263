// Command sourcetick is the Lambda function the scheduler's tick queue
// invokes: for each "tick source S" message it polls that source's
// Contacthub change feed, advances its backfill and the reconciliation of
// its Contactsend subscription statuses, within its own deadline.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
)

func main() {
	handler, err := schedulerfn.SourceFromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sourcetick:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
