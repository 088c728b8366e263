package configapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/publicnet"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/source"
)

type workspaceJSON struct {
	ID         string          `json:"id"`
	Contacthub *contacthubJSON `json:"contacthub"`
	// Caller is who asks (GET only), so the console offers what their role
	// allows.
	Caller *callerJSON `json:"caller,omitempty"`
}

type callerJSON struct {
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
	Role    Role   `json:"role"`
}

type contacthubJSON struct {
	BaseURL     string     `json:"baseUrl"`
	WorkspaceID string     `json:"workspaceId"`
	Token       string     `json:"token"`
	UpdatedAt   *time.Time `json:"updatedAt,omitempty"`
}

func presentConnection(workspace string, c *configstore.Connection) workspaceJSON {
	out := workspaceJSON{ID: workspace}
	if c != nil {
		updated := c.UpdatedAt
		out.Contacthub = &contacthubJSON{
			BaseURL: c.ContacthubBaseURL, WorkspaceID: c.ContacthubWorkspaceID,
			Token: secret.Mask(c.ContacthubToken), UpdatedAt: &updated,
		}
	}
	return out
}

func (a *API) getWorkspace(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	caller := &callerJSON{Subject: r.actor.Subject, Email: r.actor.Email, Role: r.role}
	conn, err := a.cfg.Store.Connection(ctx, r.workspace)
	if errors.Is(err, configstore.ErrNotFound) {
		out := presentConnection(r.workspace, nil)
		out.Caller = caller
		return jsonResponse(http.StatusOK, out)
	}
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	out := presentConnection(r.workspace, &conn)
	out.Caller = caller
	resp := jsonResponse(http.StatusOK, out)
	resp.Headers["ETag"] = connectionETag(conn)
	return resp
}

type workspaceInput struct {
	ID         *string `json:"id"`
	Contacthub *struct {
		BaseURL     string  `json:"baseUrl"`
		WorkspaceID string  `json:"workspaceId"`
		Token       *string `json:"token"`
		UpdatedAt   *string `json:"updatedAt"`
	} `json:"contacthub"`
}

