package configapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/source"
)

func (a *API) createSource(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	var in sourceInput
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	src, problems := in.toSource(nil)
	if in.ID != nil {
		problems = append(problems, source.Problem{Path: "id", Message: "is assigned by hubsend; leave it out"})
	}
	src.ID = a.cfg.NewID()
	src.WorkspaceID = r.workspace
	src.Enabled = in.Enabled == nil || *in.Enabled
	if resp := a.validate(ctx, r.workspace, src, problems); resp != nil {
		return *resp
	}
	created, err := a.cfg.Store.Create(ctx, src)
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	if resp := a.startFirstBackfill(ctx, created); resp != nil {
		return *resp
	}
	r.sourceID = created.ID
	r.changes = diff(nil, present(created), map[string]bool{"properties.apiKey": true, "properties.userKey": true})
	resp := jsonResponse(http.StatusCreated, present(created))
	resp.Headers["Location"] = "/v1/sources/" + created.ID
	resp.Headers["ETag"] = etag(created.Version)
	return resp
}

// validate checks a source on its own and against both systems, and answers
// with every problem at once.
func (a *API) validate(ctx context.Context, workspace string, src source.Source, problems source.Problems) *events.APIGatewayV2HTTPResponse {
	problems = append(problems, source.Check(src)...)
	problems = firstPerPath(problems)
	catalog, lookupProblems, err := a.catalog(ctx, workspace, src)
	if err != nil {
		resp := respond(err)
		return &resp
	}
	problems = append(problems, lookupProblems...)
	problems = append(problems, source.CheckAgainst(src, catalog)...)
	if len(problems) > 0 {
		resp := problem(http.StatusUnprocessableEntity, "the source is not valid", problems...)
		return &resp
	}
	return nil
}

func (a *API) storeFailure(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	var conflict *configstore.ConflictError
	switch {
	case errors.As(err, &conflict):
		path := "nodes[0]"
		if conflict.Resource == "userdb" {
			path = "properties.userDbId"
		}
		return jsonResponse(http.StatusConflict, errorBody{
			Message: conflict.Error() + "; one source : one node : one userdb",
			Errors:  []source.Problem{{Path: path, Message: conflict.Error()}},
			Owner:   conflict.Owner,
		})
	case errors.Is(err, configstore.ErrNotFound):
		return problem(http.StatusNotFound, "source not found")
	case errors.Is(err, configstore.ErrVersionMismatch):
		return problem(http.StatusPreconditionFailed, "the source changed since you read it; read it again and reapply your change")
	case errors.Is(err, configstore.ErrEnabled):
		return problem(http.StatusConflict, "disable the source before deleting it")
	case errors.Is(err, configstore.ErrConcurrentRotation):
		return problem(http.StatusConflict, "the webhook secret was rotated by another request at the same time; use that secret or rotate again")
	case errors.Is(err, configstore.ErrBadCursor):
		return badCursor()
	}
	a.cfg.Logger.ErrorContext(ctx, "store failure", "error", err)
	return problem(http.StatusInternalServerError, "internal error")
}

func (a *API) getSource(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	resp := jsonResponse(http.StatusOK, present(src))
	resp.Headers["ETag"] = etag(src.Version)
	return resp
}

