package configapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/syncer"
)

// Outcomes is the sync ledger's side of a source: counters and failed records.
type Outcomes interface {
	Stats(ctx context.Context, sourceID string, since time.Time) (ledger.Stats, error)
	Failures(ctx context.Context, sourceID string, limit int, after string) (ledger.FailurePage, error)
	Failure(ctx context.Context, sourceID, customerID string) (ledger.Failure, error)
	// FindFailures lists the failed records whose customer id or e-mail
	// is q.
	FindFailures(ctx context.Context, sourceID, q string, limit int, after string) (ledger.FailurePage, error)
	Waiting(ctx context.Context, sourceID string) (ledger.Waiting, error)
}

// Previewer maps one customer and says what a sync would do, writing nothing.
type Previewer interface {
	Preview(ctx context.Context, src source.Source, customerID string) (syncer.Preview, error)
}

// JobSender puts jobs on the sync queue.
type JobSender interface {
	Send(ctx context.Context, jobs ...jobs.Job) error
}

type countsJSON struct {
	Synced    int64 `json:"synced"`
	Unchanged int64 `json:"unchanged"`
	Failed    int64 `json:"failed"`
	Removed   int64 `json:"removed"`
	Skipped   int64 `json:"skipped"`
	Retried   int64 `json:"retried"`
	// Kept, Unsubscribed and Removed are the delete policies' effects;
	// Unmatchable counts the skipped customers without a match value.
	Kept         int64 `json:"kept"`
	Unsubscribed int64 `json:"unsubscribed"`
	Unmatchable  int64 `json:"unmatchable"`
}

type statusJSON struct {
	Enabled bool `json:"enabled"`
	// LagSeconds is how far behind the change feed's reading was at the
	// last poll: zero when it was read to its end.
	LagSeconds  int64      `json:"lagSeconds"`
	Intake      any        `json:"intake"`
	Stats       statsJSON  `json:"stats"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
	// LastErrorResolved says the source worked without error after the
	// last error (at LastErrorResolvedAt): the error is history.
	LastErrorResolved   bool       `json:"lastErrorResolved,omitempty"`
	LastErrorResolvedAt *time.Time `json:"lastErrorResolvedAt,omitempty"`
	LastProcessedAt     *time.Time `json:"lastProcessedAt,omitempty"`
	LastJobLatencyMS    int64      `json:"lastJobLatencyMs"`
	// Waiting is the changes given back after a transient failure that
	// wait to be retried.
	Waiting waitingJSON `json:"waiting"`
}

type waitingJSON struct {
	Count       int        `json:"count"`
	NextRetryAt *time.Time `json:"nextRetryAt,omitempty"`
}

type statsJSON struct {
	LastHour countsJSON `json:"lastHour"`
	LastDay  countsJSON `json:"lastDay"`
}

func counts(c ledger.Counts) countsJSON { return countsJSON(c) }

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// status is a source's sync health: intake checkpoints, recent outcome
// counts and the last error.
func (a *API) status(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Intake == nil || a.cfg.Outcomes == nil {
		return problem(http.StatusNotImplemented, "sync status is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	intake, err := a.cfg.Intake.Status(ctx, src.ID)
	if err != nil {
		return a.internal(ctx, "read intake status", err)
	}
	now := time.Now()
	day, err := a.cfg.Outcomes.Stats(ctx, src.ID, now.Add(-24*time.Hour))
	if err != nil {
		return a.internal(ctx, "read sync stats", err)
	}
	hour, err := a.cfg.Outcomes.Stats(ctx, src.ID, now.Add(-time.Hour))
	if err != nil {
		return a.internal(ctx, "read sync stats", err)
	}
	waiting, err := a.cfg.Outcomes.Waiting(ctx, src.ID)
	if err != nil {
		return a.internal(ctx, "read waiting jobs", err)
	}
	out := statusJSON{
		Enabled:          src.Enabled,
		Intake:           intake,
		Stats:            statsJSON{LastHour: counts(hour.Counts), LastDay: counts(day.Counts)},
		LastError:        day.LastError,
		LastErrorAt:      optionalTime(day.LastErrorAt),
		LastProcessedAt:  optionalTime(day.LastProcessedAt),
		LastJobLatencyMS: day.LastJobLatency.Milliseconds(),
		Waiting:          waitingJSON{Count: waiting.Count, NextRetryAt: optionalTime(waiting.NextRetryAt)},
	}
	if day.Resolved() {
		out.LastErrorResolved, out.LastErrorResolvedAt = true, optionalTime(day.LastHealthyAt)
	}
	if intake.Feed != nil {
		out.LagSeconds = intake.Feed.LagSeconds
		// The feed's checkpoint clears its error once a read works, so an
		// error there is current.
		if intake.Feed.LastError != "" && (out.LastErrorAt == nil || intake.Feed.LastErrorAt.After(*out.LastErrorAt)) {
			out.LastError, out.LastErrorAt = "change feed: "+intake.Feed.LastError, optionalTime(intake.Feed.LastErrorAt)
			out.LastErrorResolved, out.LastErrorResolvedAt = false, nil
		}
	}
	return jsonResponse(http.StatusOK, out)
}

type failureJSON struct {
	CustomerID    string    `json:"customerId"`
	Kind          string    `json:"kind"`
	Reason        string    `json:"reason"`
	Attempts      int64     `json:"attempts"`
	FirstFailedAt time.Time `json:"firstFailedAt"`
	LastFailedAt  time.Time `json:"lastFailedAt"`
	JobReason     string    `json:"jobReason,omitempty"`
	// Email and the names are the customer's as the failing job read them.
	Email     string `json:"email,omitempty"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
}

