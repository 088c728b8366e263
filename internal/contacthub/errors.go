package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/hubsend/hubsend/internal/retry"
)

// Sentinel errors matched by *Error through errors.Is, by HTTP status.
var (
	ErrBadRequest      = errors.New("contacthub: bad request")
	ErrUnauthorized    = errors.New("contacthub: unauthorized")
	ErrForbidden       = errors.New("contacthub: forbidden")
	ErrNotFound        = errors.New("contacthub: not found")
	ErrConflict        = errors.New("contacthub: conflict")
	ErrLocked          = errors.New("contacthub: reindexing in progress")
	ErrTooManyRequests = errors.New("contacthub: too many requests")
	ErrServer          = errors.New("contacthub: server error")
)

// FieldError is one entry of an error body's errors[]: what is wrong with
// which part of the request (Path is a JSON pointer such as /base/contacts/email).
type FieldError struct {
	Message string          `json:"message"`
	Path    string          `json:"path,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Code    json.RawMessage `json:"code,omitempty"`
}

// Error is a non-2xx answer from Contacthub, decoded from its
// {message, logref, data, errors[]} body.
type Error struct {
	Method string
	Path   string // request path relative to the workspace, without the query
	Status int
	// Message, Logref, Data and Errors come from the body; Message falls back
	// to the status text when the body is not Contacthub's error shape.
	Message string
	Logref  string
	Data    json.RawMessage
	Errors  []FieldError
	// RetryDelay is the Retry-After header, zero when absent. It is exposed
	// through the RetryAfter method, which internal/retry honours.
	RetryDelay time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("contacthub: %s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
	for _, fe := range e.Errors {
		msg += fmt.Sprintf("; %s: %s", fe.Path, fe.Message)
	}
	if e.Logref != "" {
		msg += " (logref " + e.Logref + ")"
	}
	return msg
}

// Is matches the sentinel error for e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrLocked:
		return e.Status == http.StatusLocked
	case ErrTooManyRequests:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// Temporary reports whether the same request may succeed later: throttling,
// reindexing (423) and server errors.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusLocked || e.Status >= 500
}

// RetryAfter is the wait the server asked for, zero when it did not say.
func (e *Error) RetryAfter() time.Duration {
	return e.RetryDelay
}

// ExistingCustomerID is the id of the customer a 409 conflicts with
// (data.customer.id), or "" when e carries none.
func (e *Error) ExistingCustomerID() string {
	if e.Status != http.StatusConflict || len(e.Data) == 0 {
		return ""
	}
	var data struct {
		Customer struct {
			ID string `json:"id"`
		} `json:"customer"`
	}
	if json.Unmarshal(e.Data, &data) != nil {
		return ""
	}
	return data.Customer.ID
}

// decodeError builds an *Error from a failed response.
func decodeError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode, RetryDelay: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var wire struct {
		Message string          `json:"message"`
		Logref  string          `json:"logref"`
		Data    json.RawMessage `json:"data"`
		Errors  []FieldError    `json:"errors"`
	}
	if json.Unmarshal(body, &wire) == nil {
		e.Message, e.Logref, e.Errors = wire.Message, wire.Logref, wire.Errors
		if string(wire.Data) != "null" {
			e.Data = wire.Data
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// transportError is a request that got no HTTP answer: a timeout, a reset or
// refused connection, a response cut short.
type transportError struct {
	method, path string
	err          error
	temporary    bool
}

func (e *transportError) Error() string {
	return fmt.Sprintf("contacthub: %s %s: %v", e.method, e.path, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

func (e *transportError) Temporary() bool { return e.temporary }

// classifyTransport decides whether a failure without an HTTP answer is worth
// retrying. parent is the caller's context: when it has ended the caller gave
// up, which is never temporary; a per-call timeout is.
func classifyTransport(parent context.Context, method, path string, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("contacthub: %s %s: %w", method, path, err)
	}
	temporary := false
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE):
		temporary = true
	case errors.As(err, &netErr) && netErr.Timeout():
		temporary = true
	}
	return &transportError{method: method, path: path, err: err, temporary: temporary}
}

// ambiguous reports whether a failed attempt may have been carried out by the
// server although the client saw no success: no answer at all, or a 5xx.
// A 429 or 423 is a refusal before any work.
func ambiguous(err error) bool {
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var ae *Error
	return errors.As(err, &ae) && ae.Status >= 500
}
