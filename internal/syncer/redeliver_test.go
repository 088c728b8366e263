package syncer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/testkit"
)

func TestRedeliveryDelay(t *testing.T) {
	tests := []struct {
		receive    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 1500 * time.Millisecond, 2 * time.Second},
		{2, 0, 3 * time.Second, 4 * time.Second},
		{5, 0, 24 * time.Second, 32 * time.Second},
		{0, 0, 1500 * time.Millisecond, 2 * time.Second}, // no receive count: as the first
		{40, 0, 3 * RedeliveryMax / 4, RedeliveryMax},
		{1, 30 * time.Second, 30 * time.Second, 30 * time.Second},       // the server's wish wins
		{1, 24 * time.Hour, 12 * time.Hour, 12 * time.Hour},             // within SQS's limit
		{9, 10 * time.Second, 384 * time.Second, 512 * time.Second},     // the schedule wins
		{3, 0, 6 * time.Second, 8 * time.Second},                        // grows
		{11, time.Second, 3 * RedeliveryMax / 4, RedeliveryMax},         // capped
		{1, time.Millisecond, 1500 * time.Millisecond, 2 * time.Second}, // a short wish is no shortcut
	}
	for _, tt := range tests {
		for range 50 {
			if got := RedeliveryDelay(tt.receive, tt.retryAfter); got < tt.lo || got > tt.hi {
				t.Fatalf("RedeliveryDelay(%d, %v) = %v, want in [%v, %v]", tt.receive, tt.retryAfter, got, tt.lo, tt.hi)
			}
		}
	}
	// The receive budget: template.yaml's maxReceiveCount (12) gives a
	// message 11 redeliveries before the dead-letter queue; they must span
	// more than the old 5 × 6 min visibility timeout did at its shortest.
	var least time.Duration
	for receive := 1; receive <= 11; receive++ {
		least += min(RedeliveryBase<<(receive-1), RedeliveryMax) * 3 / 4
	}
	if least < 25*time.Minute {
		t.Fatalf("12 receives span at least %v of outage, want ≥ 25 min", least)
	}
}

// TestClaimDelays: a job given back for a claim comes back when it may be
// of use. Its own add of unknown outcome holds it until the claim lapses;
// another run's claim, released as soon as that run records, does not
// hold it: it comes back on the ordinary schedule.
func TestClaimDelays(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		receive int
		lo, hi  time.Duration
	}{
		{"own claim after an unknown add", heldClaim{wait: 2 * time.Minute, own: true}, 1, 2 * time.Minute, 2 * time.Minute},
		{"another run's add claim", heldClaim{wait: 2 * time.Minute}, 1, 1500 * time.Millisecond, 2 * time.Second},
		{"another run's claim, later receives", heldClaim{wait: 2 * time.Minute}, 6, 48 * time.Second, 64 * time.Second},
		{"another run's claim about to lapse", heldClaim{wait: 10 * time.Millisecond}, 1, 1500 * time.Millisecond, 2 * time.Second},
		{"wrapped own claim", fmt.Errorf("add: %w", heldClaim{wait: 3 * time.Second, own: true}), 1, 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := givenBack{after: retry.RetryAfter(tt.err)}
			for range 50 {
				if got := b.delayAfter(tt.receive); got < tt.lo || got > tt.hi {
					t.Fatalf("delay after receive %d = %v, want in [%v, %v]", tt.receive, got, tt.lo, tt.hi)
				}
			}
		})
	}
}