// putWorkspace sets how hubsend reaches the workspace's Contacthub. The token
// may be omitted (or sent masked) to keep the stored one, but only while the
// address and the Contacthub workspace stay the same.
func (a *API) putWorkspace(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	var in workspaceInput
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	var problems source.Problems
	if in.ID != nil && *in.ID != r.workspace {
		problems = append(problems, source.Problem{Path: "id", Message: "is not your workspace"})
	}
	if in.Contacthub == nil {
		problems = append(problems, source.Problem{Path: "contacthub", Message: "is required"})
		return problem(http.StatusUnprocessableEntity, "the workspace is not valid", problems...)
	}
	hub := in.Contacthub
	u, err := url.Parse(hub.BaseURL)
	switch {
	case hub.BaseURL == "":
		problems = append(problems, source.Problem{Path: "contacthub.baseUrl", Message: "is required, e.g. https://api.contactlab.it/hub/v1"})
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		problems = append(problems, source.Problem{Path: "contacthub.baseUrl", Message: "must be an absolute https URL"})
	case u.Scheme == "http" && !a.cfg.AllowInsecureHub:
		problems = append(problems, source.Problem{Path: "contacthub.baseUrl", Message: "must use https: the token travels with every call"})
	case u.User != nil:
		// GET /v1/workspace shows the address unmasked.
		problems = append(problems, source.Problem{Path: "contacthub.baseUrl", Message: "must not carry credentials; send the token in contacthub.token"})
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		problems = append(problems, source.Problem{Path: "contacthub.baseUrl", Message: "must be a base URL without a query or fragment, e.g. https://api.contactlab.it/hub/v1"})
	case !a.cfg.AllowInsecureHub && internalHost(u.Hostname()):
		problems = append(problems, source.Problem{Path: "contacthub.baseUrl", Message: "must be a public address: hubsend does not call hosts of its own network"})
	}
	if strings.TrimSpace(hub.WorkspaceID) != hub.WorkspaceID || hub.WorkspaceID == "" || len(hub.WorkspaceID) > source.MaxIDLength || strings.ContainsAny(hub.WorkspaceID, "/?#%\\") {
		problems = append(problems, source.Problem{Path: "contacthub.workspaceId", Message: "is required and must be a Contacthub workspace id"})
	}
	for _, f := range []struct{ path, value string }{{"contacthub.baseUrl", hub.BaseURL}, {"contacthub.workspaceId", hub.WorkspaceID}} {
		if why := source.TextProblem(f.value); why != "" {
			problems = append(problems, source.Problem{Path: f.path, Message: why})
		}
	}
	baseURL := strings.TrimRight(hub.BaseURL, "/")
	old, err := a.cfg.Store.Connection(ctx, r.workspace)
	connected := err == nil
	if err != nil && !errors.Is(err, configstore.ErrNotFound) {
		return a.storeFailure(ctx, err)
	}
	cond, refused := r.ifMatch()
	if refused != nil {
		return *refused
	}
	if cond.given && (!connected || !cond.any && !cond.matches(old.UpdatedAt.UnixNano())) {
		return connectionChanged()
	}
	// When the address is wrong anyway no token goes anywhere, and asking
	// for it again would only add noise.
	addressOK := !slices.ContainsFunc(problems, func(p source.Problem) bool { return strings.HasPrefix(p.Path, "contacthub.") })
	token := ""
	switch {
	case hub.Token != nil && !secret.IsMask(*hub.Token):
		token = *hub.Token
		switch {
		case strings.TrimSpace(token) != token:
			problems = append(problems, source.Problem{Path: "contacthub.token", Message: "must not begin or end with spaces or line breaks: paste the token exactly"})
		case len(token) > source.MaxKeyLength:
			problems = append(problems, source.Problem{Path: "contacthub.token", Message: "is longer than " + strconv.Itoa(source.MaxKeyLength) + " characters"})
		case source.TextProblem(token) != "":
			problems = append(problems, source.Problem{Path: "contacthub.token", Message: source.TextProblem(token)})
		}
	case !addressOK:
	case connected && (old.ContacthubBaseURL != baseURL || old.ContacthubWorkspaceID != hub.WorkspaceID):
		// The stored token only ever goes where it was set: otherwise anyone
		// allowed to change the address could have it sent to their host.
		problems = append(problems, source.Problem{Path: "contacthub.token", Message: "send the token again: the Contacthub address or workspace changed, and the stored token is only sent where it was set"})
	case connected:
		token = old.ContacthubToken
	}
	if token == "" && addressOK && !slices.ContainsFunc(problems, func(p source.Problem) bool { return p.Path == "contacthub.token" }) {
		problems = append(problems, source.Problem{Path: "contacthub.token", Message: "is required: the token of a Contacthub source with read and write access"})
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "the workspace is not valid", firstPerPath(problems)...)
	}
	if connected && old.ContacthubWorkspaceID != hub.WorkspaceID {
		// Sources name nodes of the Contacthub workspace they were made in,
		// and hold those nodes in that workspace's name.
		page, err := a.cfg.Store.List(ctx, r.workspace, configstore.ListOptions{Limit: 1})
		if err != nil {
			return a.storeFailure(ctx, err)
		}
		if len(page.Sources) > 0 || page.Next != "" {
			return problem(http.StatusConflict, "this workspace has sources on nodes of Contacthub workspace "+old.ContacthubWorkspaceID+"; delete them before connecting another Contacthub workspace",
				source.Problem{Path: "contacthub.workspaceId", Message: "cannot change while the workspace has sources"})
		}
	}
	// Written over the connection read above only: the token kept, and
	// the checks made, were decided on it.
	var prev *configstore.Connection
	if connected {
		prev = &old
	}
	conn, err := a.cfg.Store.ReplaceConnection(ctx, configstore.Connection{
		Workspace: r.workspace, ContacthubBaseURL: baseURL,
		ContacthubWorkspaceID: hub.WorkspaceID, ContacthubToken: token,
	}, prev)
	if errors.Is(err, configstore.ErrVersionMismatch) {
		return connectionChanged()
	}
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	var before any
	if connected {
		before = presentConnection(r.workspace, &old)
	}
	r.changes = diff(before, presentConnection(r.workspace, &conn), map[string]bool{"contacthub.token": !connected || old.ContacthubToken != conn.ContacthubToken})
	resp := jsonResponse(http.StatusOK, presentConnection(r.workspace, &conn))
	resp.Headers["ETag"] = connectionETag(conn)
	return resp
}

// connectionETag names a stored connection's version: when it was written.
func connectionETag(c configstore.Connection) string { return etag(c.UpdatedAt.UnixNano()) }

func connectionChanged() events.APIGatewayV2HTTPResponse {
	return problem(http.StatusPreconditionFailed, "the workspace connection changed since you read it; read it again and reapply your change")
}

// internalHost reports whether host names this machine or a private
// network by itself (localhost, or an IP literal publicnet does not call
// public), which only a local stack may call. A name that resolves there
// passes; the function's HTTP clients refuse it when they connect.
func internalHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && !publicnet.Addr(ip)
}

type nodeJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Kind        string   `json:"kind"`
	EntryNodes  []string `json:"entryNodes,omitempty"`
	// SourceID names the source of this workspace already serving the node.
	SourceID string `json:"sourceId,omitempty"`
}

// listNodes lists the workspace's Contacthub entry and aggregate nodes, the
// choices for a source's active node, with the source already serving each.
func (a *API) listNodes(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	hub, err := a.hubFor(ctx, r.workspace)
	if err != nil {
		return respond(err)
	}
	nodes, err := hub.Nodes(ctx)
	if err != nil {
		return respond(hubFailure("listing the workspace's nodes", err))
	}
	served := map[string]string{}
	for cursor := ""; ; {
		page, err := a.cfg.Store.List(ctx, r.workspace, configstore.ListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			return a.storeFailure(ctx, err)
		}
		for _, src := range page.Sources {
			served[src.Node()] = src.ID
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	out := struct {
		Elements []nodeJSON `json:"elements"`
	}{Elements: []nodeJSON{}}
	for _, n := range nodes {
		kind := "ENTRY"
		if n.Kind == contacthub.AggregateNode {
			kind = "AGGREGATE"
		}
		out.Elements = append(out.Elements, nodeJSON{ID: n.ID, Name: n.Name, Description: n.Description, Kind: kind, EntryNodes: n.EntryNodeIDs, SourceID: served[n.ID]})
	}
	return jsonResponse(http.StatusOK, out)
}
