package configapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/configstore"
)

// fuzzRoutes are the API's routes; {id} is filled from the fuzzer's input.
var fuzzRoutes = []string{
	"GET /v1/workspace", "PUT /v1/workspace",
	"GET /v1/sources", "POST /v1/sources",
	"GET /v1/sources/{id}", "PUT /v1/sources/{id}", "DELETE /v1/sources/{id}",
	"POST /v1/sources/{id}/enable", "POST /v1/sources/{id}/disable",
	"GET /v1/sources/{id}/field-options", "POST /v1/field-options",
	"GET /v1/sources/{id}/subscription-systems", "POST /v1/subscription-systems",
	"POST /v1/connection-tests", "POST /v1/sources/{id}/webhook-secret",
	"POST /v1/sources/{id}/resync", "GET /v1/sources/{id}/status", "GET /v1/sources/{id}/failures",
	"POST /v1/sources/{id}/failures/{id}/retry", "POST /v1/sources/{id}/preview",
}

// tableDigest summarises every item of the table, to tell whether a
// request stored anything.
func tableDigest(t testing.TB, db *dynamodb.Client, table string) string {
	t.Helper()
	var lines []string
	var start map[string]types.AttributeValue
	for {
		out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, item := range out.Items {
			var plain map[string]any
			if err := attributevalue.UnmarshalMap(item, &plain); err != nil {
				t.Fatalf("decode item: %v", err)
			}
			data, _ := json.Marshal(plain) // sorted keys: a stable form
			lines = append(lines, string(data))
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return fmt.Sprintf("%d items %x", len(lines), sum[:8])
}

// FuzzConfigAPI sends arbitrary requests (route, ids, query, headers and
// body from the fuzzer) to the config API handler in-process, against
// dynalite and the simulators: the handler must never panic or return an
// error, must never answer a refused request with a 5xx, and must store
// nothing when it refuses a request.
//
//	go test -run '^$' -fuzz FuzzConfigAPI -fuzztime 30s ./internal/configapi/
func FuzzConfigAPI(f *testing.F) {
	fx := newFixture(f, slog.New(slog.NewJSONHandler(io.Discard, nil)), 1)
	api, store, table := fx.api, fx.store, fx.table
	if _, err := store.PutConnection(context.Background(), configstore.Connection{
		Workspace: "ws1", ContacthubBaseURL: fx.hubURL, ContacthubWorkspaceID: "hub-ws", ContacthubToken: hubToken,
	}); err != nil {
		f.Fatal(err)
	}

	validSource := `{"name":"N","nodes":["node-1"],"properties":{"apiKey":"` + sendAPIKey + `","userKey":"` + sendUserKey + `","userDbId":1,"fieldMapping":[{"hubField":"base.contacts.email","sendField":"EMAIL","match":true}]}}`
	for i, body := range []string{
		"", "{}", "null", "[]", `{"name":`, validSource, `{"name":"\u0000"}`, strings.Repeat("[", 1000),
		`{"contacthub":{"baseUrl":"http://x","workspaceId":"w","token":"t"}}`, `{"properties":{"userDbId":-1}}`,
		`{"name":"a","unknown":1}`, `{"name":"` + strings.Repeat("x", 2<<20) + `"}`,
	} {
		f.Add(uint8(i), "abc", "", "", body, true)
	}
	f.Add(uint8(4), "../../x", "limit=-1&cursor=%%", "*", "", true)
	f.Add(uint8(5), "0123456789abcdef0123456789abcdef", "", `"1"`, validSource, false)

	f.Fuzz(func(t *testing.T, route uint8, id, query, ifMatch, body string, authenticated bool) {
		method, path, _ := strings.Cut(fuzzRoutes[int(route)%len(fuzzRoutes)], " ")
		path = strings.ReplaceAll(path, "{id}", id)
		event := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
			Headers: map[string]string{"content-type": "application/json"},
			Body:    body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID: "fuzz",
				HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			},
		}
		if ifMatch != "" {
			event.Headers["if-match"] = ifMatch
		}
		if authenticated {
			event.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"custom:workspace": "ws1"}},
			}
		}
		before := tableDigest(t, stack.DynamoDB(), table)
		resp, err := api.Handle(context.Background(), event)
		if err != nil {
			t.Fatalf("%s %s: Handle returned an error: %v", method, path, err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, resp.StatusCode, resp.Body)
		}
		if resp.StatusCode >= 400 {
			if after := tableDigest(t, stack.DynamoDB(), table); after != before {
				t.Fatalf("%s %s refused with %d but the table changed (%s -> %s)", method, path, resp.StatusCode, before, after)
			}
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 || http.StatusText(resp.StatusCode) == "" {
			t.Fatalf("invalid status %d", resp.StatusCode)
		}
	})
}
