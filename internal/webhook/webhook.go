// Package webhook is hubsend's intake for Contacthub automation webhooks
// and for Contactsend subscription events (see contactsend.go).
//
// A delivery names its source in the path, proves it knows the source's
// webhook secret (an HMAC-SHA256 signature of the body, or the secret as a
// URL token), and carries a small JSON body templated in the Contacthub
// automation. The handler validates it, deduplicates it by event id and puts
// one level-triggered sync job on the queue. It answers 202 only once the job
// is in SQS, and answers 429 or 503 with Retry-After, within its own deadline,
// when a dependency is throttled or unavailable: nothing accepted is lost,
// and a refused delivery leaves no trace but a log line.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
)

// The route the handler serves, as API Gateway names it.
const (
	RouteKey   = "POST /v1/webhooks/contacthub/{sourceId}"
	PathPrefix = "/v1/webhooks/contacthub/"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the raw body>".
const SignatureHeader = "X-Hubsend-Signature"

// TokenParameter is the query parameter holding the secret for senders that
// cannot sign.
const TokenParameter = "token"

// MaxBodyBytes is the largest body accepted, after base64 decoding.
const MaxBodyBytes = 256 << 10

// Defaults for Config.
const (
	// DefaultTimeout bounds a request's work well inside API Gateway's 30 s,
	// so an overloaded dependency turns into a 503 the sender can retry
	// rather than a gateway timeout it cannot interpret.
	DefaultTimeout = 5 * time.Second
	// DefaultRetryAfter is what a 429 or 503 asks the sender to wait.
	DefaultRetryAfter = 2 * time.Second
)

// Sources reads what the handler needs to know about a source: whether it
// exists and is enabled, and the secrets that authenticate its webhooks
// (*configstore.Store provides both). GetByID returns an error matching
// configstore.ErrNotFound for an unknown source.
type Sources interface {
	GetByID(ctx context.Context, id string) (source.Source, error)
	WebhookSecrets(ctx context.Context, sourceID string) ([]string, error)
}

// Deduper remembers deliveries by event key (*DedupeStore in DynamoDB).
type Deduper interface {
	// Claim records that a delivery of the event is being handled, unless a
	// live record exists, and says what an earlier delivery got to.
	Claim(ctx context.Context, sourceID, eventKey string, now time.Time) (Claim, error)
	// Done records that the event's job is in the queue.
	Done(ctx context.Context, sourceID, eventKey string, now time.Time) error
}

// Claim is what Deduper.Claim found.
type Claim int

const (
	// ClaimNew: no earlier delivery (or only an expired one); this one owns it.
	ClaimNew Claim = iota
	// ClaimPending: an earlier delivery claimed the event but has not said
	// its job is queued; it may have crashed, so the job is sent again.
	ClaimPending
	// ClaimDone: an earlier delivery's job is in the queue.
	ClaimDone
)

// Sender puts jobs on the sync queue (*jobs.Queue). It returns nil only when
// every job is in the queue.
type Sender interface {
	Send(ctx context.Context, jobs ...jobs.Job) error
}

// Config holds the handler's dependencies and limits.
type Config struct {
	Sources Sources
	Dedupe  Deduper
	Jobs    Sender
	// Now dates dedupe records and jobs; nil means time.Now. Deadlines and
	// logged durations always use real time.
	Now func() time.Time
	// Logger receives one line per request; nil discards them.
	Logger *slog.Logger
	// Timeout bounds one request's work; zero means DefaultTimeout.
	Timeout time.Duration
	// RetryAfter is the wait a 429 or 503 asks for when the failing
	// dependency did not say; zero means DefaultRetryAfter.
	RetryAfter time.Duration
	// MaxInFlight caps the requests one handler serves at once (a process
	// serving many, like the local stack); beyond it requests get 429 at
	// once instead of queueing up. Zero means no cap, which suits Lambda,
	// where an instance serves one request at a time.
	MaxInFlight int
	// Subscribers finds the subscribers holding an email, for Contactsend
	// events that carry no subscriber id; nil refuses such events.
	Subscribers SubscriberFinder
}

// Handler serves Contacthub webhook deliveries. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	inFlight chan struct{}
}

// New returns a handler with cfg's dependencies.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	h := &Handler{cfg: cfg}
	if cfg.MaxInFlight > 0 {
		h.inFlight = make(chan struct{}, cfg.MaxInFlight)
	}
	return h
}

// deadlineMargin is kept free before the invocation's own deadline so the
// handler's answer still gets out when its work runs out of time.
const deadlineMargin = 250 * time.Millisecond

