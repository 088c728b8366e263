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
)

// FromBulk marks a bulk job: a range of a node's customer pages, loaded by
// the bulk lane.
const FromBulk Reason = "bulk"

// BulkJob is one message of the bulk queue: "load customers pages
// FirstPage..FirstPage+Pages-1 of the source's node" (pages of Size
// customers, Contacthub's order by registration). Like a sync job it is
// level-triggered: loading a range twice is harmless.
type BulkJob struct {
	Kind     Reason `json:"kind"` // always FromBulk; tells it from a Job on the same queue
	SourceID string `json:"sourceId"`
	RunID    string `json:"runId"`
	// Pass names the scheduler pass that sent the job in the run history
	// (package runs), so that what the job does is counted in that run.
	Pass      string `json:"pass,omitempty"`
	FirstPage int    `json:"firstPage"`
	Pages     int    `json:"pages"`
	Size      int    `json:"size"`
	// Total is how many customers the node held when the job before this
	// one's range was made; a loader that finds fewer reads back far
	// enough to cover the customers the deletions moved onto earlier
	// pages. Zero: unknown.
	Total      int64     `json:"total,omitempty"`
	EnqueuedAt time.Time `json:"enqueuedAt"`
}

// Validate says what makes a bulk job unusable.
func (j BulkJob) Validate() error {
	var errs []error
	if j.Kind != FromBulk {
		errs = append(errs, fmt.Errorf("kind must be %q", FromBulk))
	}
	if strings.TrimSpace(j.SourceID) == "" {
		errs = append(errs, errors.New("sourceId is required"))
	}
	if strings.TrimSpace(j.RunID) == "" {
		errs = append(errs, errors.New("runId is required"))
	}
	if j.FirstPage < 0 {
		errs = append(errs, fmt.Errorf("firstPage must not be negative, got %d", j.FirstPage))
	}
	if j.Pages < 1 || j.Pages > 1000 {
		errs = append(errs, fmt.Errorf("pages must be 1..1000, got %d", j.Pages))
	}
	if j.Size < 1 || j.Size > 50 {
		errs = append(errs, fmt.Errorf("size must be 1..50 (Contacthub's page limit), got %d", j.Size))
	}
	return errors.Join(errs...)
}

// IsBulk reports whether a message body is a bulk job rather than a sync
// job; both travel on the bulk queue.
func IsBulk(body string) bool {
	var probe struct {
		Kind Reason `json:"kind"`
	}
	return json.Unmarshal([]byte(body), &probe) == nil && probe.Kind == FromBulk
}

// DecodeBulk reads a bulk job's message body. Fields it does not know are
// ignored, as Decode ignores them: during a deploy a worker of the previous
// release may receive a job of the next, and the handler drops what does
// not decode, which would lose the job's range.
func DecodeBulk(body string) (BulkJob, error) {
	var j BulkJob
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&j); err != nil {
		return BulkJob{}, fmt.Errorf("decode bulk job: %w", err)
	}
	if err := j.Validate(); err != nil {
		return BulkJob{}, fmt.Errorf("decode bulk job: %w", err)
	}
	return j, nil
}

// BulkSQS is the part of the SQS client the bulk queue uses.
type BulkSQS interface {
	SQS
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// BulkQueue is the bulk lane's queue: bulk jobs, and the sync jobs of
// customers the bulk lane hands to the per-customer path, kept off the
// queue of live changes.
type BulkQueue struct {
	client BulkSQS
	url    string
	jobs   *Queue
}

// NewBulkQueue returns the bulk queue at url.
func NewBulkQueue(client BulkSQS, url string) *BulkQueue {
	return &BulkQueue{client: client, url: url, jobs: NewQueue(client, url)}
}

// Send puts sync jobs on the bulk queue.
func (q *BulkQueue) Send(ctx context.Context, jobs ...Job) error { return q.jobs.Send(ctx, jobs...) }

// SendBulk puts bulk jobs on the queue.
func (q *BulkQueue) SendBulk(ctx context.Context, bulk ...BulkJob) error {
	for start := 0; start < len(bulk); start += maxBatch {
		batch := bulk[start:min(start+maxBatch, len(bulk))]
		entries := make([]types.SendMessageBatchRequestEntry, len(batch))
		for i, j := range batch {
			if j.Kind == "" {
				j.Kind = FromBulk
			}
			if err := j.Validate(); err != nil {
				return fmt.Errorf("encode bulk job: %w", err)
			}
			data, err := json.Marshal(j)
			if err != nil {
				return fmt.Errorf("encode bulk job: %w", err)
			}
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(data))}
		}
		err := q.jobs.retry.Do(ctx, func(ctx context.Context) error {
			out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
			if err != nil {
				return &sendError{err: fmt.Errorf("send bulk jobs: %w", err), temporary: true}
			}
			if len(out.Failed) > 0 {
				left := entries[:0:0]
				for _, f := range out.Failed {
					for _, e := range entries {
						if *e.Id == aws.ToString(f.Id) {
							left = append(left, e)
						}
					}
				}
				entries = left
				return &sendError{err: fmt.Errorf("send bulk jobs: %d refused", len(left)), temporary: true}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Depth is how many messages the queue holds, visible or in flight: what
// the scheduler compares with its bound before feeding more bulk work.
func (q *BulkQueue) Depth(ctx context.Context) (int, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &q.url,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, fmt.Errorf("bulk queue depth: %w", err)
	}
	total := 0
	for _, name := range []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		n, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return 0, fmt.Errorf("bulk queue depth: %s = %q", name, out.Attributes[string(name)])
		}
		total += n
	}
	return total, nil
}