type listJSON struct {
	Elements   []sourceJSON `json:"elements"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

func (a *API) listSources(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	opts := configstore.ListOptions{Node: r.query("nodeId"), Cursor: r.query("cursor")}
	var problems source.Problems
	if v, given := r.event.QueryStringParameters["enabled"]; given {
		if v != "true" && v != "false" {
			problems = append(problems, source.Problem{Path: "enabled", Message: "must be true or false"})
		}
		enabled := v == "true"
		opts.Enabled = &enabled
	}
	if v, given := r.event.QueryStringParameters["limit"]; given {
		n, ok := pageLimit(v)
		if !ok {
			problems = append(problems, source.Problem{Path: "limit", Message: "must be an integer from 1 to 100"})
		}
		opts.Limit = n
	}
	if v, given := r.event.QueryStringParameters["nodeId"]; given {
		if why := nodeIDProblem(v); why != "" {
			problems = append(problems, source.Problem{Path: "nodeId", Message: why})
		}
	}
	if p := cursorProblem(opts.Cursor); p != nil {
		problems = append(problems, *p)
	}
	if len(problems) > 0 {
		return problem(http.StatusBadRequest, "invalid query", problems...)
	}
	page, err := a.cfg.Store.List(ctx, r.workspace, opts)
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	out := listJSON{Elements: []sourceJSON{}, NextCursor: page.Next}
	for _, src := range page.Sources {
		out.Elements = append(out.Elements, present(src))
	}
	return jsonResponse(http.StatusOK, out)
}

// pageQuery reads a paged listing's limit (50 when absent) and checks its
// cursor; refused is the answer to a bad one.
func (r *request) pageQuery() (limit int, refused *events.APIGatewayV2HTTPResponse) {
	limit = 50
	if v, given := r.event.QueryStringParameters["limit"]; given {
		n, ok := pageLimit(v)
		if !ok {
			resp := problem(http.StatusBadRequest, "invalid query", source.Problem{Path: "limit", Message: "must be an integer from 1 to 100"})
			return 0, &resp
		}
		limit = n
	}
	if p := cursorProblem(r.query("cursor")); p != nil {
		resp := problem(http.StatusBadRequest, "invalid cursor", *p)
		return 0, &resp
	}
	return limit, nil
}

// badCursor is the answer to a cursor no page of this listing gave.
func badCursor() events.APIGatewayV2HTTPResponse {
	return problem(http.StatusBadRequest, "invalid cursor", notACursor())
}

// notACursor says what is wrong with a cursor no page gave.
func notACursor() source.Problem {
	return source.Problem{Path: "cursor", Message: "is not a cursor from a previous page"}
}

// pageLimit reads a page size: 1 to 100 in plain decimal digits.
func pageLimit(v string) (int, bool) {
	if v == "" || len(v) > 3 || strings.ContainsFunc(v, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= 100
}

// nodeIDProblem says why a node id given as a filter can name no node.
func nodeIDProblem(id string) string {
	switch {
	case id == "":
		return "is empty; leave it out to list the sources of every node"
	}
	return source.IDProblem(id)
}

// maxCursorLength bounds a cursor: the ones hubsend hands out are far
// shorter, and a longer one would only make DynamoDB refuse its key.
const maxCursorLength = 1024

// cursorProblem refuses what cannot be a cursor of a previous page before
// any store sees it; the store then checks what it decodes.
func cursorProblem(cursor string) *source.Problem {
	if len(cursor) > maxCursorLength || strings.ContainsFunc(cursor, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}) {
		p := notACursor()
		return &p
	}
	return nil
}

func (a *API) replaceSource(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	cond, refused := r.ifMatch()
	if refused != nil {
		return *refused
	}
	if !cond.given {
		return problem(http.StatusPreconditionRequired, "send If-Match with the ETag you read, so a concurrent change is not overwritten")
	}
	current, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	if !cond.matches(current.Version) {
		return a.storeFailure(ctx, configstore.ErrVersionMismatch)
	}
	// The store replaces only the version read, so a change between this
	// read and the write is still refused, whatever If-Match named ("*").
	expected := current.Version
	var in sourceInput
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	if cond.any && in.Version != nil && *in.Version != current.Version {
		// "*" names no version, but the body sent back the one the client
		// read: a write over a newer version would lose its change.
		return a.storeFailure(ctx, configstore.ErrVersionMismatch)
	}
	updated, problems := in.toSource(&current)
	if in.ID != nil && *in.ID != current.ID {
		problems = append(problems, source.Problem{Path: "id", Message: "does not match the source in the path"})
	}
	if in.Enabled != nil && *in.Enabled != current.Enabled {
		problems = append(problems, source.Problem{Path: "enabled", Message: "switch a source with POST /v1/sources/{id}/enable or /disable"})
	}
	updated.ID, updated.WorkspaceID, updated.Enabled = current.ID, current.WorkspaceID, current.Enabled
	if resp := a.validate(ctx, r.workspace, updated, problems); resp != nil {
		return *resp
	}

	changes := source.Diff(current, updated)
	facts, err := a.facts(ctx, r.workspace, current, updated, source.Requirements(changes))
	if err != nil {
		return respond(err)
	}
	if err := source.Allow(changes, facts); err != nil {
		var unmet *source.Unmet
		errors.As(err, &unmet)
		body := errorBody{Message: "this change is refused: " + err.Error(), Changes: unmet.Changes}
		for _, req := range unmet.Missing {
			body.Requirements = append(body.Requirements, requirement{Requirement: req, Message: req.Describe()})
			body.Errors = append(body.Errors, source.Problem{Path: "requirements." + string(req), Message: req.Describe()})
		}
		return jsonResponse(http.StatusConflict, body)
	}
	saved, err := a.cfg.Store.Replace(ctx, updated, expected)
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	// A new node, userdb, account, mapping or subscription rows changes what
	// every customer should look like in Contactsend: bring them all over
	// again. The source is disabled (the table requires it), so the
	// backfill runs once it is enabled.
	if len(changes) > 0 && a.cfg.Intake != nil {
		if err := a.cfg.Intake.StartBackfill(ctx, saved.ID); err != nil {
			a.cfg.Logger.ErrorContext(ctx, "start backfill after a change", "source", saved.ID, "error", err)
			return problem(http.StatusServiceUnavailable, "the change is saved, but the resync it needs could not start; run POST /v1/sources/"+saved.ID+"/resync after enabling the source")
		}
	}
	r.changes = diff(present(current), present(saved), map[string]bool{
		"properties.apiKey":  current.Properties.APIKey != saved.Properties.APIKey,
		"properties.userKey": current.Properties.UserKey != saved.Properties.UserKey,
	})
	resp := jsonResponse(http.StatusOK, present(saved))
	resp.Headers["ETag"] = etag(saved.Version)
	return resp
}

func (a *API) enableSource(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	return a.setEnabled(ctx, r, true)
}

func (a *API) disableSource(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	return a.setEnabled(ctx, r, false)
}

func (a *API) setEnabled(ctx context.Context, r *request, enabled bool) events.APIGatewayV2HTTPResponse {
	cond, refused := r.ifMatch()
	if refused != nil {
		return *refused
	}
	var expected int64 // any version
	if cond.given && !cond.any {
		current, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
		if err != nil {
			return a.storeFailure(ctx, err)
		}
		if !cond.matches(current.Version) {
			return a.storeFailure(ctx, configstore.ErrVersionMismatch)
		}
		// The store switches only this version, so a change between this
		// read and the write is refused too.
		expected = current.Version
	}
	src, err := a.cfg.Store.SetEnabled(ctx, r.workspace, r.params["id"], enabled, expected)
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	r.changes = []audit.Change{{Path: "enabled", After: enabled}}
	if resp := a.startFirstBackfill(ctx, src); resp != nil {
		return *resp
	}
	resp := jsonResponse(http.StatusOK, present(src))
	resp.Headers["ETag"] = etag(src.Version)
	return resp
}

func (a *API) deleteSource(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	cond, refused := r.ifMatch()
	if refused != nil {
		return *refused
	}
	// Read first, so the audit record says what was deleted; the store
	// deletes only the version read. Without a version named, a change
	// between the read and the delete is read again.
	var current source.Source
	for attempt := 1; ; attempt++ {
		var err error
		if current, err = a.cfg.Store.Get(ctx, r.workspace, r.params["id"]); err != nil {
			return a.storeFailure(ctx, err)
		}
		if !cond.matches(current.Version) {
			return a.storeFailure(ctx, configstore.ErrVersionMismatch)
		}
		err = a.cfg.Store.Delete(ctx, r.workspace, r.params["id"], current.Version)
		if err == nil {
			break
		}
		if !errors.Is(err, configstore.ErrVersionMismatch) || (cond.given && !cond.any) {
			return a.storeFailure(ctx, err)
		}
		if attempt == 3 {
			// No version was named: not a failed precondition, a source
			// that keeps changing.
			return problem(http.StatusConflict, "the source kept changing while it was being deleted; try again")
		}
	}
	r.changes = diff(present(current), nil, map[string]bool{"properties.apiKey": true, "properties.userKey": true})
	return noContent()
}

// firstPerPath keeps the first problem of each field: a masked key sent on
// create is one mistake, not also a missing key.
func firstPerPath(problems source.Problems) source.Problems {
	seen := make(map[string]bool, len(problems))
	out := problems[:0]
	for _, p := range problems {
		if p.Path != "" && seen[p.Path] {
			continue
		}
		seen[p.Path] = true
		out = append(out, p)
	}
	return out
}

type webhookSecretJSON struct {
	Secret    string `json:"secret"`
	SignedURL string `json:"signedUrl"`
	TokenURL  string `json:"tokenUrl"`
	Note      string `json:"note"`
}

// rotateWebhookSecret makes a new secret for the source's Contacthub
// webhook. This answer is the only place the secret is ever shown.
func (a *API) rotateWebhookSecret(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	id := r.params["id"]
	secret, err := a.cfg.Store.RotateWebhookSecret(ctx, r.workspace, id)
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	path := "/v1/webhooks/contacthub/" + id
	r.changes = []audit.Change{{Path: "webhookSecret", Secret: true}}
	return jsonResponse(http.StatusCreated, webhookSecretJSON{
		Secret:    secret,
		SignedURL: path,
		TokenURL:  path + "?token=" + secret,
		Note: "Store this secret now: it is not shown again. Sign each body with HMAC-SHA256 in X-Hubsend-Signature: sha256=<hex>, " +
			"or use tokenUrl if the sender cannot sign. The previous secret keeps working for 24 hours.",
	})
}

// resync starts enumerating the source's node again: every customer gets a
// job, and unchanged ones cost nothing in Contactsend.
func (a *API) resync(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Intake == nil {
		return problem(http.StatusNotImplemented, "resync is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	if !src.Enabled {
		return problem(http.StatusConflict, "enable the source before resyncing it: jobs of a disabled source are dropped")
	}
	if err := a.cfg.Intake.StartBackfill(ctx, src.ID); err != nil {
		a.cfg.Logger.ErrorContext(ctx, "start backfill", "source", src.ID, "error", err)
		return problem(http.StatusServiceUnavailable, "the resync could not start; retry")
	}
	status, err := a.cfg.Intake.Status(ctx, src.ID)
	if err != nil {
		return jsonResponse(http.StatusAccepted, map[string]any{"status": "started"})
	}
	return jsonResponse(http.StatusAccepted, map[string]any{"status": "started", "backfill": status.Backfill})
}

// startFirstBackfill brings an enabled source's existing customers over the
// first time it is enabled (at creation or later); afterwards the change
// feed, which keeps its offset while a source is disabled, carries changes.
func (a *API) startFirstBackfill(ctx context.Context, src source.Source) *events.APIGatewayV2HTTPResponse {
	if !src.Enabled || a.cfg.Intake == nil {
		return nil
	}
	done, err := a.cfg.Intake.HasBackfilled(ctx, src.ID)
	if err == nil && !done {
		err = a.cfg.Intake.StartBackfill(ctx, src.ID)
	}
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "start first backfill", "source", src.ID, "error", err)
		resp := problem(http.StatusServiceUnavailable, "the source is saved and enabled, but its first backfill could not start; retry with POST /v1/sources/"+src.ID+"/resync")
		return &resp
	}
	return nil
}
