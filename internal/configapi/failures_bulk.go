package configapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/source"
)

// maxBulkRetry bounds the customers one bulk retry names.
const maxBulkRetry = 500

type bulkRetryInput struct {
	// All retries every failed record of the source; CustomerIDs retries
	// the named ones. Exactly one is given.
	All         bool     `json:"all"`
	CustomerIDs []string `json:"customerIds"`
}

// retryFailures queues the jobs of all, or of the selected, failed records
// of a source again; each success clears its record.
func (a *API) retryFailures(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Outcomes == nil || a.cfg.Jobs == nil {
		return problem(http.StatusNotImplemented, "retrying failed records is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	var in bulkRetryInput
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	var problems source.Problems
	switch {
	case in.All && len(in.CustomerIDs) > 0:
		problems = append(problems, source.Problem{Path: "customerIds", Message: "give either all or customerIds, not both"})
	case !in.All && len(in.CustomerIDs) == 0:
		problems = append(problems, source.Problem{Path: "customerIds", Message: "name at least one customer, or send all: true"})
	case len(in.CustomerIDs) > maxBulkRetry:
		problems = append(problems, source.Problem{Path: "customerIds", Message: "at most 500 customers at once"})
	}
	for i, id := range in.CustomerIDs {
		if why := source.IDProblem(id); id == "" || why != "" {
			if why == "" {
				why = "is empty"
			}
			problems = append(problems, source.Problem{Path: "customerIds[" + strconv.Itoa(i) + "]", Message: why})
		}
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "invalid retry", problems...)
	}
	if !src.Enabled {
		return problem(http.StatusConflict, "enable the source before retrying: jobs of a disabled source are dropped")
	}
	ids := slices.Compact(slices.Sorted(slices.Values(in.CustomerIDs)))
	if in.All {
		failures, err := a.allFailures(ctx, src.ID)
		if err != nil {
			return a.internal(ctx, "list failed records", err)
		}
		for _, f := range failures {
			ids = append(ids, f.CustomerID)
		}
	} else {
		// Only customers with a failed record: the others have nothing to
		// retry, and the answer says which.
		// Read in the order sent, so a problem names the customer by its
		// place in the client's list (ids is sorted and without repeats).
		var missing []source.Problem
		for i, id := range in.CustomerIDs {
			if slices.Index(in.CustomerIDs, id) < i {
				continue // asked and answered at its first place
			}
			if _, err := a.cfg.Outcomes.Failure(ctx, src.ID, id); errors.Is(err, ledger.ErrNotFound) {
				missing = append(missing, source.Problem{Path: "customerIds[" + strconv.Itoa(i) + "]", Message: "has no failed record"})
			} else if err != nil {
				return a.internal(ctx, "read failed record", err)
			}
		}
		if len(missing) > 0 {
			return problem(http.StatusUnprocessableEntity, "some customers have no failed record", missing...)
		}
	}
	batch := make([]jobs.Job, 0, len(ids))
	for _, id := range ids {
		batch = append(batch, jobs.Job{SourceID: src.ID, CustomerID: id, Reason: jobs.FromRetry})
	}
	if len(batch) > 0 {
		if err := a.cfg.Jobs.Send(ctx, batch...); err != nil {
			a.cfg.Logger.ErrorContext(ctx, "enqueue retries", "source", src.ID, "error", err)
			return problem(http.StatusServiceUnavailable, "the retries could not all be queued; try again")
		}
	}
	return jsonResponse(http.StatusAccepted, map[string]any{"status": "enqueued", "enqueued": len(batch)})
}

// allFailures reads every failed record of a source.
func (a *API) allFailures(ctx context.Context, sourceID string) ([]ledger.Failure, error) {
	var out []ledger.Failure
	cursor := ""
	for {
		page, err := a.cfg.Outcomes.Failures(ctx, sourceID, ledger.MaxFailuresLimit, cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Failures...)
		if page.Next == "" {
			return out, nil
		}
		cursor = page.Next
	}
}

// failuresCSV exports every failed record of a source as CSV.
func (a *API) failuresCSV(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Outcomes == nil {
		return problem(http.StatusNotImplemented, "failed records are not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	failures, err := a.allFailures(ctx, src.ID)
	if err != nil {
		return a.internal(ctx, "list failed records", err)
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"customerId", "email", "firstName", "lastName", "kind", "reason", "attempts", "firstFailedAt", "lastFailedAt", "jobReason"})
	for _, f := range failures {
		w.Write(csvSafe([]string{f.CustomerID, f.Email, f.FirstName, f.LastName, string(f.Kind), f.Reason, strconv.FormatInt(f.Attempts, 10), stamp(f.FirstFailedAt), stamp(f.LastFailedAt), f.JobReason}))
	}
	w.Flush()
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Content-Type":           "text/csv; charset=utf-8",
			"Content-Disposition":    `attachment; filename="failures-` + src.ID + `.csv"`,
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: buf.String(),
	}
}
