package apigw

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

func TestGateway(t *testing.T) {
	idp := newTestIssuer(t)
	var got events.APIGatewayV2HTTPRequest
	echo := func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got = e
		return events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"ETag": `"1"`}, Body: "ok"}, nil
	}
	failing := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
	}
	gw := New(Config{
		Routes: []samtemplate.Route{
			{FunctionID: "Api", Method: "GET", Path: "/v1/sources/{id}", Authorizer: "WorkspaceJwt"},
			{FunctionID: "Api", Method: "GET", Path: "/v1/sources/special", Authorizer: "WorkspaceJwt"},
			{FunctionID: "Hook", Method: "POST", Path: "/v1/webhooks/contacthub/{sourceId}", Authorizer: samtemplate.AuthorizerNone},
			{FunctionID: "Fail", Method: "GET", Path: "/fail", Authorizer: samtemplate.AuthorizerNone},
			{FunctionID: "Missing", Method: "GET", Path: "/missing", Authorizer: samtemplate.AuthorizerNone},
			{FunctionID: "Api", Method: "GET", Path: "/console/{proxy+}", Authorizer: samtemplate.AuthorizerNone},
		},
		Functions:   map[string]Handler{"Api": echo, "Hook": echo, "Fail": failing},
		Authorizers: map[string]JWTAuthorizer{"WorkspaceJwt": idp.authorizer()},
	})
	srv := httptest.NewServer(gw)
	defer srv.Close()
	demoToken := idp.sign(t, idp.key, idp.claims(nil))

	do := func(method, path, token, contentType, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}

	t.Run("authorized route gets claims and path parameters", func(t *testing.T) {
		status, _ := do("GET", "/v1/sources/abc?enabled=true&x=1&x=2", demoToken, "", "")
		if status != 201 {
			t.Fatalf("status %d", status)
		}
		if got.RouteKey != "GET /v1/sources/{id}" || got.PathParameters["id"] != "abc" ||
			got.RequestContext.Authorizer.JWT.Claims["custom:workspace"] != "demo" ||
			got.QueryStringParameters["x"] != "1,2" || got.RawQueryString != "enabled=true&x=1&x=2" {
			t.Fatalf("event %+v", got)
		}
	})
	t.Run("literal path beats a parameter", func(t *testing.T) {
		do("GET", "/v1/sources/special", demoToken, "", "")
		if got.RouteKey != "GET /v1/sources/special" {
			t.Fatalf("route %s", got.RouteKey)
		}
	})
	t.Run("missing or unknown token", func(t *testing.T) {
		for _, token := range []string{"", "nope"} {
			if status, body := do("GET", "/v1/sources/abc", token, "", ""); status != 401 || !strings.Contains(body, "Unauthorized") {
				t.Errorf("token %q: %d %s", token, status, body)
			}
		}
	})
	t.Run("public route with a binary body", func(t *testing.T) {
		status, _ := do("POST", "/v1/webhooks/contacthub/s1", "", "application/octet-stream", "\xff\x00")
		if status != 201 || !got.IsBase64Encoded || got.Body != "/wA=" || got.PathParameters["sourceId"] != "s1" {
			t.Fatalf("status %d event %+v", status, got)
		}
	})
	t.Run("greedy path", func(t *testing.T) {
		do("GET", "/console/app/main.js", "", "", "")
		if got.PathParameters["proxy"] != "app/main.js" {
			t.Fatalf("params %v", got.PathParameters)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for path, want := range map[string]int{"/fail": 500, "/missing": 503, "/nowhere": 404} {
			if status, _ := do("GET", path, "", "", ""); status != want {
				t.Errorf("%s: %d, want %d", path, status, want)
			}
		}
	})
}
