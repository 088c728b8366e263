package configapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// serveConsole serves the web console's files: "/" is its index page, and
// /console/... are its assets. The console is static; it calls this API.
func (a *API) serveConsole(_ context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Console == nil {
		return problem(http.StatusNotFound, "this deployment serves no console")
	}
	name := "index.html"
	if p := r.params["proxy"]; p != "" {
		name = path.Clean(p)
	}
	if name == "config.json" {
		// How the console signs people in: the deployment's settings.
		resp := jsonResponse(http.StatusOK, a.cfg.SignIn)
		resp.Headers["Cache-Control"] = "no-cache"
		return resp
	}
	if !fs.ValidPath(name) {
		return problem(http.StatusNotFound, "no such file")
	}
	data, err := fs.ReadFile(a.cfg.Console, name)
	if err != nil {
		return problem(http.StatusNotFound, "no such file")
	}
	sum := sha256.Sum256(data)
	tag := `"` + hex.EncodeToString(sum[:8]) + `"`
	headers := map[string]string{
		"ETag":                    tag,
		"Cache-Control":           "no-cache",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src " + a.connectSources() + "; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
	}
	if r.header("If-None-Match") == tag {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNotModified, Headers: headers}
	}
	contentType := mime.TypeByExtension(path.Ext(name))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	headers["Content-Type"] = contentType
	resp := events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: headers}
	if utf8.Valid(data) && (strings.HasPrefix(contentType, "text/") || strings.Contains(contentType, "javascript") || strings.Contains(contentType, "json") || strings.Contains(contentType, "svg")) {
		resp.Body = string(data)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(data)
		resp.IsBase64Encoded = true
	}
	return resp
}

// connectSources are the origins the console may call: its own (the API)
// and the identity provider's (discovery, token endpoint).
func (a *API) connectSources() string {
	sources := []string{"'self'"}
	for _, raw := range []string{a.cfg.SignIn.Issuer, a.cfg.SignIn.TokenURL} {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			continue
		}
		origin := u.Scheme + "://" + u.Host
		if !slices.Contains(sources, origin) {
			sources = append(sources, origin)
		}
	}
	return strings.Join(sources, " ")
}

// SignIn is how the console signs people in: the OpenID Connect
// authorization code flow with PKCE against Issuer, as the public client
// ClientID. AuthorizeURL, TokenURL and LogoutURL override what the issuer's
// discovery document says (a Cognito user pool's hosted domain); Scope
// defaults to "openid email profile".
type SignIn struct {
	Issuer       string `json:"issuer,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	AuthorizeURL string `json:"authorizeUrl,omitempty"`
	TokenURL     string `json:"tokenUrl,omitempty"`
	LogoutURL    string `json:"logoutUrl,omitempty"`
	Scope        string `json:"scope,omitempty"`
}
