package contacthub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hubsend/hubsend/internal/retry"
)

// DefaultBaseURL is the production API root.
const DefaultBaseURL = "https://api.contactlab.it/hub/v1"

// DefaultTimeout bounds one HTTP attempt when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes guards against a runaway body; an updates page of 4000
// customers of up to 192 KB each stays well below it in practice.
const maxResponseBytes = 256 << 20

// Config says where and as whom the client talks to Contacthub.
type Config struct {
	// BaseURL is the API root including /hub/v1; empty means DefaultBaseURL.
	BaseURL     string
	WorkspaceID string
	// Token is a source token with access to the nodes the caller uses. It is
	// sent as a Bearer token and never logged or put in errors.
	Token string
	// HTTPClient nil means a client with connection and header timeouts.
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call; zero means DefaultTimeout.
	// The caller's deadline bounds the whole call: an attempt ends with it,
	// and no retry waits past it (retry.ErrOutOfTime).
	Timeout time.Duration
	// Retry is used for every call; zero fields take retry.Default's values.
	Retry retry.Policy
}

// Client calls one Contacthub workspace. It is safe for concurrent use.
type Client struct {
	workspace *url.URL // BaseURL + /workspaces/{id}
	token     string
	http      *http.Client
	timeout   time.Duration
	retry     retry.Policy
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		// The URL is not quoted: it may carry credentials in its userinfo.
		return nil, errors.New("contacthub: the base URL must be an absolute http(s) URL")
	}
	if cfg.WorkspaceID == "" {
		return nil, errors.New("contacthub: workspace id is required")
	}
	if cfg.Token == "" {
		return nil, errors.New("contacthub: token is required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	ws := base.JoinPath("workspaces", cfg.WorkspaceID)
	return &Client{workspace: ws, token: cfg.Token, http: cfg.HTTPClient, timeout: cfg.Timeout, retry: cfg.Retry}, nil
}

// String describes the client without its token.
func (c *Client) String() string {
	return "contacthub.Client(" + c.workspace.String() + ")"
}

func defaultHTTPClient() *http.Client {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &http.Client{Transport: transport}
}

// request is one API call, relative to the workspace.
type request struct {
	method string
	path   string // e.g. /customers/abc, already escaped
	query  url.Values
	body   []byte // nil when the call has none
}

func newRequest(method, path string, query url.Values, body any) (request, error) {
	r := request{method: method, path: path, query: query}
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return r, fmt.Errorf("contacthub: %s %s: encoding body: %w", method, path, err)
		}
		r.body = data
	}
	return r, nil
}

// call runs r with retries and decodes a successful answer into out (nil to
// discard it).
func (c *Client) call(ctx context.Context, r request, out any) error {
	return c.retry.Do(ctx, func(ctx context.Context) error {
		return c.once(ctx, r, out)
	})
}

// once runs a single attempt of r.
func (c *Client) once(ctx context.Context, r request, out any) error {
	attemptCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	target := c.workspace.String() + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(attemptCtx, r.method, target, body)
	if err != nil {
		return fmt.Errorf("contacthub: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return classifyTransport(ctx, r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return classifyTransport(ctx, r.method, r.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(r.method, r.path, resp, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("contacthub: %s %s: decoding %d answer: %w", r.method, r.path, resp.StatusCode, err)
	}
	return nil
}

// escape makes an id safe as one path segment.
func escape(id string) string {
	return url.PathEscape(id)
}
