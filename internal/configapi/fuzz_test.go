package configapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/testkit"
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
	"POST /v1/sources/{id}/failures/{customerId}/retry", "POST /v1/sources/{id}/preview",
	"GET /v1/nodes", "POST /v1/preview",
}

// queryParameters reads a raw query string as API Gateway (payload 2.0)
// hands it to the function: decoded, repeated parameters joined by commas.
// A query it cannot decode is kept raw, as a hostile client could send it.
func queryParameters(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	out := map[string]string{}
	for part := range strings.SplitSeq(raw, "&") {
		name, value, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if v, err := url.QueryUnescape(value); err == nil {
			value = v
		}
		if old, ok := out[name]; ok {
			value = old + "," + value
		}
		out[name] = value
	}
	return out
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
// error, must never answer a refused request with a 5xx, must store nothing
// when it refuses a request, and must never log a long id whole.
//
//	go test -run '^$' -fuzz FuzzConfigAPI -fuzztime 30s ./internal/configapi/
func FuzzConfigAPI(f *testing.F) {
	logs := &syncBuffer{}
	fx := newFixture(f, slog.New(slog.NewJSONHandler(logs, nil)), 1)
	api, store, table := fx.api, fx.store, fx.table
	connection := configstore.Connection{
		Workspace: "ws1", ContacthubBaseURL: fx.hubURL, ContacthubWorkspaceID: "hub-ws", ContacthubToken: hubToken,
	}
	if _, err := store.PutConnection(context.Background(), connection); err != nil {
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
	// Hostile ids, cursors and query parameters the audit tried.
	cursor := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	for _, query := range []string{
		"cursor=" + cursor(`{"p":"","s":"","g":"WS#ws1","h":""}`),
		"cursor=" + cursor(`{"p":"SOURCE#x","s":"ITEM","g":"WS#ws1","h":"SOURCE#`+strings.Repeat("9", 3000)+`"}`),
		"cursor=" + cursor(`{"s":"abc","c":"`+strings.Repeat("c", 3000)+`"}`),
		"limit=1&limit=2", "enabled=maybe", "nodeId=%1b%5b2J", "nodeId=", "bogus=1", "cursor=" + strings.Repeat("A", 5000),
	} {
		f.Add(uint8(2), "abc", query, "", "", true)
		f.Add(uint8(17), "abc", query, "", "", true)
	}
	for _, id := range []string{strings.Repeat("a", 3000), "a/b", "%00", "\u202e", "a b"} {
		f.Add(uint8(4), id, "", `"1"`, "", true)
		f.Add(uint8(18), id, "", "", "", true)
	}
	f.Add(uint8(3), "abc", "", "", `{"NAME":"n","name":"m"}`, true)
	f.Add(uint8(1), "abc", "", "", `{"contacthub":{"baseUrl":"https://evil.example","workspaceId":"hub-ws"}}`, true)

	f.Fuzz(func(t *testing.T, route uint8, id, query, ifMatch, body string, authenticated bool) {
		// An input may point the workspace at a Contacthub that does not
		// exist (a seed does); the next input would then meet a 502 that is
		// the right answer, not a finding. Each input starts from the
		// simulator's connection.
		if _, err := store.PutConnection(context.Background(), connection); err != nil {
			t.Fatal(err)
		}
		method, path, _ := strings.Cut(fuzzRoutes[int(route)%len(fuzzRoutes)], " ")
		// The source id and the customer id come from the same input, cut
		// in two, so each can be hostile on its own.
		sourceID, customerID, found := strings.Cut(id, "|")
		if !found {
			customerID = id
		}
		path = strings.ReplaceAll(path, "{id}", sourceID)
		path = strings.ReplaceAll(path, "{customerId}", customerID)
		event := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
			QueryStringParameters: queryParameters(query),
			Headers:               map[string]string{"content-type": "application/json"},
			Body:                  body,
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
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"custom:workspace": "ws1", "custom:role": "admin"}},
			}
		}
		before := tableDigest(t, testkit.Emulators(t).DynamoDB(), table)
		resp, err := api.Handle(context.Background(), event)
		if err != nil {
			t.Fatalf("%s %s: Handle returned an error: %v", method, path, err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, resp.StatusCode, resp.Body)
		}
		if resp.StatusCode >= 400 {
			if after := tableDigest(t, testkit.Emulators(t).DynamoDB(), table); after != before {
				t.Fatalf("%s %s refused with %d but the table changed (%s -> %s)", method, path, resp.StatusCode, before, after)
			}
		}
		if len(sourceID) > 300 && strings.Contains(logs.String(), sourceID) {
			t.Fatalf("a %d-byte id was logged whole", len(sourceID))
		}
		logs.Reset()
		if resp.StatusCode < 100 || resp.StatusCode > 599 || http.StatusText(resp.StatusCode) == "" {
			t.Fatalf("invalid status %d", resp.StatusCode)
		}
	})
}
