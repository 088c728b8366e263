// Package oidc is a small OpenID Connect issuer for the local stack: a
// discovery document, a JWKS, an authorization endpoint that lets a person
// pick one of a few demo users, and a token endpoint for the authorization
// code grant with PKCE (S256 only) and refresh tokens. It signs RS256 JWTs
// shaped like Cognito's, so the console signs in on a laptop exactly as it
// does against the deployed identity provider, and the local gateway
// verifies real signatures. It is never deployed.
package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// User is a demo user the authorization page offers.
type User struct {
	// Username is what the sign-in page shows and /demo-token takes.
	Username string
	Subject  string
	Email    string
	// Claims are added to the ID and access tokens (e.g. the workspace
	// and role claims).
	Claims map[string]any
}

// Config describes an issuer.
type Config struct {
	// URL is the issuer identifier: the iss of every token and the base of
	// every endpoint (served at its path).
	URL string
	// ClientID is the one public client (no secret) allowed to sign in.
	ClientID string
	// RedirectURIs the client may be sent back to (exact match).
	RedirectURIs []string
	Users        []User
	// Key signs tokens; nil generates one.
	Key *rsa.PrivateKey
	// Lifetime of ID and access tokens; default one hour, as Cognito's.
	Lifetime time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Issuer is an http.Handler serving the issuer's endpoints.
type Issuer struct {
	cfg    Config
	signer jose.Signer
	keyID  string
	path   string
	mu     sync.Mutex
	codes  map[string]grant // authorization codes, single use
	// refresh tokens name the user they renew.
	refresh map[string]grant
	// sessions are the browsers signed in here (a cookie): as Cognito's
	// hosted page does, /authorize sends them straight back with a code.
	sessions map[string]User
	// refreshes counts refresh grants, for tests of silent renewal.
	refreshes int
}

const sessionCookie = "local_idp_session"

type grant struct {
	user          User
	redirectURI   string
	challenge     string
	nonce, scope  string
	expires       time.Time
	authenticated time.Time
}

// New returns an issuer.
func New(cfg Config) (*Issuer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("oidc: issuer URL %q is not an absolute URL", cfg.URL)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: a client id is required")
	}
	if cfg.Key == nil {
		if cfg.Key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("oidc: generate a signing key: %w", err)
		}
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(&cfg.Key.PublicKey))
	keyID := hex.EncodeToString(sum[:8])
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: cfg.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		return nil, fmt.Errorf("oidc: signer: %w", err)
	}
	return &Issuer{cfg: cfg, signer: signer, keyID: keyID, path: strings.TrimRight(u.Path, "/"),
		codes: map[string]grant{}, refresh: map[string]grant{}, sessions: map[string]User{}}, nil
}

// MarshalKey and ParseKey keep a signing key (PEM) across restarts, so
// tokens issued before a restart still verify after it.
func MarshalKey(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// ParseKey reads a key written by MarshalKey.
func ParseKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("oidc: no PEM block in the key file")
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// Refreshes is how many times tokens were renewed with a refresh token.
func (i *Issuer) Refreshes() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.refreshes
}

// JWKSURL is where the issuer publishes its keys.
func (i *Issuer) JWKSURL() string { return i.cfg.URL + "/.well-known/jwks.json" }

// User returns the demo user with that username.
func (i *Issuer) User(username string) (User, bool) {
	for _, u := range i.cfg.Users {
		if u.Username == username {
			return u, true
		}
	}
	return User{}, false
}

// Tokens is the token endpoint's answer.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Mint issues an ID token for a user, valid for lifetime (the issuer's
// when zero): what tests and the printed curl command use.
func (i *Issuer) Mint(u User, lifetime time.Duration) (string, error) {
	if lifetime == 0 {
		lifetime = i.cfg.Lifetime
	}
	now := i.cfg.Now()
	return i.sign(u, "id", "", "", now, now, lifetime)
}

