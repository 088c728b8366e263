package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
)

// blockingSources never answers before its context ends, like a DynamoDB
// that stopped responding.
type blockingSources struct{ started chan struct{} }

func (b blockingSources) GetByID(ctx context.Context, _ string) (source.Source, error) {
	if b.started != nil {
		b.started <- struct{}{}
	}
	<-ctx.Done()
	return source.Source{}, fmt.Errorf("get source: %w", ctx.Err())
}

func (blockingSources) WebhookSecrets(context.Context, string) ([]string, error) { return nil, nil }

func TestHungDependencyAnswers503WithinTheDeadline(t *testing.T) {
	t.Parallel()
	_, dedupe, sender := memoryDeps()
	h := New(Config{Sources: blockingSources{}, Dedupe: dedupe, Jobs: sender, Timeout: 50 * time.Millisecond})
	start := time.Now()
	resp, err := h.Handle(t.Context(), signed(testSourceID, testSecret, testBody(testEventID)))
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Headers["Retry-After"] == "" {
		t.Fatalf("answer %d %v %s, %v; want 503 with Retry-After", resp.StatusCode, resp.Headers, resp.Body, err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("answered after %v", elapsed)
	}
}

func TestInvocationDeadlineLeavesTimeToAnswer(t *testing.T) {
	t.Parallel()
	_, dedupe, sender := memoryDeps()
	h := New(Config{Sources: blockingSources{}, Dedupe: dedupe, Jobs: sender, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), deadlineMargin+100*time.Millisecond)
	defer cancel()
	resp, _ := h.Handle(ctx, signed(testSourceID, testSecret, testBody(testEventID)))
	if resp.StatusCode != http.StatusServiceUnavailable || ctx.Err() != nil {
		t.Errorf("answer %d with the invocation's context %v; want 503 before it ends", resp.StatusCode, ctx.Err())
	}
}

type hintedError struct{ wait time.Duration }

func (e hintedError) Error() string             { return "slow down" }
func (e hintedError) RetryAfter() time.Duration { return e.wait }

func TestDependencyFailuresMapToRetryableAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		claimErr   error
		sendErr    error
		status     int
		retryAfter string
	}{
		{"DynamoDB throttled", &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}, nil, http.StatusTooManyRequests, "2"},
		{"DynamoDB request limit", fmt.Errorf("claim: %w", &smithy.GenericAPIError{Code: "RequestLimitExceeded"}), nil, http.StatusTooManyRequests, "2"},
		{"SQS throttled", nil, fmt.Errorf("send jobs: %w", &smithy.GenericAPIError{Code: "RequestThrottled"}), http.StatusTooManyRequests, "2"},
		{"client retry quota spent", nil, fmt.Errorf("send jobs: %w", &ratelimit.QuotaExceededError{}), http.StatusTooManyRequests, "2"},
		{"SQS down", nil, errors.New("send jobs: connection refused"), http.StatusServiceUnavailable, "2"},
		{"DynamoDB 500", &smithy.GenericAPIError{Code: "InternalServerError"}, nil, http.StatusServiceUnavailable, "2"},
		{"dependency says when", nil, fmt.Errorf("send: %w", hintedError{1500 * time.Millisecond}), http.StatusServiceUnavailable, "2"},
		{"dependency hint is clipped", nil, hintedError{time.Hour}, http.StatusServiceUnavailable, "60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sources, dedupe, sender := memoryDeps()
			dedupe.err, sender.err = tt.claimErr, tt.sendErr
			h := New(Config{Sources: sources, Dedupe: dedupe, Jobs: sender})
			resp, _ := h.Handle(t.Context(), signed(testSourceID, testSecret, testBody(testEventID)))
			if resp.StatusCode != tt.status || resp.Headers["Retry-After"] != tt.retryAfter {
				t.Errorf("answer %d Retry-After %q, want %d %q", resp.StatusCode, resp.Headers["Retry-After"], tt.status, tt.retryAfter)
			}
		})
	}
}

func TestInFlightCapAnswers429AtOnce(t *testing.T) {
	t.Parallel()
	_, dedupe, sender := memoryDeps()
	started := make(chan struct{})
	h := New(Config{Sources: blockingSources{started: started}, Dedupe: dedupe, Jobs: sender, MaxInFlight: 1, RetryAfter: 3 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Handle(ctx, signed(testSourceID, testSecret, testBody("first")))
	}()
	<-started
	resp, _ := h.Handle(t.Context(), signed(testSourceID, testSecret, testBody("second")))
	cancel()
	<-done
	if resp.StatusCode != http.StatusTooManyRequests || resp.Headers["Retry-After"] != "3" {
		t.Errorf("answer %d Retry-After %q, want 429 3", resp.StatusCode, resp.Headers["Retry-After"])
	}
}

type failingDone struct{ memoryDedupe }

func (*failingDone) Done(context.Context, string, string, time.Time) error {
	return errors.New("mark done: throttled")
}

func TestFailedDoneMarkStillAccepts(t *testing.T) {
	t.Parallel()
	sources, _, sender := memoryDeps()
	h := New(Config{Sources: sources, Dedupe: &failingDone{}, Jobs: sender})
	resp, _ := h.Handle(t.Context(), signed(testSourceID, testSecret, testBody(testEventID)))
	if resp.StatusCode != http.StatusAccepted || resp.Body != accepted || len(sender.sent()) != 1 {
		t.Errorf("answer %d %s with %d jobs; want 202 accepted and 1 job", resp.StatusCode, resp.Body, len(sender.sent()))
	}
}

type panickingSender struct{}

func (panickingSender) Send(context.Context, ...jobs.Job) error { panic("bug") }

func TestPanicBecomes500NotACrash(t *testing.T) {
	t.Parallel()
	sources, dedupe, _ := memoryDeps()
	h := New(Config{Sources: sources, Dedupe: dedupe, Jobs: panickingSender{}})
	resp, err := h.Handle(t.Context(), signed(testSourceID, testSecret, testBody(testEventID)))
	if err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("answer %d, %v; want 500 and no error", resp.StatusCode, err)
	}
}
