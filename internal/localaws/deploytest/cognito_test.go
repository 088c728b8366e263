package deploytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/localaws/apigw"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

// cognito calls moto's Cognito user pools API (AWS JSON 1.1) as the AWS
// CLI would. moto does not create Cognito resources from CloudFormation, so
// the test makes the pool, client, groups and users the template declares
// with the API calls the README's "add a user" steps use.
type cognito struct {
	t        *testing.T
	endpoint string
}

func (c cognito) call(action string, in map[string]any) map[string]any {
	c.t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequestWithContext(c.t.Context(), "POST", c.endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService."+action)
	// moto reads the region from the signature's scope.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/"+emulators.Region+"/cognito-idp/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s: %d %s", action, resp.StatusCode, raw)
	}
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return out
}

// pool makes a user pool with an app client for the console and the
// hubsend groups of workspace demo.
func (c cognito) pool(name string) (poolID, clientID string) {
	c.t.Helper()
	poolID = c.call("CreateUserPool", map[string]any{"PoolName": name, "UsernameAttributes": []string{"email"}})["UserPool"].(map[string]any)["Id"].(string)
	clientID = c.client(poolID, "console")
	for _, role := range []string{"admin", "viewer"} {
		c.call("CreateGroup", map[string]any{"UserPoolId": poolID, "GroupName": "hubsend:demo:" + role})
	}
	return poolID, clientID
}

func (c cognito) client(poolID, name string) string {
	c.t.Helper()
	return c.call("CreateUserPoolClient", map[string]any{
		"UserPoolId": poolID, "ClientName": name, "GenerateSecret": false,
		"ExplicitAuthFlows": []string{"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"},
	})["UserPoolClient"].(map[string]any)["ClientId"].(string)
}

// user adds a person as the README says, in group (none when empty).
func (c cognito) user(poolID, email, group string) {
	c.t.Helper()
	c.call("AdminCreateUser", map[string]any{"UserPoolId": poolID, "Username": email,
		"UserAttributes": []map[string]string{{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}}})
	c.call("AdminSetUserPassword", map[string]any{"UserPoolId": poolID, "Username": email, "Password": "Passw0rd!Passw0rd", "Permanent": true})
	if group != "" {
		c.call("AdminAddUserToGroup", map[string]any{"UserPoolId": poolID, "Username": email, "GroupName": group})
	}
}