func (i *Issuer) sign(u User, use, scope, nonce string, now, authTime time.Time, lifetime time.Duration) (string, error) {
	claims := map[string]any{}
	for k, v := range u.Claims {
		claims[k] = v
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	std := jwt.Claims{
		Issuer: i.cfg.URL, Subject: u.Subject, ID: hex.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(lifetime)),
	}
	claims["token_use"] = use
	claims["auth_time"] = authTime.Unix()
	switch use {
	case "id":
		std.Audience = jwt.Audience{i.cfg.ClientID}
		claims["email"] = u.Email
		claims["email_verified"] = true
		claims["cognito:username"] = u.Username
		if nonce != "" {
			claims["nonce"] = nonce
		}
	case "access":
		// Cognito's access tokens carry client_id and scope, no aud.
		claims["client_id"] = i.cfg.ClientID
		claims["scope"] = scope
		claims["username"] = u.Username
	}
	return jwt.Signed(i.signer).Claims(std).Claims(claims).Serialize()
}

func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, i.path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case "/.well-known/openid-configuration":
		i.discovery(w)
	case "/.well-known/jwks.json":
		i.jwks(w)
	case "/authorize":
		i.authorize(w, r)
	case "/token":
		i.token(w, r)
	case "/logout":
		i.logout(w, r)
	case "/demo-token":
		i.demoToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// oauthError answers as RFC 6749 section 5.2 says.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func (i *Issuer) discovery(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.cfg.URL,
		"authorization_endpoint":                i.cfg.URL + "/authorize",
		"token_endpoint":                        i.cfg.URL + "/token",
		"end_session_endpoint":                  i.cfg.URL + "/logout",
		"jwks_uri":                              i.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"none"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &i.cfg.Key.PublicKey, KeyID: i.keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

