package configapi

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/source"
)

type route struct {
	key    string // API Gateway route key, e.g. "GET /v1/sources/{id}"
	public bool   // served without a workspace (no JWT authorizer)
	// read marks a route a viewer may call: it changes nothing. Every other
	// authorized route needs an admin, so a new route is closed by default.
	read bool
	// audit names the action a successful call records in the audit trail.
	audit  string
	query  []string // the query parameters the route reads; others are refused
	handle func(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse
}

func (a *API) table() []route {
	return []route{
		{key: "GET /v1/openapi.json", public: true, handle: a.openAPI},
		{key: "GET /", public: true, handle: a.serveConsole},
		{key: "GET /console/{proxy+}", public: true, handle: a.serveConsole},
		{key: "GET /v1/workspace", read: true, handle: a.getWorkspace},
		{key: "PUT /v1/workspace", audit: audit.WorkspaceConnection, handle: a.putWorkspace},
		{key: "GET /v1/nodes", read: true, handle: a.listNodes},
		{key: "GET /v1/workspace/history-settings", read: true, handle: a.historySettings},
		{key: "PUT /v1/workspace/history-settings", handle: a.putHistorySettings},
		{key: "GET /v1/sources", read: true, handle: a.listSources, query: []string{"limit", "cursor", "enabled", "nodeId"}},
		{key: "POST /v1/sources", audit: audit.SourceCreate, handle: a.createSource},
		{key: "GET /v1/sources/{id}", read: true, handle: a.getSource},
		{key: "PUT /v1/sources/{id}", audit: audit.SourceReplace, handle: a.replaceSource},
		{key: "DELETE /v1/sources/{id}", audit: audit.SourceDelete, handle: a.deleteSource},
		{key: "POST /v1/sources/{id}/enable", audit: audit.SourceEnable, handle: a.enableSource},
		{key: "POST /v1/sources/{id}/disable", audit: audit.SourceDisable, handle: a.disableSource},
		{key: "GET /v1/sources/{id}/field-options", read: true, handle: a.sourceFieldOptions},
		{key: "POST /v1/field-options", handle: a.draftFieldOptions},
		{key: "GET /v1/sources/{id}/subscription-systems", read: true, handle: a.sourceSubscriptionSystems},
		{key: "POST /v1/subscription-systems", handle: a.draftSubscriptionSystems},
		{key: "POST /v1/connection-tests", handle: a.connectionTest},
		{key: "POST /v1/sources/{id}/webhook-secret", audit: audit.SourceWebhookSecret, handle: a.rotateWebhookSecret},
		{key: "POST /v1/sources/{id}/resync", audit: audit.SourceResync, handle: a.resync},
		{key: "GET /v1/sources/{id}/status", read: true, handle: a.status},
		{key: "GET /v1/sources/{id}/failures", read: true, handle: a.failures, query: []string{"limit", "cursor", "q"}},
		{key: "POST /v1/sources/{id}/failures/{customerId}/retry", audit: audit.FailureRetry, handle: a.retryFailure},
		{key: "POST /v1/sources/{id}/failures/retry", audit: audit.FailureRetry, handle: a.retryFailures},
		{key: "GET /v1/sources/{id}/failures.csv", read: true, handle: a.failuresCSV, query: []string{"cursor"}},
		{key: "POST /v1/sources/{id}/preview", read: true, handle: a.preview},
		{key: "GET /v1/sources/{id}/alerts", read: true, handle: a.getAlerts},
		{key: "PUT /v1/sources/{id}/alerts", handle: a.putAlerts},
		{key: "POST /v1/sources/{id}/alerts/test", handle: a.testAlert},
		{key: "GET /v1/sources/{id}/runs", read: true, handle: a.sourceRuns, query: []string{"limit", "cursor"}},
		{key: "GET /v1/sources/{id}/customers", read: true, handle: a.findCustomers, query: []string{"email"}},
		{key: "GET /v1/sources/{id}/customers/{customerId}/history", read: true, handle: a.customerHistory, query: []string{"limit", "cursor"}},
		{key: "GET /v1/sources/{id}/customers/{customerId}/history.csv", read: true, handle: a.customerHistoryCSV, query: []string{"cursor"}},
		{key: "POST /v1/preview", handle: a.previewDraft},
		{key: "GET /v1/audit", read: true, handle: a.audit, query: []string{"limit", "cursor", "sourceId"}},
	}
}

// checkQuery refuses query parameters the route does not read: a
// misspelt filter (?enable=true) would otherwise be silently ignored and
// answer with more than was asked for.
func (rt *route) checkQuery(query map[string]string) source.Problems {
	var problems source.Problems
	for _, name := range slices.Sorted(maps.Keys(query)) {
		if !slices.Contains(rt.query, name) {
			msg := "unknown query parameter"
			if len(rt.query) > 0 {
				msg += "; this endpoint reads " + strings.Join(rt.query, ", ")
			}
			problems = append(problems, source.Problem{Path: loggablePath(name), Message: msg})
		}
	}
	return problems
}

// RouteKeys lists the API Gateway route keys this API serves, with whether
// each is public, so the deployment template can be checked against them.
func (a *API) RouteKeys() map[string]bool {
	keys := make(map[string]bool, len(a.routes))
	for _, rt := range a.routes {
		keys[rt.key] = rt.public
	}
	return keys
}

// match finds the route for an event: by its route key when API Gateway
// matched one of ours, else by method and path (behind a catch-all route or
// a local gateway). It returns the methods the path allows when only the
// method is wrong.
func (a *API) match(event *events.APIGatewayV2HTTPRequest) (*route, map[string]string, []string) {
	for i := range a.routes {
		if a.routes[i].key == event.RouteKey && event.RouteKey != "" {
			return &a.routes[i], event.PathParameters, nil
		}
	}
	method := event.RequestContext.HTTP.Method
	path := event.RawPath
	if path == "" {
		path = event.RequestContext.HTTP.Path
	}
	var allowed []string
	for i := range a.routes {
		rtMethod, pattern, _ := strings.Cut(a.routes[i].key, " ")
		params, ok := matchPath(pattern, path)
		if !ok {
			continue
		}
		if rtMethod == method {
			return &a.routes[i], params, nil
		}
		if !slices.Contains(allowed, rtMethod) {
			allowed = append(allowed, rtMethod)
		}
	}
	return nil, nil, allowed
}

// matchPath matches a path against a pattern with {name} segments and a
// final greedy {name+} segment, as API Gateway does.
func matchPath(pattern, path string) (map[string]string, bool) {
	want := strings.Split(strings.Trim(pattern, "/"), "/")
	got := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	if last := want[len(want)-1]; strings.HasPrefix(last, "{") && strings.HasSuffix(last, "+}") {
		if len(got) < len(want) || got[len(want)-1] == "" {
			return nil, false
		}
		params[last[1:len(last)-2]] = strings.Join(got[len(want)-1:], "/")
		want, got = want[:len(want)-1], got[:len(want)-1]
	}
	if len(want) != len(got) {
		return nil, false
	}
	for i, seg := range want {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if got[i] == "" {
				return nil, false
			}
			params[seg[1:len(seg)-1]] = got[i]
			continue
		}
		if seg != got[i] {
			return nil, false
		}
	}
	return params, true
}
