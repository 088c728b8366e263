// Command configapi is the Lambda function behind the configuration API.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/lambdaenv"
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
	return configapi.New(configapi.Config{
		Store: env.Store(cfg, box),
		Hub: func(conn configstore.Connection) (configapi.Hub, error) {
			return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken})
		},
		Send:             send,
		WorkspaceClaim:   env.WorkspaceClaim,
		Logger:           logger,
		AllowInsecureHub: env.AllowInsecureHub,
	}), nil
}
