// Command syncworker is the Lambda function behind the SQS sync queue: it
// brings Contacthub customers up to date in Contactsend, reporting partial
// batch failures (the event source mapping sets ReportBatchItemFailures).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
)

func main() {
	worker, err := syncworkerfn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncworker:", err)
		os.Exit(1)
	}
	lambda.Start(worker.HandleSQS)
}
