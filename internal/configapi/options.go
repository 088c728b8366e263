package configapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/source"
)

// draftInput names a userdb by credentials, before or without a saved source.
// A saved source's id may stand in for omitted or masked keys.
type draftInput struct {
	SourceID   string          `json:"sourceId"`
	Nodes      []string        `json:"nodes"`
	Properties propertiesInput `json:"properties"`
}

// draftSource turns a draft into a source holding what the lookups need.
func (a *API) draftSource(ctx context.Context, r *request) (source.Source, *events.APIGatewayV2HTTPResponse) {
	var in draftInput
	if resp := decodeJSON(r, &in); resp != nil {
		return source.Source{}, resp
	}
	var keep *source.Source
	if in.SourceID != "" {
		saved, err := a.cfg.Store.Get(ctx, r.workspace, in.SourceID)
		if err != nil {
			resp := a.storeFailure(ctx, err)
			return source.Source{}, &resp
		}
		keep = &saved
	}
	src, problems := sourceInput{Nodes: in.Nodes, Properties: &in.Properties}.toSource(keep)
	if keep != nil && src.Properties.UserDBID == 0 {
		src.Properties.UserDBID = keep.Properties.UserDBID
	}
	if keep != nil && len(src.Nodes) == 0 {
		src.Nodes = keep.Nodes
	}
	for _, p := range source.Check(src) {
		switch {
		case p.Path == "properties.userKey", p.Path == "properties.apiKey", p.Path == "properties.userDbId":
			problems = append(problems, p)
		case strings.HasPrefix(p.Path, "nodes[") && len(in.Nodes) > 0:
			// A node the draft names is looked up in Contacthub as given.
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		resp := problem(http.StatusUnprocessableEntity, "cannot look up the userdb", problems...)
		return source.Source{}, &resp
	}
	return src, nil
}

type fieldOptionsJSON struct {
	UserDB     userDBJSON          `json:"userDb"`
	HubFields  []hubFieldJSON      `json:"hubFields"`
	SendFields []mapping.SendField `json:"sendFields"`
}

type userDBJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type hubFieldJSON struct {
	mapping.HubField
	Options []mapping.SendField `json:"options"`
}

func (a *API) sourceFieldOptions(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	return a.fieldOptions(ctx, r.workspace, src)
}

func (a *API) draftFieldOptions(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, resp := a.draftSource(ctx, r)
	if resp != nil {
		return *resp
	}
	return a.fieldOptions(ctx, r.workspace, src)
}

// fieldOptions is "show fields to map": every Contacthub field with the
// userdb's fields that can receive it.
func (a *API) fieldOptions(ctx context.Context, workspace string, src source.Source) events.APIGatewayV2HTTPResponse {
	hub, err := a.hubFor(ctx, workspace)
	if err != nil {
		return respond(err)
	}
	fields, err := hub.Fields(ctx)
	if err != nil {
		return respond(hubFailure("listing the workspace's customer fields", err))
	}
	db, problems, err := a.lookupUserDB(ctx, src)
	if err != nil {
		return respond(err)
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "cannot read the userdb", problems...)
	}
	send := db.source.MappingFields()
	out := fieldOptionsJSON{
		UserDB:     userDBJSON{ID: db.source.ID, Name: db.source.Name},
		HubFields:  []hubFieldJSON{},
		SendFields: []mapping.SendField{},
	}
	for _, f := range send {
		if !mapping.RegistrationField(f.Name) {
			out.SendFields = append(out.SendFields, f)
		}
	}
	for _, f := range hubFields(fields) {
		if source.UnmappableHubField(f.Path) != "" {
			continue // offered nowhere: Check refuses it
		}
		options := mapping.Options(f.Type, send)
		if options == nil {
			options = []mapping.SendField{}
		}
		out.HubFields = append(out.HubFields, hubFieldJSON{HubField: f, Options: options})
	}
	return jsonResponse(http.StatusOK, out)
}