// outcome is what one request's log line reports.
type outcome struct {
	sourceID   string
	eventKey   string
	customerID string
	result     string // accepted, duplicate, no-subscriber, refused, unavailable, failed
	message    string
	err        error
}

// Handle answers one delivery. Every failure is an HTTP answer with a JSON
// {message, errors[{path, message}]} body; the returned error is always nil,
// so API Gateway never turns a failure into an opaque 500.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, _ error) {
	start := time.Now()
	var out outcome
	defer func() {
		if r := recover(); r != nil {
			out.result, out.err = "failed", fmt.Errorf("panic: %v", r)
			resp = problem(http.StatusInternalServerError, "internal error")
		}
		h.log(ctx, &req, &out, resp.StatusCode, start)
	}()
	return h.serve(ctx, &req, &out), nil
}

func (h *Handler) serve(ctx context.Context, req *events.APIGatewayV2HTTPRequest, out *outcome) events.APIGatewayV2HTTPResponse {
	sourceID, kind, resp, ok := route(req)
	if !ok {
		return h.refuse(out, resp)
	}
	out.sourceID = sourceID
	body, resp, ok := readBody(req)
	if !ok {
		return h.refuse(out, resp)
	}
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			return h.unavailable(out, errBusy)
		}
	}
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()

	src, err := h.cfg.Sources.GetByID(ctx, sourceID)
	if errors.Is(err, configstore.ErrNotFound) {
		return h.refuse(out, unknownSource())
	}
	if err != nil {
		return h.unavailable(out, err)
	}
	secrets, err := h.cfg.Sources.WebhookSecrets(ctx, sourceID)
	if err != nil {
		return h.unavailable(out, err)
	}
	if resp, ok := authenticate(req, body, secrets, sourceID); !ok {
		return h.refuse(out, resp)
	}
	if !src.Enabled {
		return h.refuse(out, problem(http.StatusConflict, "source is disabled"))
	}
	if kind == fromContactsend {
		return h.serveContactsend(ctx, src, body, out)
	}
	n, resp, ok := parseNotification(body)
	if !ok {
		return h.refuse(out, resp)
	}
	out.customerID = n.CustomerID
	now := h.cfg.Now()
	key := n.dedupeKey()
	out.eventKey = key
	if key != "" {
		claim, err := h.cfg.Dedupe.Claim(ctx, sourceID, key, now)
		if err != nil {
			return h.unavailable(out, err)
		}
		if claim == ClaimDone {
			out.result = "duplicate"
			return duplicateResponse()
		}
	}
	job := jobs.Job{SourceID: sourceID, CustomerID: n.CustomerID, Reason: jobs.FromWebhook, EventID: key, EnqueuedAt: now.UTC()}
	if err := h.cfg.Jobs.Send(ctx, job); err != nil {
		// The dedupe record stays pending, so the sender's retry enqueues.
		return h.unavailable(out, err)
	}
	if key != "" {
		if err := h.cfg.Dedupe.Done(ctx, sourceID, key, now); err != nil {
			// The job is queued: the delivery is accepted. A pending record
			// only means a redelivery enqueues once more, which is harmless.
			out.err = err
		}
	}
	out.result = "accepted"
	return acceptedResponse()
}

// withDeadline bounds the request's work by the configured timeout, and by
// the invocation's deadline less a margin to answer in.
func (h *Handler) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := h.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d)-deadlineMargin)
	}
	return context.WithTimeout(ctx, timeout)
}

func (h *Handler) refuse(out *outcome, resp events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	out.result = "refused"
	out.message = messageOf(resp)
	return resp
}

func (h *Handler) log(ctx context.Context, req *events.APIGatewayV2HTTPRequest, out *outcome, status int, start time.Time) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400 || out.err != nil || out.result == "no-subscriber":
		level = slog.LevelWarn
	}
	if !h.cfg.Logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("source", out.sourceID),
		slog.String("event", out.eventKey),
		slog.String("customer", out.customerID),
		slog.Int("status", status),
		slog.String("outcome", out.result),
		slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000),
		slog.String("requestId", req.RequestContext.RequestID),
	)
	if out.message != "" {
		attrs = append(attrs, slog.String("message", out.message))
	}
	if out.err != nil {
		attrs = append(attrs, slog.String("error", out.err.Error()))
	}
	// Never the body, the headers or the query: they hold personal data, the
	// signature and possibly the secret itself.
	h.cfg.Logger.LogAttrs(ctx, level, "webhook", attrs...)
}
