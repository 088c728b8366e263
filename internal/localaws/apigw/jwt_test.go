package apigw

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

// testIssuer publishes one RSA key as a JWKS behind a discovery document
// and signs whatever claims a test asks for.
type testIssuer struct {
	url       string
	key       *rsa.PrivateKey
	kid       string
	jwksReads atomic.Int32
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIssuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": idp.url, "jwks_uri": idp.url + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		idp.jwksReads.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: idp.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	idp.url = srv.URL
	return idp
}

func (idp *testIssuer) authorizer() JWTAuthorizer {
	return JWTAuthorizer{Issuer: idp.url, Audience: []string{"console-client"}}
}

// claims are a valid ID token's, changed by edit.
func (idp *testIssuer) claims(edit func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": idp.url, "sub": "user-1", "aud": "console-client", "token_use": "id",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"custom:workspace": "demo", "cognito:groups": []string{"a", "b"}, "email_verified": true,
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func (idp *testIssuer) sign(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	return signWith(t, jose.RS256, key, idp.kid, claims)
}

func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestJWTAuthorizer(t *testing.T) {
	idp := newTestIssuer(t)
	var got events.APIGatewayV2HTTPRequest
	echo := func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got = e
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	gw := New(Config{
		Routes: []samtemplate.Route{
			{FunctionID: "Api", Method: "GET", Path: "/v1/sources", Authorizer: "WorkspaceJwt"},
			{FunctionID: "Api", Method: "POST", Path: "/v1/admin", Authorizer: "WorkspaceJwt", Scopes: []string{"hubsend/admin", "other"}},
		},
		Functions:   map[string]Handler{"Api": echo},
		Authorizers: map[string]JWTAuthorizer{"WorkspaceJwt": idp.authorizer()},
	})
	srv := httptest.NewServer(gw)
	defer srv.Close()
	call := func(t *testing.T, method, path, authorization string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body)), resp.Header.Get("WWW-Authenticate")
	}

	t.Run("valid tokens pass their claims as API Gateway does", func(t *testing.T) {
		for name, token := range map[string]string{
			"id token (aud)": idp.sign(t, idp.key, idp.claims(nil)),
			"access token (client_id)": idp.sign(t, idp.key, idp.claims(func(c map[string]any) {
				delete(c, "aud")
				c["client_id"], c["token_use"] = "console-client", "access"
			})),
			"audience list": idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["aud"] = []string{"x", "console-client"} })),
		} {
			t.Run(name, func(t *testing.T) {
				got = events.APIGatewayV2HTTPRequest{}
				if status, body, _ := call(t, "GET", "/v1/sources", "Bearer "+token); status != 200 {
					t.Fatalf("status %d %s", status, body)
				}
				claims := got.RequestContext.Authorizer.JWT.Claims
				if claims["custom:workspace"] != "demo" || claims["sub"] != "user-1" ||
					claims["cognito:groups"] != "[a b]" || claims["email_verified"] != "true" ||
					!strings.HasPrefix(claims["exp"], "1") || strings.ContainsAny(claims["exp"], "e.") {
					t.Fatalf("claims %v", claims)
				}
			})
		}
	})

	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hmacToken := signWith(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), idp.kid, idp.claims(nil))
	refused := map[string]struct {
		authorization string
		description   string
	}{
		"no header":           {"", "no token"},
		"not a JWT":           {"Bearer demo-token", "not a signed JWT"},
		"wrongly signed":      {"Bearer " + idp.sign(t, otherKey, idp.claims(nil)), "signature"},
		"HMAC, not RSA":       {"Bearer " + hmacToken, "RSA"},
		"unknown key id":      {"Bearer " + signWith(t, jose.RS256, idp.key, "k2", idp.claims(nil)), "kid"},
		"expired":             {"Bearer " + idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() })), "expired"},
		"no expiry":           {"Bearer " + idp.sign(t, idp.key, idp.claims(func(c map[string]any) { delete(c, "exp") })), "no expiry"},
		"not valid yet (nbf)": {"Bearer " + idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "not valid yet"},
		"wrong audience":      {"Bearer " + idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["aud"] = "someone-else" })), "audience"},
		"wrong client_id": {"Bearer " + idp.sign(t, idp.key, idp.claims(func(c map[string]any) {
			delete(c, "aud")
			c["client_id"] = "someone-else"
		})), "audience"},
		"wrong issuer": {"Bearer " + idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), "issuer"},
	}
	for name, tc := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			got = events.APIGatewayV2HTTPRequest{}
			status, body, header := call(t, "GET", "/v1/sources", tc.authorization)
			if status != 401 || body != `{"message":"Unauthorized"}` {
				t.Fatalf("got %d %s, want API Gateway's 401", status, body)
			}
			if !strings.Contains(header, `error="invalid_token"`) || !strings.Contains(header, tc.description) {
				t.Fatalf("WWW-Authenticate %q, want invalid_token naming %q", header, tc.description)
			}
			if got.RouteKey != "" {
				t.Fatal("the function was called")
			}
		})
	}

	t.Run("scopes", func(t *testing.T) {
		without := idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["scope"] = "openid email" }))
		status, body, header := call(t, "POST", "/v1/admin", "Bearer "+without)
		if status != 403 || body != `{"message":"Forbidden"}` || !strings.Contains(header, `error="insufficient_scope"`) {
			t.Fatalf("without the scope: %d %s %q", status, body, header)
		}
		with := idp.sign(t, idp.key, idp.claims(func(c map[string]any) { c["scope"] = "openid other" }))
		if status, body, _ := call(t, "POST", "/v1/admin", "Bearer "+with); status != 200 {
			t.Fatalf("with one of the scopes: %d %s", status, body)
		}
	})

	t.Run("keys are cached", func(t *testing.T) {
		before := idp.jwksReads.Load()
		token := idp.sign(t, idp.key, idp.claims(nil))
		for range 5 {
			call(t, "GET", "/v1/sources", "Bearer "+token)
		}
		if reads := idp.jwksReads.Load() - before; reads != 0 {
			t.Fatalf("%d JWKS reads for known keys", reads)
		}
	})
}
