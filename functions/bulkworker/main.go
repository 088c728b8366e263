// Command bulkworker is the Lambda function behind the SQS bulk queue: it
// runs the bulk lane's jobs (first loads and resyncs, a range of customer
// pages each) and the per-customer jobs the bulk lane hands over, reporting
// partial batch failures.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/wiring/bulkworkerfn"
)

func main() {
	handler, err := bulkworkerfn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bulkworker:", err)
		os.Exit(1)
	}
	lambda.Start(handler.HandleSQS)
}