var chooser = template.Must(template.New("chooser").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in — local identity provider</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
button{display:block;width:100%;margin:.5rem 0;padding:.75rem;font:inherit;text-align:left;cursor:pointer}</style></head>
<body><h1>Sign in</h1><p>The local identity provider of <code>make run</code>: choose a demo user.</p>
<form method="post">{{range .Params}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
{{range .Users}}<button type="submit" name="username" value="{{.Username}}" data-user="{{.Username}}">{{.Username}} <small>({{.Email}})</small></button>{{end}}
</form></body></html>`))

type param struct{ Name, Value string }

func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed request", http.StatusBadRequest)
		return
	}
	q := r.Form
	redirect := q.Get("redirect_uri")
	// A bad client or redirect URI is shown, never redirected to.
	if q.Get("client_id") != i.cfg.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if !slices.Contains(i.cfg.RedirectURIs, redirect) {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	back := func(values url.Values) {
		values.Set("state", q.Get("state"))
		http.Redirect(w, r, redirect+"?"+values.Encode(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43:
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required"}})
		return
	}
	if r.Method != http.MethodPost {
		if user, ok := i.session(r); ok && q.Get("prompt") != "login" {
			i.grantCode(w, r, user, back)
			return
		}
		if q.Get("prompt") == "none" {
			back(url.Values{"error": {"login_required"}})
			return
		}
		var params []param
		for _, name := range []string{"response_type", "client_id", "redirect_uri", "state", "scope", "nonce", "code_challenge", "code_challenge_method"} {
			params = append(params, param{name, q.Get(name)})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		chooser.Execute(w, map[string]any{"Params": params, "Users": i.cfg.Users})
		return
	}
	user, ok := i.User(q.Get("username"))
	if !ok {
		back(url.Values{"error": {"access_denied"}})
		return
	}
	session := randomToken()
	i.mu.Lock()
	i.sessions[session] = user
	i.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session, Path: i.path + "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	i.grantCode(w, r, user, back)
}

func (i *Issuer) session(r *http.Request) (User, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return User{}, false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	u, ok := i.sessions[c.Value]
	return u, ok
}

func (i *Issuer) grantCode(w http.ResponseWriter, r *http.Request, user User, back func(url.Values)) {
	q := r.Form
	code := randomToken()
	now := i.cfg.Now()
	i.mu.Lock()
	i.codes[code] = grant{user: user, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), scope: q.Get("scope"), expires: now.Add(5 * time.Minute), authenticated: now}
	i.mu.Unlock()
	back(url.Values{"code": {code}})
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	// The console calls from another origin, as it calls Cognito's domain.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST the token request")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	if r.PostForm.Get("client_id") != i.cfg.ClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	now := i.cfg.Now()
	var g grant
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		i.mu.Lock()
		g, ok := i.codes[code]
		delete(i.codes, code)
		i.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		challenge := base64.RawURLEncoding.EncodeToString(sum[:])
		switch {
		case !ok || now.After(g.expires):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
			return
		case g.redirectURI != r.PostForm.Get("redirect_uri"):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
			return
		case subtle.ConstantTimeCompare([]byte(challenge), []byte(g.challenge)) != 1:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
			return
		}
		i.issue(w, g, now, true)
		return
	case "refresh_token":
		token := r.PostForm.Get("refresh_token")
		i.mu.Lock()
		var ok bool
		g, ok = i.refresh[token]
		i.mu.Unlock()
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown refresh token")
			return
		}
		g.nonce = ""
		i.mu.Lock()
		i.refreshes++
		i.mu.Unlock()
		// Like Cognito, a refresh keeps its refresh token.
		i.issue(w, g, now, false)
		return
	}
	oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "authorization_code or refresh_token")
}

func (i *Issuer) issue(w http.ResponseWriter, g grant, now time.Time, withRefresh bool) {
	id, err := i.sign(g.user, "id", "", g.nonce, now, g.authenticated, i.cfg.Lifetime)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	access, err := i.sign(g.user, "access", g.scope, "", now, g.authenticated, i.cfg.Lifetime)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	out := Tokens{AccessToken: access, IDToken: id, TokenType: "Bearer", ExpiresIn: int(i.cfg.Lifetime / time.Second)}
	if withRefresh {
		out.RefreshToken = randomToken()
		i.mu.Lock()
		i.refresh[out.RefreshToken] = g
		i.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, out)
}

// logout ends the session as Cognito's /logout does: back to logout_uri
// (or post_logout_redirect_uri, the OpenID name) when registered.
func (i *Issuer) logout(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("logout_uri")
	if target == "" {
		target = r.URL.Query().Get("post_logout_redirect_uri")
	}
	if !slices.Contains(i.cfg.RedirectURIs, target) {
		http.Error(w, "logout_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		i.mu.Lock()
		delete(i.sessions, c.Value)
		i.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: i.path + "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, target, http.StatusFound)
}

// demoToken answers a demo user's ID token as plain text, for curl:
// TOKEN=$(curl -s 'http://…/demo-token?user=admin').
func (i *Issuer) demoToken(w http.ResponseWriter, r *http.Request) {
	user, ok := i.User(r.URL.Query().Get("user"))
	if !ok {
		names := make([]string, 0, len(i.cfg.Users))
		for _, u := range i.cfg.Users {
			names = append(names, u.Username)
		}
		http.Error(w, "user must be one of "+strings.Join(names, ", "), http.StatusBadRequest)
		return
	}
	token, err := i.Mint(user, 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, token)
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ValidFor reports whether a token this issuer made is still valid for at
// least d: a kept token is made again before it runs out, or when the
// issuer moved to another address. It reads the claims only; the gateway
// checks the signature.
func (i *Issuer) ValidFor(token string, d time.Duration) bool {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	var claims jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil || claims.Expiry == nil || claims.Issuer != i.cfg.URL {
		return false
	}
	return time.Until(claims.Expiry.Time()) > d
}