// maxFailureQuery bounds a search of failed records: a customer id or an
// e-mail address is never longer.
const maxFailureQuery = 320

type failuresJSON struct {
	Elements   []failureJSON `json:"elements"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

func (a *API) failures(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Outcomes == nil {
		return problem(http.StatusNotImplemented, "failed records are not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	limit, refused := r.pageQuery()
	if refused != nil {
		return *refused
	}
	q, search := r.event.QueryStringParameters["q"]
	if search && (strings.TrimSpace(q) == "" || len(q) > maxFailureQuery || source.TextProblem(q) != "") {
		return problem(http.StatusBadRequest, "invalid query", source.Problem{Path: "q", Message: "must be a customer id or an e-mail address"})
	}
	var page ledger.FailurePage
	if search {
		page, err = a.cfg.Outcomes.FindFailures(ctx, src.ID, q, limit, r.query("cursor"))
	} else {
		page, err = a.cfg.Outcomes.Failures(ctx, src.ID, limit, r.query("cursor"))
	}
	if errors.Is(err, ledger.ErrBadCursor) {
		return badCursor()
	}
	if err != nil {
		return a.internal(ctx, "list failed records", err)
	}
	out := failuresJSON{Elements: []failureJSON{}, NextCursor: page.Next}
	for _, f := range page.Failures {
		out.Elements = append(out.Elements, failureJSON{
			CustomerID: f.CustomerID, Kind: string(f.Kind), Reason: f.Reason, Attempts: f.Attempts,
			FirstFailedAt: f.FirstFailedAt, LastFailedAt: f.LastFailedAt, JobReason: f.JobReason,
			Email: f.Email, FirstName: f.FirstName, LastName: f.LastName,
		})
	}
	return jsonResponse(http.StatusOK, out)
}

// retryFailure queues the customer's job again; a success clears the record.
func (a *API) retryFailure(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Outcomes == nil || a.cfg.Jobs == nil {
		return problem(http.StatusNotImplemented, "retrying failed records is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	customerID := r.params["customerId"]
	if _, err := a.cfg.Outcomes.Failure(ctx, src.ID, customerID); errors.Is(err, ledger.ErrNotFound) {
		return problem(http.StatusNotFound, "no failed record for this customer")
	} else if err != nil {
		return a.internal(ctx, "read failed record", err)
	}
	if !src.Enabled {
		return problem(http.StatusConflict, "enable the source before retrying: jobs of a disabled source are dropped")
	}
	if err := a.cfg.Jobs.Send(ctx, jobs.Job{SourceID: src.ID, CustomerID: customerID, Reason: jobs.FromRetry}); err != nil {
		a.cfg.Logger.ErrorContext(ctx, "enqueue retry", "source", src.ID, "error", err)
		return problem(http.StatusServiceUnavailable, "the retry could not be queued; try again")
	}
	return jsonResponse(http.StatusAccepted, map[string]string{"status": "enqueued"})
}

type previewInput struct {
	CustomerID string `json:"customerId"`
	// Email finds the customer through Contacthub's search, instead of
	// CustomerID.
	Email string `json:"email"`
}

// draftPreviewInput is a draft, as POST /v1/connection-tests takes it with
// the mapping and subscriptions, and the customer to preview.
type draftPreviewInput struct {
	SourceID   string          `json:"sourceId"`
	Nodes      []string        `json:"nodes"`
	Properties propertiesInput `json:"properties"`
	CustomerID string          `json:"customerId"`
	Email      string          `json:"email"`
}

// maxEmailLength bounds an e-mail address to look a customer up by.
const maxEmailLength = 320

// customerProblems checks that a preview names its customer one way.
func (in previewInput) problems() source.Problems {
	switch {
	case in.CustomerID == "" && in.Email == "":
		return source.Problems{{Path: "customerId", Message: "is required (or give email instead)"}}
	case in.CustomerID != "" && in.Email != "":
		return source.Problems{{Path: "email", Message: "give either customerId or email, not both"}}
	case in.CustomerID != "":
		if why := source.IDProblem(in.CustomerID); why != "" {
			return source.Problems{{Path: "customerId", Message: why}}
		}
	default:
		if why := source.TextProblem(in.Email); why != "" {
			return source.Problems{{Path: "email", Message: why}}
		}
		if len(in.Email) > maxEmailLength || strings.TrimSpace(in.Email) != in.Email || !strings.Contains(in.Email, "@") {
			return source.Problems{{Path: "email", Message: "is not an e-mail address"}}
		}
	}
	return nil
}

type previewAttributeJSON struct {
	Field string `json:"field"`
	Type  string `json:"type"`
	Value string `json:"value"`
	Clear bool   `json:"clear,omitempty"`
}

type previewJSON struct {
	CustomerID   string                 `json:"customerId"`
	Action       string                 `json:"action"`
	Note         string                 `json:"note"`
	SubscriberID int64                  `json:"subscriberId,omitempty"`
	Attributes   []previewAttributeJSON `json:"attributes"`
	Changed      []string               `json:"changed"`
	Problems     []source.Problem       `json:"problems"`
	// Subscriptions is the subscription sync's decision per row.
	Subscriptions []subscriptionPreviewJSON `json:"subscriptions"`
}

type subscriptionPreviewJSON struct {
	HubSubscriptionID  string `json:"hubSubscriptionId"`
	SendSubscriptionID int64  `json:"sendSubscriptionId"`
	WebformCode        string `json:"webformCode"`
	Action             string `json:"action"`
	Subscribed         bool   `json:"subscribed"`
	Rule               string `json:"rule"`
}

// preview maps one customer and says what a sync would do, writing nothing.
func (a *API) preview(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Previewer == nil {
		return problem(http.StatusNotImplemented, "preview is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	var in previewInput
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	return a.previewCustomer(ctx, r.workspace, src, in)
}

// previewDraft previews one customer under a source not saved yet, or
// under unsaved changes of a saved one (sourceId), writing nothing.
func (a *API) previewDraft(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Previewer == nil {
		return problem(http.StatusNotImplemented, "preview is not available in this deployment")
	}
	var in draftPreviewInput
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	who := previewInput{CustomerID: in.CustomerID, Email: in.Email}
	// buildDraft applies the rules of connection-tests: a saved source's
	// id stands in for its masked keys only while the account stays the
	// same, and the Contactsend endpoint is the deployment's.
	src, saved, resp := a.buildDraft(ctx, r, draftInput{SourceID: in.SourceID, Nodes: in.Nodes, Properties: in.Properties})
	if resp != nil {
		return *resp
	}
	src.WorkspaceID = r.workspace
	if saved != nil && saved.Properties.UserDBID == src.Properties.UserDBID && saved.Properties.APIKey == src.Properties.APIKey {
		// The same userdb: the saved source's ledger says which
		// subscriber is the customer's and what was last synced.
		src.ID = saved.ID
	}
	problems := who.problems()
	for _, p := range source.Check(src) {
		if p.Path != "name" && p.Path != "description" {
			problems = append(problems, p)
		}
	}
	problems = firstPerPath(problems)
	if len(problems) == 0 {
		catalog, lookupProblems, err := a.catalog(ctx, r.workspace, src)
		if err != nil {
			return respond(err)
		}
		problems = append(lookupProblems, source.CheckAgainst(src, catalog)...)
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "the draft cannot be previewed", problems...)
	}
	return a.previewCustomer(ctx, r.workspace, src, who)
}

// previewCustomer finds the customer (by id, or by e-mail in the source's
// node) and previews its sync.
func (a *API) previewCustomer(ctx context.Context, workspace string, src source.Source, in previewInput) events.APIGatewayV2HTTPResponse {
	if problems := in.problems(); len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "name a customer", problems...)
	}
	customerID := in.CustomerID
	if in.Email != "" {
		id, resp := a.customerByEmail(ctx, workspace, src.Node(), in.Email)
		if resp != nil {
			return *resp
		}
		customerID = id
	}
	p, err := a.cfg.Previewer.Preview(ctx, src, customerID)
	if err != nil {
		return a.previewFailure(ctx, src, err)
	}
	out := previewJSON{
		CustomerID: p.CustomerID, Action: string(p.Action), Note: p.Note, SubscriberID: p.SubscriberID,
		Attributes: []previewAttributeJSON{}, Changed: p.Changed, Problems: []source.Problem{},
	}
	if out.Changed == nil {
		out.Changed = []string{}
	}
	for _, v := range p.Attributes {
		out.Attributes = append(out.Attributes, previewAttributeJSON{Field: v.Field, Type: string(v.Type), Value: v.Text, Clear: v.Clear})
	}
	for _, pr := range p.Problems {
		out.Problems = append(out.Problems, source.Problem{Path: pr.HubField, Message: pr.Reason})
	}
	out.Subscriptions = []subscriptionPreviewJSON{}
	for _, sp := range p.Subscriptions {
		out.Subscriptions = append(out.Subscriptions, subscriptionPreviewJSON{
			HubSubscriptionID: sp.HubSubscriptionID, SendSubscriptionID: sp.SendSubscriptionID, WebformCode: sp.WebformCode,
			Action: string(sp.Action), Subscribed: sp.Subscribed, Rule: sp.Rule,
		})
	}
	return jsonResponse(http.StatusOK, out)
}

// customerByEmail finds the customer of a node with an e-mail address,
// through Contacthub's search. The search index lags behind writes, so a
// customer created or changed in the last minute may not be found yet; the
// answer says so.
func (a *API) customerByEmail(ctx context.Context, workspace, node, email string) (string, *events.APIGatewayV2HTTPResponse) {
	hub, err := a.hubFor(ctx, workspace)
	if err != nil {
		resp := respond(err)
		return "", &resp
	}
	page, err := hub.Customers(ctx, contacthub.ListQuery{NodeID: node, Query: contacthub.EmailQuery(email), Size: 1})
	if err != nil {
		resp := respond(hubFailure("finding the customer by e-mail", err))
		return "", &resp
	}
	if len(page.Elements) == 0 || page.Elements[0].ID == "" {
		resp := problem(http.StatusNotFound, "no customer of node "+node+" has this e-mail address; Contacthub's search takes up to a minute to find a customer just created or changed, so try again shortly, or give its customerId",
			source.Problem{Path: "email", Message: "no customer of the node has this e-mail address (a customer created or changed in the last minute may not be searchable yet)"})
		return "", &resp
	}
	return page.Elements[0].ID, nil
}

func (a *API) internal(ctx context.Context, what string, err error) events.APIGatewayV2HTTPResponse {
	a.cfg.Logger.ErrorContext(ctx, what, "error", err)
	return problem(http.StatusInternalServerError, "internal error")
}

// previewFailure names the system that failed a preview, so the admin knows
// where to look; hubsend's own failures stay in the logs.
func (a *API) previewFailure(ctx context.Context, src source.Source, err error) events.APIGatewayV2HTTPResponse {
	var hubErr *contacthub.Error
	var fault *contactsend.Fault
	var sendStatus *contactsend.StatusError
	var sendTransport *contactsend.TransportError
	switch {
	case errors.Is(err, configstore.ErrNotFound):
		return problem(http.StatusConflict, "this workspace is not connected to Contacthub yet; set its connection with PUT /v1/workspace")
	case errors.Is(err, contactsend.ErrBadCredentials):
		return problem(http.StatusUnprocessableEntity, "Contactsend refused the source's keys",
			source.Problem{Path: "properties.apiKey", Message: "Contactsend refused this apiKey and userKey"})
	case errors.Is(err, contactsend.ErrUnknownUserDB):
		return problem(http.StatusUnprocessableEntity, "the source's userdb does not exist",
			source.Problem{Path: "properties.userDbId", Message: "userdb " + strconv.FormatInt(src.Properties.UserDBID, 10) + " does not exist for these credentials"})
	case errors.As(err, &hubErr):
		return respond(hubFailure("previewing the customer", err))
	case errors.As(err, &fault), errors.As(err, &sendStatus), errors.As(err, &sendTransport):
		return respond(sendFailure("previewing the customer", err))
	case errors.Is(err, context.DeadlineExceeded):
		return problem(http.StatusGatewayTimeout, "the preview took too long; try again")
	}
	a.cfg.Logger.ErrorContext(ctx, "preview failed", "source", src.ID, "error", err)
	if retry.Temporary(err) {
		return problem(http.StatusServiceUnavailable, "a system the preview needs is unavailable right now; try again")
	}
	return problem(http.StatusInternalServerError, "internal error")
}
