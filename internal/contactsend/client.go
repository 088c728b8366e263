package contactsend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubsend/hubsend/internal/retry"
)

// DefaultEndpoint is the production service address.
const DefaultEndpoint = "https://soap.contactlab.it/soap/services"

// DefaultTokenIdle is the documented validity a keepalive extends a token by.
const DefaultTokenIdle = 15 * time.Minute

// maxResponse bounds how much of a response is read.
const maxResponse = 32 << 20

// Config configures a Client. The zero value of every field has a default.
type Config struct {
	Endpoint   string        // default DefaultEndpoint
	HTTPClient *http.Client  // default a client without its own timeout
	Timeout    time.Duration // per HTTP call; default 15s; the caller's deadline bounds calls and retries too
	Retry      retry.Policy  // zero fields take retry.Default's
	Clock      func() time.Time
	TokenIdle  time.Duration // the service's idle expiry; default 15 min
	Logger     *slog.Logger  // default discards
}

// Credentials identify a Contactsend account and user. They are never logged.
type Credentials struct {
	APIKey  string
	UserKey string
}

// String masks the keys so that printing credentials cannot leak them.
func (c Credentials) String() string { return "Credentials{" + c.id() + "}" }

// LogValue masks the keys in structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.id()) }

// hash identifies the credential set without revealing it.
func (c Credentials) hash() string {
	sum := sha256.Sum256([]byte(c.APIKey + "\x00" + c.UserKey))
	return hex.EncodeToString(sum[:])
}

func (c Credentials) id() string { return "cred:" + c.hash()[:12] }

// Client calls Contactsend. It is safe for concurrent use.
type Client struct {
	endpoint string
	http     *http.Client
	timeout  time.Duration
	retry    retry.Policy
	now      func() time.Time
	idle     time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	c := &Client{
		endpoint: cfg.Endpoint,
		http:     cfg.HTTPClient,
		timeout:  cfg.Timeout,
		retry:    cfg.Retry,
		now:      cfg.Clock,
		idle:     cfg.TokenIdle,
		log:      cfg.Logger,
		sessions: make(map[string]*session),
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.idle <= 0 {
		c.idle = DefaultTokenIdle
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if req, err := http.NewRequest(http.MethodPost, c.endpoint, nil); err != nil || req.URL.Host == "" {
		return nil, fmt.Errorf("contactsend: invalid endpoint %q", c.endpoint)
	}
	return c, nil
}

// session is the shared token of one credential set.
type session struct {
	cred Credentials

	mu          sync.Mutex
	token       string
	usedAt      time.Time // last successful call with token
	refreshedAt time.Time // last borrow or keepalive
	flight      *flight   // the borrow or keepalive in progress, if any
}

// flight is one token refresh that every waiting caller shares.
type flight struct {
	done  chan struct{}
	token string
	err   error
}

func (c *Client) session(cred Credentials) *session {
	key := cred.hash()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[key]
	if !ok {
		s = &session{cred: cred}
		c.sessions[key] = s
	}
	return s
}

// keepaliveAfter is how long a token goes unrefreshed before the next call
// keeps it alive first. Whether ordinary calls extend a token is not
// documented, so the client does not count on it: it refreshes well inside
// the idle window measured from the last borrow or keepalive.
func (c *Client) keepaliveAfter() time.Duration { return c.idle * 2 / 3 }

// token returns a usable token for s, borrowing or keeping one alive when
// needed. Concurrent callers share a single refresh.
func (c *Client) token(ctx context.Context, s *session) (string, error) {
	s.mu.Lock()
	now := c.now()
	if s.token != "" && s.flight == nil && now.Sub(s.refreshedAt) < c.keepaliveAfter() {
		tok := s.token
		s.mu.Unlock()
		return tok, nil
	}
	f := s.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		s.flight = f
		old := s.token
		if old != "" && now.Sub(s.usedAt) >= c.idle {
			old = "" // idle for the whole window: certainly expired
		}
		// The refresh outlives the caller that started it, since others wait
		// on it; the per-call timeout and the retry policy still bound it.
		go c.refresh(context.WithoutCancel(ctx), s, f, old)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *Client) refresh(ctx context.Context, s *session, f *flight, old string) {
	tok, err := c.renew(ctx, s.cred, old)
	s.mu.Lock()
	if err == nil {
		now := c.now()
		s.token, s.usedAt, s.refreshedAt = tok, now, now
	} else {
		s.token = ""
	}
	s.flight = nil
	f.token, f.err = tok, err
	s.mu.Unlock()
	close(f.done)
}

// renew keeps old alive when there is one, and borrows a new token when
// there is not or the keepalive fails.
func (c *Client) renew(ctx context.Context, cred Credentials, old string) (string, error) {
	if old != "" {
		var alive wireScalar
		err := c.retry.Do(ctx, func(ctx context.Context) error {
			return c.post(ctx, "keepaliveToken", tokenOnly(old), &alive)
		})
		if ok, perr := alive.bool(); err == nil && perr == nil && ok {
			c.log.DebugContext(ctx, "contactsend token kept alive", "credentials", cred)
			return old, nil
		}
		c.log.DebugContext(ctx, "contactsend keepalive failed, borrowing", "credentials", cred, "error", err)
	}
	var tok wireToken
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		err := c.post(ctx, "borrowToken", borrowBody(cred), &tok)
		redact(err, cred.APIKey, cred.UserKey)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("contactsend: borrowToken: %w", err)
	}
	if tok.Content == "" {
		return "", fmt.Errorf("contactsend: borrowToken: empty token")
	}
	c.log.DebugContext(ctx, "contactsend token borrowed", "credentials", cred)
	return tok.Content, nil
}

func borrowBody(cred Credentials) []byte {
	var w xmlBody
	w.leaf("apiKey", cred.APIKey)
	w.leaf("userKey", cred.UserKey)
	return w.b.Bytes()
}

func tokenOnly(tok string) []byte {
	var w xmlBody
	w.token(tok)
	return w.b.Bytes()
}

// drop forgets tok after the service refused it, unless a newer token has
// already replaced it.
func (s *session) drop(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = ""
	}
}

