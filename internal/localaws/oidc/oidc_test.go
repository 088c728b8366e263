package oidc_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/localaws/apigw"
	"github.com/hubsend/hubsend/internal/localaws/oidc"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

const redirect = "http://127.0.0.1:9/"

// newIssuer serves an issuer under a path, as an issuer URL may have one.
func newIssuer(t *testing.T, lifetime time.Duration) (*oidc.Issuer, string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuerURL := srv.URL + "/idp"
	issuer, err := oidc.New(oidc.Config{
		URL: issuerURL, ClientID: "console", RedirectURIs: []string{redirect}, Lifetime: lifetime,
		Users: []oidc.User{{Username: "viewer", Subject: "s-viewer", Email: "viewer@example.com",
			Claims: map[string]any{"custom:workspace": "demo", "custom:role": "viewer"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/idp/", issuer)
	return issuer, issuerURL
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn runs the authorization code flow with PKCE as the console does
// and returns the token endpoint's answer.
func signIn(t *testing.T, issuerURL, verifier, sentVerifier string) (int, map[string]any) {
	t.Helper()
	sum := sha256.Sum256([]byte(verifier))
	form := url.Values{
		"response_type": {"code"}, "client_id": {"console"}, "redirect_uri": {redirect},
		"state": {"st-1"}, "scope": {"openid email"}, "nonce": {"n-1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	page, err := http.Get(issuerURL + "/authorize?" + form.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(body), `data-user="viewer"`) {
		t.Fatalf("authorization page: %d %s", page.StatusCode, body)
	}
	form.Set("username", "viewer")
	resp, err := noRedirects.PostForm(issuerURL+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || back.Query().Get("state") != "st-1" || back.Query().Get("code") == "" {
		t.Fatalf("redirect back: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return postToken(t, issuerURL, url.Values{
		"grant_type": {"authorization_code"}, "client_id": {"console"}, "code": {back.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {sentVerifier},
	})
}

func postToken(t *testing.T, issuerURL string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(issuerURL+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("the token endpoint does not allow the console's origin")
	}
	return resp.StatusCode, out
}

// TestSignInWithPKCE signs in, calls a route through the local gateway with
// the ID and the access token, and renews with the refresh token.
func TestSignInWithPKCE(t *testing.T) {
	issuer, issuerURL := newIssuer(t, time.Hour)
	var claims map[string]string
	gw := httptest.NewServer(apigw.New(apigw.Config{
		Routes: []samtemplate.Route{{FunctionID: "Api", Method: "GET", Path: "/v1/sources", Authorizer: "WorkspaceJwt"}},
		Functions: map[string]apigw.Handler{"Api": func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			claims = e.RequestContext.Authorizer.JWT.Claims
			return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
		}},
		// Discovery, as API Gateway reads it.
		Authorizers: map[string]apigw.JWTAuthorizer{"WorkspaceJwt": {Issuer: issuerURL, Audience: []string{"console"}}},
	}))
	defer gw.Close()
	api := func(t *testing.T, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", gw.URL+"/v1/sources", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	verifier := strings.Repeat("v", 43)
	status, tokens := signIn(t, issuerURL, verifier, verifier)
	if status != 200 {
		t.Fatalf("token: %d %v", status, tokens)
	}
	if got := api(t, tokens["id_token"].(string)); got != 200 {
		t.Fatalf("ID token refused: %d", got)
	}
	if claims["custom:role"] != "viewer" || claims["email"] != "viewer@example.com" || claims["sub"] != "s-viewer" || claims["nonce"] != "n-1" || claims["token_use"] != "id" {
		t.Errorf("ID token claims %v", claims)
	}
	if got := api(t, tokens["access_token"].(string)); got != 200 || claims["client_id"] != "console" || claims["scope"] != "openid email" {
		t.Errorf("access token: %d %v", got, claims)
	}
	status, renewed := postToken(t, issuerURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {"console"}, "refresh_token": {tokens["refresh_token"].(string)}})
	if status != 200 || api(t, renewed["id_token"].(string)) != 200 {
		t.Fatalf("refresh: %d %v", status, renewed)
	}
	if !issuer.ValidFor(renewed["id_token"].(string), 50*time.Minute) || issuer.ValidFor(renewed["id_token"].(string), 2*time.Hour) {
		t.Error("ValidFor misreads the expiry")
	}

	t.Run("a wrong code verifier gets no tokens", func(t *testing.T) {
		status, out := signIn(t, issuerURL, verifier, strings.Repeat("w", 43))
		if status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("%d %v", status, out)
		}
	})
	t.Run("a code works once", func(t *testing.T) {
		status, out := postToken(t, issuerURL, url.Values{"grant_type": {"authorization_code"}, "client_id": {"console"}, "code": {"made-up"}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
		if status != 400 || out["error"] != "invalid_grant" {
			t.Fatalf("%d %v", status, out)
		}
	})
	t.Run("an unregistered redirect is not followed", func(t *testing.T) {
		resp, err := noRedirects.Get(issuerURL + "/authorize?" + url.Values{"client_id": {"console"}, "redirect_uri": {"https://evil.example/"}, "response_type": {"code"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("PKCE is required", func(t *testing.T) {
		resp, err := noRedirects.Get(issuerURL + "/authorize?" + url.Values{"client_id": {"console"}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.Contains(loc, "error=invalid_request") {
			t.Fatalf("%d %s", resp.StatusCode, loc)
		}
	})
	t.Run("demo token for curl", func(t *testing.T) {
		resp, err := http.Get(issuerURL + "/demo-token?user=viewer")
		if err != nil {
			t.Fatal(err)
		}
		token, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := api(t, strings.TrimSpace(string(token))); got != 200 {
			t.Fatalf("demo token refused: %d", got)
		}
	})
}

// TestExpiredTokensAreRefused: a token past its lifetime no longer passes
// the gateway.
func TestExpiredTokensAreRefused(t *testing.T) {
	issuer, issuerURL := newIssuer(t, time.Second)
	gw := apigw.New(apigw.Config{
		Routes: []samtemplate.Route{{FunctionID: "Api", Method: "GET", Path: "/x", Authorizer: "A"}},
		Functions: map[string]apigw.Handler{"Api": func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
		}},
		Authorizers: map[string]apigw.JWTAuthorizer{"A": {Issuer: issuerURL, Audience: []string{"console"}, Now: func() time.Time { return time.Now().Add(2 * time.Second) }}},
	})
	user, _ := issuer.User("viewer")
	token, err := issuer.Mint(user, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	gw.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "expired") {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

// TestProviderSession: a browser that signed in goes straight back with a
// code (as with Cognito's hosted page), until it signs out.
func TestProviderSession(t *testing.T) {
	_, issuerURL := newIssuer(t, time.Hour)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: noRedirects.CheckRedirect}
	sum := sha256.Sum256([]byte(strings.Repeat("v", 43)))
	form := url.Values{
		"response_type": {"code"}, "client_id": {"console"}, "redirect_uri": {redirect}, "state": {"s"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	authorize := func(t *testing.T) *http.Response {
		t.Helper()
		resp, err := browser.Get(issuerURL + "/authorize?" + form.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := authorize(t); resp.StatusCode != 200 {
		t.Fatalf("before signing in: %d, want the sign-in page", resp.StatusCode)
	}
	form.Set("username", "viewer")
	resp, err := browser.PostForm(issuerURL+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form.Del("username")
	if resp := authorize(t); resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("signed in: %d %q, want straight back with a code", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = browser.Get(issuerURL + "/logout?" + url.Values{"client_id": {"console"}, "logout_uri": {redirect}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != redirect {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := authorize(t); resp.StatusCode != 200 {
		t.Fatalf("after signing out: %d, want the sign-in page", resp.StatusCode)
	}
}