// signIn returns the ID token of a user of the client.
func (c cognito) signIn(clientID, email string) string {
	c.t.Helper()
	out := c.call("InitiateAuth", map[string]any{"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": clientID,
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": "Passw0rd!Passw0rd"}})
	return out["AuthenticationResult"].(map[string]any)["IdToken"].(string)
}

// TestCognitoTokensThroughTheGateway signs people in to a Cognito user pool
// (moto's), calls the config API through the local gateway with their ID
// tokens, and checks the workspace and role reach it from the hubsend
// groups; tokens that are expired, tampered with, for another app client
// or from another pool are refused by the gateway.
func TestCognitoTokensThroughTheGateway(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("moto_server is required in CI: pip install -r tools/requirements-deploy.txt")
		}
		t.Skip("needs moto_server: pip install -r tools/requirements-deploy.txt")
	}
	moto, err := emulators.StartMoto(t.Context(), emulators.MotoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { moto.Close() })
	idp := cognito{t: t, endpoint: moto.Endpoint()}
	poolID, clientID := idp.pool("hubsend-dev")
	idp.user(poolID, "ada@example.com", "hubsend:demo:admin")
	idp.user(poolID, "vera@example.com", "hubsend:demo:viewer")
	idp.user(poolID, "nobody@example.com", "")

	// As template.yaml configures the authorizer and the function when it
	// creates the pool.
	issuer := "https://cognito-idp." + emulators.Region + ".amazonaws.com/" + poolID
	authorizer := apigw.JWTAuthorizer{Issuer: issuer, Audience: []string{clientID},
		// moto answers 500 for the pool's discovery document.
		JWKSURL: moto.Endpoint() + "/" + poolID + "/.well-known/jwks.json"}
	api := configapi.New(configapi.Config{GroupClaim: "cognito:groups"})
	var claims map[string]string
	handler := func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		claims = e.RequestContext.Authorizer.JWT.Claims
		return api.Handle(ctx, e)
	}
	gateway := func(a apigw.JWTAuthorizer) *httptest.Server {
		srv := httptest.NewServer(apigw.New(apigw.Config{
			Routes:      []samtemplate.Route{{FunctionID: "ConfigApiFunction", Method: "POST", Path: "/v1/sources", Authorizer: "WorkspaceJwt"}},
			Functions:   map[string]apigw.Handler{"ConfigApiFunction": handler},
			Authorizers: map[string]apigw.JWTAuthorizer{"WorkspaceJwt": a},
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	srv := gateway(authorizer)
	// An empty create is 400 for whoever may create, 403 for a viewer.
	create := func(t *testing.T, srv *httptest.Server, token string) (int, string, string) {
		t.Helper()
		claims = nil
		req, _ := http.NewRequest("POST", srv.URL+"/v1/sources", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header.Get("WWW-Authenticate")
	}

	admin := idp.signIn(clientID, "ada@example.com")
	viewer := idp.signIn(clientID, "vera@example.com")
	t.Run("admin", func(t *testing.T) {
		status, body, _ := create(t, srv, admin)
		if status != 400 || !strings.Contains(body, "body is empty") {
			t.Fatalf("%d %s", status, body)
		}
		if claims["iss"] != issuer || claims["aud"] != clientID || claims["email"] != "ada@example.com" ||
			claims["cognito:groups"] != "[hubsend:demo:admin]" || claims["token_use"] != "id" || claims["sub"] == "" {
			t.Errorf("claims %v", claims)
		}
	})
	t.Run("viewer", func(t *testing.T) {
		if status, body, _ := create(t, srv, viewer); status != 403 || !strings.Contains(body, "role") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("no hubsend group", func(t *testing.T) {
		if status, body, _ := create(t, srv, idp.signIn(clientID, "nobody@example.com")); status != 401 || !strings.Contains(body, "no workspace") {
			t.Fatalf("%d %s", status, body)
		}
	})

	otherClient := idp.client(poolID, "another-app")
	otherPool, otherPoolClient := idp.pool("someone-else")
	idp.user(otherPool, "ada@example.com", "hubsend:demo:admin")
	refused := map[string]struct {
		srv    *httptest.Server
		token  string
		reason string
	}{
		"expired": {gateway(apigw.JWTAuthorizer{Issuer: authorizer.Issuer, Audience: authorizer.Audience, JWKSURL: authorizer.JWKSURL,
			Now: func() time.Time { return time.Now().Add(61 * time.Minute) }}), admin, "expired"},
		"tampered (viewer made admin)": {srv, promote(t, viewer), "signature"},
		"another app client":           {srv, idp.signIn(otherClient, "ada@example.com"), "audience"},
		// moto signs every pool with one key: only iss tells them apart.
		"another user pool": {srv, idp.signIn(otherPoolClient, "ada@example.com"), "issuer"},
	}
	for name, tc := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			status, body, header := create(t, tc.srv, tc.token)
			if status != 401 || body != "{\"message\":\"Unauthorized\"}\n" || !strings.Contains(header, tc.reason) {
				t.Fatalf("%d %q %q", status, body, header)
			}
			if claims != nil {
				t.Fatal("the config API was called")
			}
		})
	}
}

// promote rewrites a token's groups to admin, keeping its signature.
func promote(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), "hubsend:demo:viewer", "hubsend:demo:admin", 1)
	if forged == string(payload) {
		t.Fatalf("no viewer group in %s", payload)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}
