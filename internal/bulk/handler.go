package bulk

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/syncer"
)

// PerCustomer runs sync jobs (*syncer.Worker): the customers the bulk lane
// hands over travel on the bulk queue and are run by the bulk function.
type PerCustomer interface {
	HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)
}

// Queue postpones messages given back (*sqs.Client).
type Queue interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Handler is the bulk function's SQS handler: bulk jobs go to the loader,
// sync jobs to the per-customer worker. It reports partial batch failures.
type Handler struct {
	Loader      *Loader
	PerCustomer PerCustomer
	Logger      *slog.Logger
	// Queue and QueueURL (the bulk queue), when set, bring a bulk job given
	// back after syncer.RedeliveryDelay rather than the queue's visibility
	// timeout (half an hour in the template).
	Queue    Queue
	QueueURL string
	// Runs, when set, counts what each job settled itself in the run
	// history's run that sent it; the customers it hands over are counted
	// by the per-customer lane.
	Runs RunOutcomes
}

// HandleSQS runs a batch of the bulk queue.
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var resp events.SQSEventResponse
	var perCustomer []events.SQSMessage
	for _, m := range ev.Records {
		if !jobs.IsBulk(m.Body) {
			perCustomer = append(perCustomer, m)
			continue
		}
		job, err := jobs.DecodeBulk(m.Body)
		if err != nil {
			// It will never decode: dropping it is all a retry would do.
			log.ErrorContext(ctx, "bulk job dropped", "message_id", m.MessageId, "error", err)
			continue
		}
		start := time.Now()
		rep, err := h.Loader.Load(ctx, job)
		attrs := []any{"source_id", job.SourceID, "run_id", job.RunID, "first_page", job.FirstPage, "pages", job.Pages,
			"customers", rep.Customers, "unchanged", rep.Unchanged, "linked", rep.Linked, "updated", rep.Updated,
			"added", rep.Added, "handed_off", rep.HandedOff, "removed", rep.Removed, "ms", time.Since(start).Milliseconds()}
		switch {
		case err == nil:
			log.InfoContext(ctx, "bulk job done", attrs...)
			h.count(ctx, job, rep)
		case errors.Is(err, ErrRetry):
			log.WarnContext(ctx, "bulk job given back", append(attrs, "error", err)...)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			h.postpone(ctx, m, retry.RetryAfter(err))
		default:
			// Not transient, yet the job may succeed after an operator's
			// fix (a source's mapping): given back, it ends in the DLQ.
			log.ErrorContext(ctx, "bulk job failed", append(attrs, "error", err)...)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	if len(perCustomer) > 0 {
		sub, err := h.PerCustomer.HandleSQS(ctx, events.SQSEvent{Records: perCustomer})
		if err != nil {
			for _, m := range perCustomer {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
			return resp, nil
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, sub.BatchItemFailures...)
	}
	return resp, nil
}

// postpone makes a bulk job given back visible again after the per-customer
// lane's redelivery delay for its receive count, or after the wait its
// error asked for (another run's lease), whichever is longer. Failing
// that, the queue's visibility timeout brings it back.
func (h *Handler) postpone(ctx context.Context, m events.SQSMessage, after time.Duration) {
	if h.Queue == nil || h.QueueURL == "" {
		return
	}
	receives, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	delay := syncer.RedeliveryDelay(max(receives, 1), after)
	_, err := h.Queue.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(h.QueueURL),
		Entries: []sqstypes.ChangeMessageVisibilityBatchRequestEntry{{
			Id: aws.String("0"), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: int32(delay / time.Second),
		}},
	})
	if err != nil && h.Logger != nil {
		h.Logger.WarnContext(ctx, "bulk job not postponed", "message_id", m.MessageId, "error", err)
	}
}

// RunOutcomes adds to a run of the run history (*runs.Store).
type RunOutcomes interface {
	AddOutcomes(ctx context.Context, sourceID, runID string, o runs.Outcomes) error
}

// count adds what a job settled itself to its run: the customers it added,
// updated or linked as changed, the current ones as unchanged. Customers it
// handed over are the per-customer lane's to count; a source with
// subscription rows hands over every customer.
func (h *Handler) count(ctx context.Context, job jobs.BulkJob, rep Report) {
	if h.Runs == nil || !runs.ValidID(job.Pass) {
		return
	}
	settled := rep.Customers - rep.HandedOff - rep.Deferred
	if settled <= 0 {
		return
	}
	o := runs.Outcomes{Changed: int64(min(rep.Added+rep.Updated+rep.Linked, settled))}
	o.Unchanged = int64(settled) - o.Changed
	if err := h.Runs.AddOutcomes(ctx, job.SourceID, job.Pass, o); err != nil {
		// Counters only: the work is in the ledger and Contactsend.
		slog.Default().WarnContext(ctx, "bulk run counts not written", "source_id", job.SourceID, "error", err.Error())
	}
}
