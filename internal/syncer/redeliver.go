package syncer

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
)

// Queue is the part of the SQS client that postpones the next delivery of
// the messages a batch gives back, and sends again the jobs that wait long
// for another run's claim.
type Queue interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// The redelivery schedule of a message given back after a transient
// failure: RedeliveryBase after its first receive, doubling with every
// receive up to RedeliveryMax, never sooner than a server's Retry-After.
// A blip costs seconds instead of the queue's visibility timeout, and a
// long outage still spreads a message's receives over more than half an
// hour (template.yaml's maxReceiveCount, 12, covers 2+4+…+512+600+600 s,
// at least three quarters of that with jitter) before the dead-letter
// queue: healthy work outlives the outages the old 5 × 6 min did.
const (
	RedeliveryBase = 2 * time.Second
	RedeliveryMax  = 10 * time.Minute
	// maxVisibility is SQS's limit on a message's visibility timeout.
	maxVisibility = 12 * time.Hour
	// maxSendDelay is SQS's limit on a message's delay.
	maxSendDelay = 15 * time.Minute
)

// A job given back because another run holds the customer's claim is
// waiting, not failing, and a bulk run's claim may hold half an hour: the
// ordinary schedule would spend most of the message's receives on it,
// and a deletion or an unsubscribe behind it could reach the dead-letter
// queue. Given back for such a claim on its message's SendAgainAfter-th
// receive or later (whatever the earlier ones were for), the job is sent
// again as a new message, which starts from no receives,
// and the old one is deleted; the job keeps its count of receives, so its
// schedule goes on from where it was. Up to MaxClaimReceives in all
// (about eight hours at RedeliveryMax), longer than any claim is held by
// a run at work: past that it is given back the ordinary way.
const (
	SendAgainAfter   = 6
	MaxClaimReceives = 54
)

// RedeliveryDelay is how long a message given back after its receive-th
// receive (1 = the first) stays invisible: the schedule above, jittered
// down by up to a quarter (so a crowd of jobs failed together comes back
// spread out, and the schedule still grows), and at least retryAfter.
func RedeliveryDelay(receive int, retryAfter time.Duration) time.Duration {
	receive = max(receive, 1)
	d := RedeliveryBase << min(receive-1, 20)
	if d <= 0 || d > RedeliveryMax {
		d = RedeliveryMax
	}
	d -= rand.N(d/4 + 1)
	return min(max(d, retryAfter), maxVisibility)
}

// givenBack is a message reported as a batch item failure, with the wait a
// server asked for, if any, and the delay it is given back for.
type givenBack struct {
	messageID string
	key       string // the task's, see task.key
	after     time.Duration
	delay     time.Duration
	// othersClaim marks a job waiting for another run's claim.
	othersClaim bool
}

// delivered is a message of the batch and the job it holds.
type delivered struct {
	record events.SQSMessage
	job    jobs.Job
}

// receives counts the deliveries of the job, those of the messages it
// was sent again from included.
func (d delivered) receives() int {
	return d.job.Receives + receiveCount(d.record)
}

// delayAfter is how long the message stays invisible after its receive-th
// receive: the redelivery schedule, and at least the wait asked for.
func (b givenBack) delayAfter(receive int) time.Duration {
	return RedeliveryDelay(receive, b.after)
}

// receiveCount is how many times SQS delivered the message, this time
// included; 0 when the record does not say.
func receiveCount(m events.SQSMessage) int {
	n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	return n
}

// key names the customer (or, for a Contactsend-side job, the subscriber)
// a task is about, for the marks of waiting jobs.
func (t *task) key() string {
	if t.customerID != "" {
		return t.customerID
	}
	return "subscriber:" + strconv.FormatInt(t.subscriberID, 10)
}

// trackWaiting keeps the marks of the source's jobs that wait for a retry
// (the status endpoint counts them): a mark for each job given back, with
// when it comes again, and none left for a job that came again and is
// done. Only redelivered messages can hold a mark, so a first delivery
// that succeeds costs no write. Without a Queue the worker cannot say when
// a job comes back, and marks nothing. Failures cost visibility, not data.
func (w *Worker) trackWaiting(ctx context.Context, sourceID string, messages map[string]delivered, r groupResult) {
	if w.queue == nil || w.queueURL == "" {
		return
	}
	now := w.now()
	var waiting []ledger.WaitingJob
	seen := make(map[string]bool)
	for _, b := range r.failed {
		if !seen[b.key] {
			seen[b.key] = true
			waiting = append(waiting, ledger.WaitingJob{Key: b.key, NextRetryAt: now.Add(b.delay)})
		}
	}
	var done []string
	for _, t := range r.finished {
		for _, id := range t.messageIDs {
			if messages[id].receives() > 1 && !seen[t.key()] {
				seen[t.key()] = true
				done = append(done, t.key())
			}
		}
	}
	if err := w.ledger.MarkWaiting(ctx, sourceID, waiting); err != nil {
		w.log.WarnContext(ctx, "mark the jobs waiting for a retry", "source_id", sourceID, "error", err.Error())
	}
	if err := w.ledger.ClearWaiting(ctx, sourceID, done); err != nil {
		w.log.WarnContext(ctx, "clear the marks of retried jobs", "source_id", sourceID, "error", err.Error())
	}
}

