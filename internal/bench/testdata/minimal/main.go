// Command minimal is the smallest aws-lambda-go function: the baseline that
// cold starts of hubsend's functions are compared with.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, event json.RawMessage) (string, error) {
		return "ok", nil
	})
}
