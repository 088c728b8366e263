// Package ticks is the scheduler's fan-out queue: every minute the
// scheduled tick puts one message per enabled source, "tick source S", on an
// SQS FIFO queue, and each message runs that source's work (change feed,
// backfill, reconciliation) in an invocation of its own.
//
// The queue is FIFO so that SQS itself keeps a source to one tick at a
// time: a source's ticks share a message group (the source id), and a
// group's next message is not delivered while one is in flight. A tick sent
// twice for the same scheduled time (an EventBridge event delivered again)
// has the same deduplication id and is dropped by SQS (within its five
// minute deduplication window).
package ticks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/retry"
)

// Tick asks for one run of a source's work that starts after At.
type Tick struct {
	SourceID string `json:"sourceId"`
	// At is when the scheduled tick that sent it ran.
	At time.Time `json:"at"`
}

// Validate says what makes a tick unusable.
func (t Tick) Validate() error {
	var errs []error
	if strings.TrimSpace(t.SourceID) == "" {
		errs = append(errs, errors.New("sourceId is required"))
	}
	if len(t.SourceID) > maxGroupID {
		errs = append(errs, fmt.Errorf("sourceId is longer than %d bytes", maxGroupID))
	}
	if t.At.IsZero() {
		errs = append(errs, errors.New("at is required"))
	}
	return errors.Join(errs...)
}

// maxGroupID is SQS's limit on a message group id, which a tick's source id
// is.
const maxGroupID = 128

// Decode reads a message body. A body that is not a valid tick never
// becomes one: the caller must not retry it. Members it does not know are
// ignored, so that a tick sent by the next release during a deploy still
// runs here.
func Decode(body string) (Tick, error) {
	var t Tick
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&t); err != nil {
		return Tick{}, fmt.Errorf("decode tick: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Tick{}, fmt.Errorf("decode tick: %w", err)
	}
	return t, nil
}

// DeduplicationID is the same for the ticks of a source stamped with the
// same time, so SQS drops a scheduled tick sent again (an EventBridge event
// delivered twice carries the same scheduled time). It is a hash, as a
// source id and a time may be longer than the 128 characters SQS allows.
func (t Tick) DeduplicationID() string {
	sum := sha256.Sum256([]byte(t.SourceID + "\x00" + strconv.FormatInt(t.At.UnixNano(), 10)))
	return hex.EncodeToString(sum[:])
}

// SQS is the part of the SQS client the queue uses.
type SQS interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Queue sends ticks to the FIFO tick queue.
type Queue struct {
	client SQS
	url    string
	retry  retry.Policy
}

// NewQueue returns a queue sending to url.
func NewQueue(client SQS, url string) *Queue {
	return &Queue{client: client, url: url, retry: retry.Default}
}

// WithRetry returns a copy of the queue using p for failed sends.
func (q *Queue) WithRetry(p retry.Policy) *Queue {
	c := *q
	c.retry = p
	return &c
}

// maxBatch is SQS's limit of entries per SendMessageBatch.
const maxBatch = 10

// Send puts the ticks on the queue in batches of ten, resending what SQS
// refused for a passing reason. Every tick is tried even when some fail, so
// one source's trouble never keeps another's tick off the queue; the error
// names the sources whose tick is not there.
func (q *Queue) Send(ctx context.Context, ticks ...Tick) error {
	var errs []error
	for start := 0; start < len(ticks); start += maxBatch {
		if err := q.sendBatch(ctx, ticks[start:min(start+maxBatch, len(ticks))]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (q *Queue) sendBatch(ctx context.Context, batch []Tick) error {
	pending := make(map[string]types.SendMessageBatchRequestEntry, len(batch))
	sources := make(map[string]string, len(batch))
	for i, t := range batch {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("tick %q: %w", t.SourceID, err)
		}
		body, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("tick %s: %w", t.SourceID, err)
		}
		id := strconv.Itoa(i)
		pending[id] = types.SendMessageBatchRequestEntry{
			Id: &id, MessageBody: new(string(body)),
			MessageGroupId: new(t.SourceID), MessageDeduplicationId: new(t.DeduplicationID()),
		}
		sources[id] = t.SourceID
	}
	return jobs.SendEntries(ctx, q.client, q.url, q.retry, "ticks", pending, func(id string) string { return "tick of source " + sources[id] })
}