// postpone sets the visibility of the messages given back to their
// redelivery delay. Without it (no Queue configured, or the call fails)
// they come back after the queue's visibility timeout, which is slower
// but loses nothing: failures here are logged, never fatal.
func (w *Worker) postpone(ctx context.Context, messages map[string]delivered, backs []givenBack) {
	if w.queue == nil || w.queueURL == "" || len(backs) == 0 {
		return
	}
	// A batch holds at most 10 messages, SQS's batch limit; chunk anyway.
	for start := 0; start < len(backs); start += 10 {
		chunk := backs[start:min(start+10, len(backs))]
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &w.queueURL}
		for i, b := range chunk {
			m, ok := messages[b.messageID]
			if !ok || m.record.ReceiptHandle == "" {
				continue
			}
			id, handle := strconv.Itoa(i), m.record.ReceiptHandle
			secs := wholeSeconds(b.delay)
			in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{Id: &id, ReceiptHandle: &handle, VisibilityTimeout: secs})
			w.log.DebugContext(ctx, "sync job postponed", "message_id", b.messageID, "receive", m.receives(), "delay_s", secs)
		}
		if len(in.Entries) == 0 {
			continue
		}
		out, err := w.queue.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			w.log.WarnContext(ctx, "postpone the jobs given back; they return after the visibility timeout", "messages", len(in.Entries), "error", err.Error())
			continue
		}
		for _, f := range out.Failed {
			w.log.WarnContext(ctx, "postpone a job given back; it returns after the visibility timeout", "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
		}
	}
}

// sendAgain sends the jobs of backs that wait for another run's claim, and
// whose message was received SendAgainAfter times, again as new messages
// delayed as the redelivery would have been (see SendAgainAfter), and
// returns the rest, to be given back. A job whose send fails is given back
// as well: it loses a receive, nothing else. Should the old message come
// back anyway (the invocation dies before it answers), the job runs twice,
// which jobs may.
func (w *Worker) sendAgain(ctx context.Context, messages map[string]delivered, backs []givenBack) []givenBack {
	if w.queue == nil || w.queueURL == "" {
		return backs
	}
	var keep, again []givenBack
	for _, b := range backs {
		m, ok := messages[b.messageID]
		if ok && b.othersClaim && receiveCount(m.record) >= SendAgainAfter && m.receives() < MaxClaimReceives {
			again = append(again, b)
		} else {
			keep = append(keep, b)
		}
	}
	for start := 0; start < len(again); start += 10 { // SQS's batch limit
		keep = append(keep, w.sendBatchAgain(ctx, messages, again[start:min(start+10, len(again))])...)
	}
	return keep
}

// sendBatchAgain sends up to ten jobs again, once (a failure costs the job
// a receive, not a wait), and returns those SQS did not take.
func (w *Worker) sendBatchAgain(ctx context.Context, messages map[string]delivered, batch []givenBack) []givenBack {
	pending := make(map[string]types.SendMessageBatchRequestEntry, len(batch))
	byID := make(map[string]givenBack, len(batch))
	var keep []givenBack
	for _, b := range batch {
		job := messages[b.messageID].job
		job.Receives = messages[b.messageID].receives()
		body, err := job.Encode()
		if err != nil {
			keep = append(keep, b)
			continue
		}
		id := strconv.Itoa(len(byID))
		byID[id] = b
		pending[id] = types.SendMessageBatchRequestEntry{Id: &id, MessageBody: &body, DelaySeconds: wholeSeconds(min(b.delay, maxSendDelay))}
	}
	if len(pending) == 0 {
		return keep
	}
	err := jobs.SendEntries(ctx, w.queue, w.queueURL, retry.Policy{Attempts: 1}, "jobs waiting for a claim", pending,
		func(id string) string { return "message " + byID[id].messageID })
	if err != nil {
		w.log.WarnContext(ctx, "send again the jobs waiting for a claim; those not sent are given back", "error", err.Error())
	}
	for id, b := range byID {
		if _, unsent := pending[id]; unsent {
			keep = append(keep, b)
			continue
		}
		w.log.InfoContext(ctx, "sync job sent again while another run's claim holds", "message_id", b.messageID, "receives", messages[b.messageID].receives())
	}
	return keep
}

// wholeSeconds rounds d up to SQS's unit of delays and visibility timeouts.
func wholeSeconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}

// heldClaim is the cause of a job given back while a customer's claim
// holds. The job's own add of unknown outcome (own) must not run again
// before its claim lapses, so it asks to come back then. Another run's
// claim (an add or a subscription write in flight) is usually released
// within a second, when that run records its result; the claim's length
// only bounds a run that died holding it. So the job comes back on the
// ordinary schedule (2 s, 4 s, …), checking the claim each time: a change
// that arrived while the other run worked waits seconds, not the claim.
// (Not at the lapse either: a claim about to lapse may belong to a run
// still at work, and coming back at that instant invites the race the
// claim exists to prevent.)
type heldClaim struct {
	wait time.Duration
	own  bool
	err  error
}

func (e heldClaim) Error() string {
	msg := "claim held for " + e.wait.Round(time.Second).String()
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e heldClaim) Unwrap() error { return e.err }

// RetryAfter is the wait before the job's own claim lapses.
func (e heldClaim) RetryAfter() time.Duration {
	if e.own {
		return e.wait
	}
	return 0
}
