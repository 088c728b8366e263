package configapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/source"
)

// AuditLog keeps the record of changes.
type AuditLog interface {
	Record(ctx context.Context, e audit.Entry) (audit.Entry, error)
	List(ctx context.Context, workspace string, opts audit.ListOptions) (audit.Page, error)
}

// recordChange writes the audit record of a change that succeeded. The
// change is made by then, so a failure to record it is logged (an alarm's
// matter), not answered: the caller must not retry what is done.
func (a *API) recordChange(ctx context.Context, r *request, action string, resp events.APIGatewayV2HTTPResponse) {
	if a.cfg.Audit == nil || action == "" || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return
	}
	e := audit.Entry{
		Workspace: r.workspace, Action: action,
		Actor:      audit.Actor{Subject: r.actor.Subject, Email: r.actor.Email},
		SourceID:   r.params["id"],
		CustomerID: r.params["customerId"],
		Changes:    r.changes,
	}
	if r.sourceID != "" {
		e.SourceID = r.sourceID
	}
	stored, err := a.cfg.Audit.Record(ctx, e)
	if err != nil && stored.ID != "" {
		// Once more, the same entry (stored at most once should the first
		// write have landed), on a context of its own: the change is made,
		// and the request's context may be what ran out.
		e = stored
		retryCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditRetryTimeout)
		_, err = a.cfg.Audit.Record(retryCtx, e)
		cancel()
	}
	if err != nil {
		// The record itself goes to the log, where it is kept: who changed
		// what stays known. Its changes hold no secret (only that one
		// changed), as in the table.
		a.cfg.Logger.ErrorContext(ctx, "audit record not stored; logged instead", "action", action, "source", e.SourceID, "record", e, "error", err)
	}
}

// auditRetryTimeout bounds the second try of an audit write.
const auditRetryTimeout = 5 * time.Second

// secretPaths are the members of the presented resources that hold a
// secret (masked there): a diff says only that they changed.
var secretPaths = []string{"properties.apiKey", "properties.userKey", "contacthub.token"}

// ignoredPaths change with every write and say nothing of what changed.
var ignoredPaths = []string{"version", "updatedAt", "createdAt", "contacthub.updatedAt", "id"}

// diff lists what differs between two presented resources (nil before for
// a creation), member by member; secretChanged says, for each secret path,
// whether its real value changed.
func diff(before, after any, secretChanged map[string]bool) []audit.Change {
	left, right := flatten(before), flatten(after)
	paths := slices.Sorted(maps.Keys(left))
	for p := range right {
		if _, ok := left[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	changes := []audit.Change{}
	for _, p := range paths {
		if slices.Contains(ignoredPaths, p) {
			continue
		}
		if slices.Contains(secretPaths, p) {
			if secretChanged[p] {
				changes = append(changes, audit.Change{Path: p, Secret: true})
			}
			continue
		}
		l, lok := left[p]
		r, rok := right[p]
		if lok && rok && l == r {
			continue
		}
		c := audit.Change{Path: p}
		if lok {
			c.Before = decodeScalar(l)
		}
		if rok {
			c.After = decodeScalar(r)
		}
		changes = append(changes, c)
	}
	return changes
}

// flatten turns a JSON value into path → JSON text of each scalar, with
// paths as the API's errors name them (properties.fieldMapping[0].hubField).
func flatten(v any) map[string]string {
	out := map[string]string{}
	if v == nil {
		return out
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return out
	}
	var tree any
	json.Unmarshal(raw, &tree)
	var walk func(prefix string, node any)
	walk = func(prefix string, node any) {
		switch t := node.(type) {
		case map[string]any:
			for k, child := range t {
				walk(strings.TrimPrefix(prefix+"."+k, "."), child)
			}
		case []any:
			for i, child := range t {
				walk(fmt.Sprintf("%s[%d]", prefix, i), child)
			}
		default:
			text, _ := json.Marshal(t)
			out[prefix] = string(text)
		}
	}
	walk("", tree)
	return out
}

func decodeScalar(text string) any {
	var v any
	json.Unmarshal([]byte(text), &v)
	return v
}

type auditPageJSON struct {
	Elements   []audit.Entry `json:"elements"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// audit lists the workspace's record of changes, newest first.
func (a *API) audit(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Audit == nil {
		return problem(http.StatusNotImplemented, "the audit trail is not available in this deployment")
	}
	opts := audit.ListOptions{SourceID: r.query("sourceId"), Cursor: r.query("cursor")}
	var problems source.Problems
	if v, given := r.event.QueryStringParameters["limit"]; given {
		n, ok := pageLimit(v)
		if !ok {
			problems = append(problems, source.Problem{Path: "limit", Message: "must be an integer from 1 to 100"})
		}
		opts.Limit = n
	}
	if v, given := r.event.QueryStringParameters["sourceId"]; given && !validSourceID(v) {
		problems = append(problems, source.Problem{Path: "sourceId", Message: "is not a source id"})
	}
	if p := cursorProblem(opts.Cursor); p != nil {
		problems = append(problems, *p)
	}
	if len(problems) > 0 {
		return problem(http.StatusBadRequest, "invalid query", problems...)
	}
	page, err := a.cfg.Audit.List(ctx, r.workspace, opts)
	if errors.Is(err, audit.ErrBadCursor) {
		return problem(http.StatusBadRequest, "invalid query", notACursor())
	}
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "list audit records", "error", err)
		return problem(http.StatusServiceUnavailable, "the audit trail cannot be read now; retry")
	}
	return jsonResponse(http.StatusOK, auditPageJSON{Elements: page.Entries, NextCursor: page.Next})
}