type subscriptionSystemsJSON struct {
	Elements []source.SendSubscriptionSystem `json:"elements"`
}

func (a *API) sourceSubscriptionSystems(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	return a.subscriptionSystems(ctx, src)
}

func (a *API) draftSubscriptionSystems(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, resp := a.draftSource(ctx, r)
	if resp != nil {
		return *resp
	}
	return a.subscriptionSystems(ctx, src)
}

func (a *API) subscriptionSystems(ctx context.Context, src source.Source) events.APIGatewayV2HTTPResponse {
	db, problems, err := a.lookupUserDB(ctx, src)
	if err != nil {
		return respond(err)
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "cannot read the userdb", problems...)
	}
	return jsonResponse(http.StatusOK, subscriptionSystemsJSON{Elements: subscriptionSystems(db.subscriptions)})
}

// check is one step of a connection test.
type check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

type connectionTestJSON struct {
	OK     bool    `json:"ok"`
	Checks []check `json:"checks"`
}

// connectionTest tells which part of a source's connection works: the
// workspace's Contacthub connection and node, the Contactsend keys, the userdb.
// Failing checks are the answer, not an error, so it is 200 either way.
func (a *API) connectionTest(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, resp := a.draftSource(ctx, r)
	if resp != nil {
		return *resp
	}
	out := connectionTestJSON{OK: true}
	add := func(c check) {
		out.Checks = append(out.Checks, c)
		out.OK = out.OK && c.OK
	}
	add(a.checkHub(ctx, r.workspace, src))
	cred := credentials(src)
	switch err := a.cfg.Send.CheckCredentials(ctx, cred); {
	case err == nil:
		add(check{Name: "credentials", OK: true, Message: "Contactsend accepted the apiKey and userKey"})
	case errors.Is(err, contactsend.ErrBadCredentials):
		add(check{Name: "credentials", Message: "Contactsend refused the apiKey and userKey (or this address is not allowed to use them)"})
	default:
		add(check{Name: "credentials", Message: "could not reach Contactsend: " + err.Error()})
	}
	if !out.Checks[len(out.Checks)-1].OK {
		add(check{Name: "userdb", Message: "not checked: the credentials did not work"})
		return jsonResponse(http.StatusOK, out)
	}
	id := strconv.FormatInt(src.Properties.UserDBID, 10)
	switch ss, err := a.cfg.Send.SubscriberSource(ctx, cred, src.Properties.UserDBID); {
	case err == nil:
		add(check{Name: "userdb", OK: true, Message: "userdb " + id + " (" + ss.Name + ") is readable"})
	case errors.Is(err, contactsend.ErrUnknownUserDB):
		add(check{Name: "userdb", Message: "userdb " + id + " does not exist for these credentials"})
	default:
		add(check{Name: "userdb", Message: "could not read userdb " + id + ": " + err.Error()})
	}
	return jsonResponse(http.StatusOK, out)
}

func (a *API) checkHub(ctx context.Context, workspace string, src source.Source) check {
	hub, err := a.hubFor(ctx, workspace)
	if err != nil {
		return check{Name: "contacthub", Message: err.Error()}
	}
	if len(src.Nodes) == 0 {
		if _, err := hub.Fields(ctx); err != nil {
			return check{Name: "contacthub", Message: hubFailure("reading the workspace", err).Error()}
		}
		return check{Name: "contacthub", OK: true, Message: "the workspace's Contacthub connection works"}
	}
	node, err := hub.Node(ctx, src.Nodes[0])
	switch {
	case errors.Is(err, contacthub.ErrNotFound):
		return check{Name: "contacthub", Message: "node " + src.Nodes[0] + " not found in the workspace"}
	case err != nil:
		return check{Name: "contacthub", Message: hubFailure("looking up node "+src.Nodes[0], err).Error()}
	}
	return check{Name: "contacthub", OK: true, Message: "node " + node.ID + " (" + node.Name + ") is reachable"}
}
