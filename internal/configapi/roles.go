package configapi

import (
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/source"
)

// Role is what a signed-in person may do in their workspace.
type Role string

const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleViewer reads sources, the workspace connection (masked), status,
	// failed records, previews and the audit trail, and changes nothing.
	RoleViewer Role = "viewer"
)

// rank orders roles; a token naming several gets the strongest.
func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Allows reports whether the role may call a route that needs need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// Actor is who made a request, as the token names them.
type Actor struct {
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
}

// identity is what a request's token says about its caller.
type identity struct {
	workspace string
	role      Role
	actor     Actor
	// refusal, when set, says why the token names no usable identity.
	refusal string
}

// GroupPrefix starts the name of an identity-provider group that grants a
// role in a workspace: hubsend:<workspace>:<role> (Cognito puts a user's
// groups in cognito:groups).
const GroupPrefix = "hubsend:"

// identityOf reads the caller's workspace, role and name from the claims
// API Gateway's JWT authorizer passed on.
func (a *API) identityOf(event *events.APIGatewayV2HTTPRequest) identity {
	if event.RequestContext.Authorizer == nil || event.RequestContext.Authorizer.JWT == nil {
		return identity{}
	}
	claims := event.RequestContext.Authorizer.JWT.Claims
	id := identity{actor: Actor{Subject: claims["sub"], Email: claims["email"]}}
	if id.actor.Email == "" {
		id.actor.Email = claims["username"]
	}
	if a.cfg.GroupClaim != "" {
		workspaces := map[string]bool{}
		for _, group := range claimValues(claims[a.cfg.GroupClaim]) {
			rest, ok := strings.CutPrefix(group, GroupPrefix)
			if !ok {
				continue
			}
			i := strings.LastIndex(rest, ":")
			if i <= 0 {
				continue
			}
			workspace, role := rest[:i], Role(rest[i+1:])
			workspaces[workspace] = true
			id.workspace = workspace
			if role.rank() > id.role.rank() {
				id.role = role
			}
		}
		if len(workspaces) > 1 {
			return identity{actor: id.actor, refusal: "your account is in groups of several workspaces; an administrator must leave you in one"}
		}
	}
	if id.workspace == "" {
		id.workspace = claims[a.cfg.WorkspaceClaim]
		for _, role := range claimValues(claims[a.cfg.RoleClaim]) {
			if r := Role(role); r.rank() > id.role.rank() {
				id.role = r
			}
		}
	}
	// The claim names keys of the table: one that could be no workspace id
	// is no workspace, rather than a key that collides with another.
	w := id.workspace
	if len(w) > 128 || source.TextProblem(w) != "" || strings.TrimSpace(w) != w || strings.Contains(w, "#") {
		id.workspace = ""
	}
	return id
}

// claimValues splits a claim as API Gateway passes it: a list claim comes
// as "[a b c]", anything else is one value.
func claimValues(claim string) []string {
	if inner, ok := strings.CutPrefix(claim, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			return strings.Fields(inner)
		}
	}
	if claim == "" {
		return nil
	}
	return []string{claim}
}
