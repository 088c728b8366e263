package configapi

import (
	"context"
	_ "embed"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// OpenAPI is the OpenAPI 3.1 description of this API, served at
// /v1/openapi.json and checked against real responses by the tests.
//
//go:embed openapi.json
var OpenAPI []byte

func (a *API) openAPI(context.Context, *request) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"},
		Body:       string(OpenAPI),
	}
}