// TestGivenBackJobsComeBackInSeconds gives a job back through the SQS
// emulator and watches when the queue delivers it again: after the
// redelivery delay (or the server's Retry-After), not after the queue's
// visibility timeout (template.yaml: 6 min).
func TestGivenBackJobsComeBackInSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rule      faults.Rule // none when Kind is empty
		claim     time.Duration
		notBefore time.Duration
		within    time.Duration
	}{
		{"503", faults.Rule{Operation: "findSubscribersBy", Kind: faults.Status, Status: 503, Rate: 1}, 0, RedeliveryBase * 3 / 4, 10 * time.Second},
		{"429 with Retry-After", faults.Rule{Operation: "findSubscribersBy", Kind: faults.Status, Status: 429, RetryAfterSeconds: 4, Rate: 1}, 0, 4 * time.Second, 12 * time.Second},
		// Another run's add claim: that run releases it as soon as it has
		// recorded its add, so the job comes back on the ordinary schedule,
		// not after the claim's two minutes (which only bound a run that
		// died holding it).
		{"another run's add claim", faults.Rule{}, 2 * time.Minute, RedeliveryBase * 3 / 4, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			queues := testkit.Queues(t)
			client := testkit.Emulators(t).SQS()
			w := h.newWorker(func(c *Config) { c.Queue, c.QueueURL = client, queues.SyncURL })
			id := h.put(h.customer("back@example.com", "Back", nil))
			if err := jobs.NewQueue(client, queues.SyncURL).Send(t.Context(), jobs.Job{SourceID: h.src.ID, CustomerID: id, Reason: jobs.FromWebhook}); err != nil {
				t.Fatal(err)
			}
			first := receiveOne(t, client, queues.SyncURL, 5*time.Second)
			if tt.rule.Kind != "" {
				if _, err := h.send.Faults().Add(tt.rule); err != nil {
					t.Fatal(err)
				}
			}
			if tt.claim > 0 {
				if _, err := h.ledger.Put(context.Background(), ledger.Entry{SourceID: h.src.ID, CustomerID: id, AddingUntil: h.now().Add(tt.claim)}); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{first}})
			givenBack := time.Now()
			if err != nil || len(resp.BatchItemFailures) != 1 {
				t.Fatalf("HandleSQS = %+v, %v; want the job given back", resp, err)
			}
			// While it waits, the status can say so, and when it comes again.
			waiting, err := h.ledger.Waiting(context.Background(), h.src.ID)
			if err != nil {
				t.Fatal(err)
			}
			if next := waiting.NextRetryAt.Sub(givenBack); waiting.Count != 1 || next < tt.notBefore-time.Second || next > tt.within {
				t.Errorf("waiting = %+v (next try in %v), want 1 job, next try in about %v", waiting, next, tt.notBefore)
			}
			again := receiveOne(t, client, queues.SyncURL, tt.within)
			after := time.Since(givenBack)
			if after < tt.notBefore-100*time.Millisecond { // SQS rounds to whole seconds
				t.Errorf("delivered again after %v, want ≥ %v", after, tt.notBefore)
			}
			if again.MessageId != first.MessageId || again.Attributes["ApproximateReceiveCount"] != "2" {
				t.Errorf("delivered %s (receive %s), want %s again (receive 2)", again.MessageId, again.Attributes["ApproximateReceiveCount"], first.MessageId)
			}
			h.send.Faults().Reset()
			h.skip(tt.claim) // past the claim, whatever the queue's timing
			if resp, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{again}}); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("HandleSQS after recovery = %+v, %v", resp, err)
			}
			if waiting, err := h.ledger.Waiting(context.Background(), h.src.ID); err != nil || waiting.Count != 0 {
				t.Errorf("after the retry succeeded, waiting = %+v, %v; want none", waiting, err)
			}
		})
	}
}

// receiveOne polls the queue until a message arrives or within passes, and
// returns it as the event source mapping hands it to the function.
func receiveOne(t *testing.T, client *sqs.Client, url string, within time.Duration) events.SQSMessage {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		m := out.Messages[0]
		return events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Attributes: m.Attributes, EventSource: "aws:sqs",
		}
	}
	t.Fatalf("no message within %v", within)
	return events.SQSMessage{}
}

