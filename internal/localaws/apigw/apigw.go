// Package apigw plays API Gateway (HTTP API, payload format 2.0) on one
// machine: it matches requests against the routes template.yaml declares,
// authorizes them as its JWT authorizer does (signature against the
// issuer's JWKS, issuer, audience, expiry, scopes), turns them into the same events Lambda
// receives, and writes the handler's answers back. The functions behind it
// run their real handler code, so what works locally works in AWS.
package apigw

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

// Handler is a function's HTTP handler, as lambda.Start would call it.
type Handler func(ctx context.Context, event events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// MaxPayload is API Gateway's request size limit for HTTP APIs.
const MaxPayload = 10 << 20

// Config describes a gateway.
type Config struct {
	// Routes come from template.yaml.
	Routes []samtemplate.Route
	// Functions maps a function's logical id to its handler. Routes of
	// functions without a handler answer 503.
	Functions map[string]Handler
	// Authorizers configures each JWT authorizer by its name in the
	// template (e.g. WorkspaceJwt).
	Authorizers map[string]JWTAuthorizer
	Logger      *slog.Logger
}

// Gateway is an http.Handler.
type Gateway struct {
	cfg       Config
	verifiers map[string]*verifier
}

// New returns a gateway.
func New(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, verifiers: map[string]*verifier{}}
	for name, a := range cfg.Authorizers {
		g.verifiers[name] = newVerifier(a)
	}
	return g
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	route, params := g.match(r.Method, r.URL.Path)
	if route == nil {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	handler := g.cfg.Functions[route.FunctionID]
	if handler == nil {
		writeMessage(w, http.StatusServiceUnavailable, route.FunctionID+" is not running in this local stack")
		return
	}
	event, status := g.event(r, route, params)
	if status != 0 {
		writeMessage(w, status, http.StatusText(status))
		return
	}
	if !route.Public() {
		v := g.verifiers[route.Authorizer]
		if v == nil {
			writeMessage(w, http.StatusInternalServerError, "authorizer "+route.Authorizer+" is not configured in this local stack")
			return
		}
		claims, authErr := v.verify(r.Context(), r.Header.Get("Authorization"), route.Scopes)
		if authErr != nil {
			g.cfg.Logger.Info("unauthorized", "route", event.RouteKey, "authorizerError", authErr.Description)
			// API Gateway's answer: the bare status message, the reason only
			// in WWW-Authenticate.
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer scope=%q error=%q error_description=%q`,
				strings.Join(route.Scopes, " "), authErr.Code, authErr.Description))
			writeMessage(w, authErr.Status, http.StatusText(authErr.Status))
			return
		}
		event.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	resp, err := handler(r.Context(), event)
	if err != nil {
		// Lambda reports a handler error to API Gateway, which answers 500.
		g.cfg.Logger.Error("function failed", "function", route.FunctionID, "route", event.RouteKey, "error", err)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeResponse(w, resp)
	g.cfg.Logger.Info("request", "method", r.Method, "path", r.URL.Path, "route", event.RouteKey,
		"status", resp.StatusCode, "duration", time.Since(start).Round(time.Microsecond))
}

// match finds the route for a request as API Gateway does: exact paths
// before parameterised ones, {proxy+} last.
func (g *Gateway) match(method, path string) (*samtemplate.Route, map[string]string) {
	var best *samtemplate.Route
	var bestParams map[string]string
	bestScore := -1
	for i := range g.cfg.Routes {
		rt := &g.cfg.Routes[i]
		if rt.Method != method && !strings.EqualFold(rt.Method, "ANY") {
			continue
		}
		params, score, ok := matchPath(rt.Path, path)
		if ok && score > bestScore {
			best, bestParams, bestScore = rt, params, score
		}
	}
	return best, bestParams
}

// matchPath scores a match: literal segments count most, greedy ones least.
func matchPath(pattern, path string) (map[string]string, int, bool) {
	want := strings.Split(strings.Trim(pattern, "/"), "/")
	got := strings.Split(strings.Trim(path, "/"), "/")
	if pattern == "/" {
		return map[string]string{}, 1000, path == "/"
	}
	params := map[string]string{}
	score := 0
	for i, seg := range want {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}") {
			if i >= len(got) || got[i] == "" {
				return nil, 0, false
			}
			params[strings.TrimSuffix(seg[1:], "+}")] = strings.Join(got[i:], "/")
			return params, score, true
		}
		if i >= len(got) {
			return nil, 0, false
		}
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			if got[i] == "" {
				return nil, 0, false
			}
			params[seg[1:len(seg)-1]] = got[i]
			score += 10
		case seg == got[i]:
			score += 100
		default:
			return nil, 0, false
		}
	}
	if len(got) != len(want) {
		return nil, 0, false
	}
	return params, score, true
}

func (g *Gateway) event(r *http.Request, route *samtemplate.Route, params map[string]string) (events.APIGatewayV2HTTPRequest, int) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, http.StatusBadRequest
	}
	if len(body) > MaxPayload {
		return events.APIGatewayV2HTTPRequest{}, http.StatusRequestEntityTooLarge
	}
	now := time.Now()
	event := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       route.Method + " " + route.Path,
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:  "000000000000",
			APIID:      "local",
			Stage:      "$default",
			RequestID:  strconv.FormatInt(now.UnixNano(), 36),
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			RouteKey:   route.Method + " " + route.Path,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
				SourceIP: strings.Split(r.RemoteAddr, ":")[0], UserAgent: r.UserAgent(),
			},
		},
	}
	// Payload 2.0 joins repeated headers and query values with commas and
	// lower-cases header names.
	for name, values := range r.Header {
		event.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	if cookies := r.Header.Values("Cookie"); len(cookies) > 0 {
		event.Cookies = strings.Split(strings.Join(cookies, "; "), "; ")
		delete(event.Headers, "cookie")
	}
	if q := r.URL.Query(); len(q) > 0 {
		event.QueryStringParameters = map[string]string{}
		for k, v := range q {
			event.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) && isText(r.Header.Get("Content-Type")) {
			event.Body = string(body)
		} else {
			event.Body = base64.StdEncoding.EncodeToString(body)
			event.IsBase64Encoded = true
		}
	}
	return event, 0
}

func isText(contentType string) bool {
	ct := strings.ToLower(contentType)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") ||
		strings.Contains(ct, "xml") || strings.Contains(ct, "x-www-form-urlencoded")
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, values := range resp.MultiValueHeaders {
		for _, v := range values {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			writeMessage(w, http.StatusBadGateway, "function returned invalid base64")
			return
		}
		body = decoded
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(body)
}

// writeMessage answers the way API Gateway itself does: {"message": "..."}.
func writeMessage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"message\":%q}\n", message)
}
