package bulk

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
)

// PerCustomer runs sync jobs (*syncer.Worker): the customers the bulk lane
// hands over travel on the bulk queue and are run by the bulk function.
type PerCustomer interface {
	HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)
}

// Handler is the bulk function's SQS handler: bulk jobs go to the loader,
// sync jobs to the per-customer worker. It reports partial batch failures.
type Handler struct {
	Loader      *Loader
	PerCustomer PerCustomer
	Logger      *slog.Logger
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
		case errors.Is(err, ErrRetry):
			log.WarnContext(ctx, "bulk job given back", append(attrs, "error", err)...)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
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
