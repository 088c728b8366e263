// Command configapi is the Lambda function behind the configuration API.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/wiring/configapifn"
)

func main() {
	api, err := configapifn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "configapi:", err)
		os.Exit(1)
	}
	lambda.Start(api.Handle)
}
