package configapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/source"
)

const (
	// maxBulkRetry bounds the customers one bulk retry names.
	maxBulkRetry = 500
	// retryAllPerCall bounds the jobs one "retry all" queues, so that the
	// call ends well inside API Gateway's 30 seconds however many records
	// failed; the answer's nextCursor continues from there.
	retryAllPerCall = 5000
	// csvPartBytes bounds one answer of the CSV export below Lambda's 6 MB
	// response (one page of records may go past it); a Link header names
	// the next part.
	csvPartBytes = 3 << 20
	// exportMargin is left of the request's time when a part ends early.
	exportMargin = 5 * time.Second
)

type bulkRetryInput struct {
	// All retries every failed record of the source; CustomerIDs retries
	// the named ones. Exactly one is given.
	All         bool     `json:"all"`
	CustomerIDs []string `json:"customerIds"`
	// Cursor, with All, continues a retry of all that stopped at
	// retryAllPerCall: the nextCursor of its answer.
	Cursor string `json:"cursor"`
}

type bulkRetryJSON struct {
	Status   string `json:"status"`
	Enqueued int    `json:"enqueued"`
	// NextCursor is set when failed records remain past those queued:
	// send it back with all: true to queue the next ones.
	NextCursor string `json:"nextCursor,omitempty"`
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
	if in.Cursor != "" && (!in.All || cursorProblem(in.Cursor) != nil) {
		problems = append(problems, source.Problem{Path: "cursor", Message: "must be the nextCursor of an earlier retry of all, sent with all: true"})
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
	next := ""
	if in.All {
		next, err = eachPage(ctx, in.Cursor, a.parts.retryAll, func(cursor string, limit int) (string, int, error) {
			page, err := a.cfg.Outcomes.Failures(ctx, src.ID, min(limit, a.parts.page), cursor)
			for _, f := range page.Failures {
				ids = append(ids, f.CustomerID)
			}
			return page.Next, a.parts.retryAll - len(ids), err
		})
		if errors.Is(err, ledger.ErrBadCursor) {
			return problem(http.StatusUnprocessableEntity, "invalid retry", source.Problem{Path: "cursor", Message: "is not the nextCursor of an earlier retry of all"})
		}
		if err != nil {
			return a.internal(ctx, "list failed records", err)
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
	return jsonResponse(http.StatusAccepted, bulkRetryJSON{Status: "enqueued", Enqueued: len(batch), NextCursor: next})
}

// failuresCSV exports every failed record of a source as CSV, in parts.
func (a *API) failuresCSV(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Outcomes == nil {
		return problem(http.StatusNotImplemented, "failed records are not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	header := []string{"customerId", "email", "firstName", "lastName", "kind", "reason", "attempts", "firstFailedAt", "lastFailedAt", "jobReason"}
	return a.csvExport(ctx, r, "/v1/sources/"+url.PathEscape(src.ID)+"/failures.csv", "failures-"+src.ID+".csv", header, func(ctx context.Context, cursor string, limit int) ([][]string, string, error) {
		page, err := a.cfg.Outcomes.Failures(ctx, src.ID, limit, cursor)
		rows := make([][]string, len(page.Failures))
		for i, f := range page.Failures {
			rows[i] = []string{f.CustomerID, f.Email, f.FirstName, f.LastName, string(f.Kind), f.Reason, strconv.FormatInt(f.Attempts, 10), stamp(f.FirstFailedAt), stamp(f.LastFailedAt), f.JobReason}
		}
		return rows, page.Next, err
	})
}
