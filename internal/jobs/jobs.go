// Package jobs defines hubsend's unit of work, the sync job, and puts jobs on
// the SQS sync queue. A job is level-triggered: it says "bring customer C of
// source S up to date", never "apply this change", so delivering it twice,
// late or out of order is harmless.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/retry"
)

// Reason says why a job was made; it is for logs and metrics only.
type Reason string

// Why jobs are made.
const (
	FromWebhook     Reason = "webhook"      // a Contacthub automation webhook
	FromFeed        Reason = "feed"         // the Contacthub change feed
	FromBackfill    Reason = "backfill"     // enumerating a node (first enable, resync)
	FromRetry       Reason = "retry"        // an operator retried a failed record
	FromSendWebhook Reason = "send-webhook" // a Contactsend subscription event
	FromReconcile   Reason = "reconcile"    // the Contactsend reconciliation walk
)

// Job is one message of the sync queue.
type Job struct {
	SourceID   string `json:"sourceId"`
	CustomerID string `json:"customerId,omitempty"`
	// SubscriberID names a Contactsend subscriber when the change was seen
	// on that side and the customer is not known yet.
	SubscriberID int64     `json:"subscriberId,omitempty"`
	Reason       Reason    `json:"reason"`
	EventID      string    `json:"eventId,omitempty"`
	EnqueuedAt   time.Time `json:"enqueuedAt"`
	// EventAt is when the change happened, by the event that reported it
	// (a Contactsend event's own date), when the event says so. The worker
	// dates the change by it rather than by when hubsend saw it.
	EventAt time.Time `json:"eventAt,omitzero"`
	// RunID names the scheduler pass that made the job (package runs), so
	// the worker can add its outcome to that run; empty for jobs of no run.
	RunID string `json:"runId,omitempty"`
	// Receives is how many times SQS delivered the job in the messages it
	// was sent again from: a worker sends a job that waits long for
	// another run's claim again as a new message, so that waiting does not
	// use up the receives after which SQS gives it to the dead-letter
	// queue. The redelivery schedule goes on from it. 0 for a job sent once.
	Receives int `json:"receives,omitempty"`
}

type runKey struct{}

// WithRun returns a context whose sends stamp their jobs with the run id.
func WithRun(ctx context.Context, runID string) context.Context {
	return context.WithValue(ctx, runKey{}, runID)
}

// RunOf returns the run id WithRun put in ctx, or "".
func RunOf(ctx context.Context) string {
	id, _ := ctx.Value(runKey{}).(string)
	return id
}

// MaxBodyBytes is SQS's message size limit; a job is far below it.
const MaxBodyBytes = 256 << 10

// Validate says what makes a job unusable.
func (j Job) Validate() error {
	var errs []error
	if strings.TrimSpace(j.SourceID) == "" {
		errs = append(errs, errors.New("sourceId is required"))
	}
	if strings.TrimSpace(j.CustomerID) == "" && j.SubscriberID <= 0 {
		errs = append(errs, errors.New("customerId or subscriberId is required"))
	}
	if j.Receives < 0 {
		errs = append(errs, errors.New("receives must not be negative"))
	}
	return errors.Join(errs...)
}

// Encode returns the job as a message body.
func (j Job) Encode() (string, error) {
	if err := j.Validate(); err != nil {
		return "", fmt.Errorf("encode job: %w", err)
	}
	data, err := json.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("encode job: %w", err)
	}
	return string(data), nil
}

// Decode reads a message body. A body that is not a valid job is an error
// the caller must not retry: it will never become valid.
func Decode(body string) (Job, error) {
	var j Job
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&j); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if err := j.Validate(); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	return j, nil
}

// SQS is the part of the SQS client the queue uses.
type SQS interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Queue sends jobs to the sync queue.
type Queue struct {
	client SQS
	url    string
	retry  retry.Policy
	now    func() time.Time
}

// NewQueue returns a queue sending to url.
func NewQueue(client SQS, url string) *Queue {
	return &Queue{client: client, url: url, retry: retry.Default, now: time.Now}
}

// WithRetry returns a copy of the queue using p for failed sends.
func (q *Queue) WithRetry(p retry.Policy) *Queue {
	c := *q
	c.retry = p
	return &c
}

// maxBatch is SQS's limit of entries per SendMessageBatch.
const maxBatch = 10

// Send enqueues jobs in batches of ten, resending the entries SQS refused
// for a passing reason. It returns nil only when every job is in the queue:
// callers acknowledge their own input (a webhook's 2xx, a checkpoint) only
// after that.
func (q *Queue) Send(ctx context.Context, jobs ...Job) error {
	for start := 0; start < len(jobs); start += maxBatch {
		batch := jobs[start:min(start+maxBatch, len(jobs))]
		if err := q.sendBatch(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

func (q *Queue) sendBatch(ctx context.Context, batch []Job) error {
	pending := make(map[string]types.SendMessageBatchRequestEntry, len(batch))
	for i, j := range batch {
		if j.EnqueuedAt.IsZero() {
			j.EnqueuedAt = q.now().UTC()
		}
		if j.RunID == "" {
			j.RunID = RunOf(ctx)
		}
		body, err := j.Encode()
		if err != nil {
			return err
		}
		id := strconv.Itoa(i)
		pending[id] = types.SendMessageBatchRequestEntry{Id: &id, MessageBody: &body}
	}
	return SendEntries(ctx, q.client, q.url, q.retry, "jobs", pending, func(id string) string { return "job " + id })
}

// SendEntries sends pending (at most ten, keyed by entry id) to the queue
// at url in one batch under policy, and again only those SQS refused: a
// refusal the sender caused is final, any other is worth another try. name
// says what an entry is in an error.
func SendEntries(ctx context.Context, client SQS, url string, policy retry.Policy, what string,
	pending map[string]types.SendMessageBatchRequestEntry, name func(id string) string) error {
	return policy.Do(ctx, func(ctx context.Context) error {
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for _, e := range pending {
			entries = append(entries, e)
		}
		out, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
		if err != nil {
			return &sendError{err: fmt.Errorf("send %s: %w", what, err), temporary: true}
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
		if len(pending) == 0 {
			return nil
		}
		var errs []error
		temporary := true
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("%s: %s %s", name(aws.ToString(f.Id)), aws.ToString(f.Code), aws.ToString(f.Message)))
			if f.SenderFault {
				temporary = false
			}
		}
		return &sendError{err: fmt.Errorf("send %s: %d refused: %w", what, len(pending), errors.Join(errs...)), temporary: temporary}
	})
}

type sendError struct {
	err       error
	temporary bool
}

func (e *sendError) Error() string   { return e.err.Error() }
func (e *sendError) Unwrap() error   { return e.err }
func (e *sendError) Temporary() bool { return e.temporary }