func (s *session) touch(tok string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok && now.After(s.usedAt) {
		s.usedAt = now
	}
}

// call is one token-taking operation.
type call struct {
	op string
	// body writes the children after <token>.
	body func(w *xmlBody)
	// out receives the <return> element; nil ignores it.
	out any
	// idempotent calls are retried after ambiguous failures.
	idempotent bool
	// ambiguous is set once an attempt failed in a way that may have taken
	// effect on the server.
	ambiguous bool
}

// stopRetry ends the retry loop on an error that stays temporary for the
// caller (a job may redeliver) but must not be repeated blindly here.
type stopRetry struct{ err error }

func (e *stopRetry) Error() string   { return e.err.Error() }
func (e *stopRetry) Unwrap() error   { return e.err }
func (e *stopRetry) Temporary() bool { return false }

// invoke runs a call with a shared token, one re-borrow on an expired token,
// and retries.
func (c *Client) invoke(ctx context.Context, cred Credentials, cl *call) error {
	s := c.session(cred)
	reborrowed := false
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		for {
			tok, err := c.token(ctx, s)
			if err != nil {
				return err
			}
			var w xmlBody
			w.token(tok)
			if cl.body != nil {
				cl.body(&w)
			}
			err = c.post(ctx, cl.op, w.b.Bytes(), cl.out)
			if err == nil {
				s.touch(tok, c.now())
				return nil
			}
			redact(err, tok, cred.APIKey, cred.UserKey)
			if errors.Is(err, ErrTokenExpired) && !reborrowed {
				reborrowed = true
				s.drop(tok)
				c.log.DebugContext(ctx, "contactsend token refused, borrowing again", "credentials", cred, "operation", cl.op)
				continue
			}
			if errors.Is(err, ErrOutcomeUnknown) {
				cl.ambiguous = true
				if !cl.idempotent {
					return &stopRetry{err}
				}
			}
			return err
		}
	})
	if sr, ok := errors.AsType[*stopRetry](err); ok && sr == err {
		err = sr.err
	}
	if err != nil {
		return fmt.Errorf("contactsend: %s: %w", cl.op, err)
	}
	return nil
}

// post sends one request and decodes its answer.
func (c *Client) post(ctx context.Context, op string, children []byte, out any) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { sent.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(envelope(op, children)))
	if err != nil {
		return fmt.Errorf("contactsend: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/soap+xml, text/xml")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(parent, op, sent.Load(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return c.transportError(parent, op, true, err)
	}
	if resp.StatusCode/100 == 2 {
		if err := decodeResponse(data, op, out); err != nil {
			if f, ok := errors.AsType[*Fault](err); ok {
				return f
			}
			return fmt.Errorf("contactsend: %s: malformed response: %w", op, err)
		}
		return nil
	}
	// Faults come with HTTP 500; anything else without one is a plain
	// HTTP failure (a proxy, a throttle, a crash).
	if err := decodeResponse(data, op, nil); err != nil {
		if f, ok := errors.AsType[*Fault](err); ok {
			return f
		}
	}
	return &StatusError{
		StatusCode: resp.StatusCode,
		Body:       snippet(data),
		retryAfter: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
}

// transportError classifies a call that got no answer. When the caller's
// context ended first, its error is returned; but if the request had been
// sent, the call may still take effect on the server, so the error also
// matches ErrOutcomeUnknown: a job cut off by its deadline during an add
// must not let anyone add the subscriber again before looking.
func (c *Client) transportError(parent context.Context, op string, sent bool, err error) error {
	if perr := parent.Err(); perr != nil {
		if !sent {
			return perr
		}
		err = perr
	}
	return &TransportError{Op: op, Sent: sent, Err: err}
}

// redact removes secrets from the texts a service put in an error: the real
// service's faults carry Java exception messages, which may quote the input
// (a token, a key). Errors travel into API answers, failed records and logs.
func redact(err error, secrets ...string) {
	clean := func(s string) string {
		for _, secret := range secrets {
			if len(secret) >= 4 {
				s = strings.ReplaceAll(s, secret, "[redacted]")
			}
		}
		return s
	}
	if f, ok := errors.AsType[*Fault](err); ok {
		f.Reason, f.Detail = clean(f.Reason), clean(f.Detail)
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		se.Body = clean(se.Body)
	}
}

func snippet(data []byte) string {
	const n = 200
	s := string(bytes.TrimSpace(data))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// Close invalidates every token the client holds. The client stays usable:
// a later call borrows a new token.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	sessions := c.sessions
	c.sessions = make(map[string]*session)
	c.mu.Unlock()
	var errs []error
	for _, s := range sessions {
		s.mu.Lock()
		tok := s.token
		s.token = ""
		s.mu.Unlock()
		if tok == "" {
			continue
		}
		var ok wireScalar
		if err := c.post(ctx, "invalidateToken", tokenOnly(tok), &ok); err != nil {
			// An expired token needs no invalidation.
			if !errors.Is(err, ErrTokenExpired) {
				errs = append(errs, fmt.Errorf("contactsend: invalidateToken for %s: %w", s.cred.id(), err))
			}
		}
	}
	return errors.Join(errs...)
}
