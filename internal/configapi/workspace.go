package configapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/source"
)

type workspaceJSON struct {
	ID         string          `json:"id"`
	Contacthub *contacthubJSON `json:"contacthub"`
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
	conn, err := a.cfg.Store.Connection(ctx, r.workspace)
	if errors.Is(err, configstore.ErrNotFound) {
		return jsonResponse(http.StatusOK, presentConnection(r.workspace, nil))
	}
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	return jsonResponse(http.StatusOK, presentConnection(r.workspace, &conn))
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
// may be omitted (or sent masked) to keep the stored one.
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
	}
	if strings.TrimSpace(hub.WorkspaceID) == "" || strings.ContainsAny(hub.WorkspaceID, "/?#") {
		problems = append(problems, source.Problem{Path: "contacthub.workspaceId", Message: "is required and must be a Contacthub workspace id"})
	}
	token := ""
	switch {
	case hub.Token != nil && !secret.IsMask(*hub.Token):
		token = strings.TrimSpace(*hub.Token)
	default:
		old, err := a.cfg.Store.Connection(ctx, r.workspace)
		if err == nil {
			token = old.ContacthubToken
		} else if !errors.Is(err, configstore.ErrNotFound) {
			return a.storeFailure(ctx, err)
		}
	}
	if token == "" {
		problems = append(problems, source.Problem{Path: "contacthub.token", Message: "is required: the token of a Contacthub source with read and write access"})
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "the workspace is not valid", problems...)
	}
	conn, err := a.cfg.Store.PutConnection(ctx, configstore.Connection{
		Workspace: r.workspace, ContacthubBaseURL: strings.TrimRight(hub.BaseURL, "/"),
		ContacthubWorkspaceID: hub.WorkspaceID, ContacthubToken: token,
	})
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	return jsonResponse(http.StatusOK, presentConnection(r.workspace, &conn))
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