// TestAJobWaitingLongForAClaimIsSentAgain: a job given back while another
// run's claim holds is waiting, not failing. Once its message has been
// received SendAgainAfter times it goes back to the queue as a new message
// (delayed as the redelivery would have been) carrying its count, and the
// old message is acknowledged, so a claim held for half an hour cannot
// push a deletion or an unsubscribe into the dead-letter queue. A job that
// failed for any other reason, or has waited for claims past
// MaxClaimReceives, is given back the ordinary way.
func TestAJobWaitingLongForAClaimIsSentAgain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		receive  int // the message's ApproximateReceiveCount
		earlier  int // the job's receives before this message
		fault    bool
		sent     bool
		receives int // the receives the job sent again carries
	}{
		{"fifth receive: given back", SendAgainAfter - 1, 0, false, false, 0},
		{"sixth receive: sent again", SendAgainAfter, 0, false, true, SendAgainAfter},
		{"sent again before: counts go on", SendAgainAfter, 20, false, true, 20 + SendAgainAfter},
		{"past the bound: given back", SendAgainAfter, MaxClaimReceives - SendAgainAfter, false, false, 0},
		{"a failure, not a claim: given back", SendAgainAfter, 0, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			queues := testkit.Queues(t)
			client := &sendRecorder{Client: testkit.Emulators(t).SQS()}
			w := h.newWorker(func(c *Config) { c.Queue, c.QueueURL = client, queues.SyncURL })
			id := h.put(h.customer("claimed@example.com", "Claimed", nil))
			job := jobs.Job{SourceID: h.src.ID, CustomerID: id, Reason: jobs.FromWebhook, Receives: tt.earlier}
			if err := jobs.NewQueue(client.Client, queues.SyncURL).Send(t.Context(), job); err != nil {
				t.Fatal(err)
			}
			first := receiveOne(t, client.Client, queues.SyncURL, 5*time.Second)
			first.Attributes["ApproximateReceiveCount"] = fmt.Sprint(tt.receive)
			if tt.fault {
				if _, err := h.send.Faults().Add(faults.Rule{Operation: "findSubscribersBy", Kind: faults.Status, Status: 503, Rate: 1}); err != nil {
					t.Fatal(err)
				}
			} else if _, err := h.ledger.Put(context.Background(), ledger.Entry{SourceID: h.src.ID, CustomerID: id, AddingUntil: h.now().Add(30 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			resp, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{first}})
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if tt.sent {
				want = 0
			}
			if got := len(resp.BatchItemFailures); got != want {
				t.Fatalf("HandleSQS gave back %d messages, want %d", got, want)
			}
			// The job waits either way, and the status says when it comes.
			if waiting, err := h.ledger.Waiting(context.Background(), h.src.ID); err != nil || waiting.Count != 1 {
				t.Errorf("waiting = %+v, %v; want the job", waiting, err)
			}
			if !tt.sent {
				if len(client.sent) != 0 {
					t.Errorf("sent again: %+v", client.sent)
				}
				return
			}
			if len(client.sent) != 1 {
				t.Fatalf("sent again %d messages, want 1", len(client.sent))
			}
			again, err := jobs.Decode(aws.ToString(client.sent[0].MessageBody))
			if err != nil {
				t.Fatal(err)
			}
			original, err := jobs.Decode(first.Body)
			if err != nil {
				t.Fatal(err)
			}
			original.Receives = tt.receives
			if again != original {
				t.Errorf("sent again %+v, want %+v", again, original)
			}
			// Delayed as the redelivery after that many receives would be.
			longest := min(RedeliveryMax, RedeliveryBase<<(tt.receives-1))
			if d := time.Duration(client.sent[0].DelaySeconds) * time.Second; d < longest*3/4 || d > longest+time.Second {
				t.Errorf("delay %v, want within [%v, %v]", d, longest*3/4, longest)
			}
			attrs, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(queues.SyncURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)]; got != "1" {
				t.Errorf("the queue holds %s delayed messages, want the job sent again", got)
			}
		})
	}
}

// sendRecorder is the SQS client, noting the messages the worker sends.
type sendRecorder struct {
	*sqs.Client
	sent []sqstypes.SendMessageBatchRequestEntry
}

func (r *sendRecorder) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := r.Client.SendMessageBatch(ctx, in, opts...)
	if err == nil {
		r.sent = append(r.sent, in.Entries...)
	}
	return out, err
}
