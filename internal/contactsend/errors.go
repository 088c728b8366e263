package contactsend

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors that callers branch on. A *Fault wraps one of them when its
// reason text is recognised.
var (
	ErrBadCredentials    = errors.New("contactsend: bad credentials")
	ErrTokenExpired      = errors.New("contactsend: token expired or invalid")
	ErrUnknownUserDB     = errors.New("contactsend: unknown userDb")
	ErrUnknownSubscriber = errors.New("contactsend: unknown subscriber")
	ErrUnknownWebForm    = errors.New("contactsend: unknown web form code")
	ErrInvalidValue      = errors.New("contactsend: invalid value")
	// ErrOutcomeUnknown marks a failed call that may nonetheless have taken
	// effect on the server (the connection broke or timed out after the
	// request was sent). The client never repeats a non-idempotent call
	// (addSubscriber) after such a failure: the caller first looks again.
	ErrOutcomeUnknown = errors.New("contactsend: outcome unknown")
)

// Fault is a SOAP fault returned by the service. The service (JAX-WS RI)
// declares no fault types: Code is "Sender" or "Receiver" and Reason is the
// Java exception message, so Fault is classified by its reason text (see
// classify) and unwraps to the matching sentinel, if any.
type Fault struct {
	Code   string
	Reason string
	Detail string

	kind error
}

func (f *Fault) Error() string {
	return fmt.Sprintf("contactsend: SOAP fault (%s): %s", f.Code, f.Reason)
}

// Unwrap returns the sentinel the reason was recognised as, or nil.
func (f *Fault) Unwrap() error { return f.kind }

// classify recognises a fault reason. The real service only gives free text,
// so this matches on the phrases the simulator emits and on the words a Java
// service is likely to use for the same situations. Order matters: the token
// test comes first because "Invalid token" must not read as a bad value.
func classify(reason string) error {
	r := strings.ToLower(reason)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(r, w) {
				return true
			}
		}
		return false
	}
	missing := has("not found", "unknown", "does not exist", "doesn't exist", "no such", "not exist", "inexistent", "non-existent", "not available")
	switch {
	case has("token") && (missing || has("expired", "invalid", "not valid", "invalidated", "revoked", "timed out", "timeout")):
		return ErrTokenExpired
	case has("apikey", "api key", "userkey", "user key", "credential", "authentication failed", "not authenticated", "unauthorized", "not authorized", "ip address", "access denied"):
		return ErrBadCredentials
	case has("invalid value", "not valid for", "cannot be converted", "can't be converted", "type mismatch", "numberformatexception",
		"unparseable", "invalid field", "unknown field", "field not found", "invalid attribute", "unknown attribute",
		"duplicate", "out of range", "illegalargument", "too long", "invalid matching mode", "is not a valid", "invalid subscriber",
		"invalid pagination", "invalid page", "invalid sorting"):
		return ErrInvalidValue
	case has("web form", "webform", "wfc", "subscription system", "subscription not found") && (missing || has("invalid")):
		return ErrUnknownWebForm
	case has("subscriber source", "subscribersource", "userdb", "user db", "sourceidentifier", "source identifier") && (missing || has("invalid")):
		return ErrUnknownUserDB
	case has("subscriber", "recipient") && missing && !has("field", "attribute"):
		return ErrUnknownSubscriber
	}
	return nil
}

// StatusError is an HTTP answer that carried no SOAP envelope.
type StatusError struct {
	StatusCode int
	Body       string // the start of the body, for diagnosis
	retryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("contactsend: HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("contactsend: HTTP %d: %s", e.StatusCode, e.Body)
}

// Temporary reports whether the status is worth retrying: throttling and the
// gateway and server errors that a proxy or an overloaded server answers with.
func (e *StatusError) Temporary() bool {
	switch e.StatusCode {
	case 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// RetryAfter is the wait the server asked for, or zero.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// Is makes a server or gateway failure match ErrOutcomeUnknown: the request
// reached something that may have passed it on.
func (e *StatusError) Is(target error) bool {
	return target == ErrOutcomeUnknown && e.Temporary() && !e.notProcessed()
}

// notProcessed reports whether the server certainly did not act on the
// request: it refused it up front.
func (e *StatusError) notProcessed() bool {
	return e.StatusCode == 429 || e.StatusCode == 503
}

// TransportError is a call that failed below HTTP: a refused, reset or dropped
// connection, or a timeout. It is always temporary. Sent says whether the
// request may have reached the server; when it may have, the error also
// matches ErrOutcomeUnknown.
type TransportError struct {
	Op   string
	Sent bool
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("contactsend: %s: transport: %v", e.Op, e.Err)
}

// Temporary is always true: the network or the server may recover.
func (e *TransportError) Temporary() bool { return true }

// Unwrap exposes the cause and, for a request that may have been sent,
// ErrOutcomeUnknown.
func (e *TransportError) Unwrap() []error {
	if e.Sent {
		return []error{e.Err, ErrOutcomeUnknown}
	}
	return []error{e.Err}
}
