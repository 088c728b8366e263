package configapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
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
	src, _, resp := a.buildDraft(ctx, r, in)
	return src, resp
}

// buildDraft turns a decoded draft into a source holding what the lookups
// need, with the saved source it names (nil for none).
func (a *API) buildDraft(ctx context.Context, r *request, in draftInput) (source.Source, *source.Source, *events.APIGatewayV2HTTPResponse) {
	var keep *source.Source
	if in.SourceID != "" {
		saved, err := a.cfg.Store.Get(ctx, r.workspace, in.SourceID)
		if err != nil {
			resp := a.storeFailure(ctx, err)
			return source.Source{}, nil, &resp
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
		return source.Source{}, nil, &resp
	}
	return src, keep, nil
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
	// Sample is a value of the field from a customer of the node, so the
	// admin sees what the field holds; absent when none has one, or when
	// the field may hold a secret.
	Sample string `json:"sample,omitempty"`
}

// sampleCustomers is how many customers of the node the field options read
// for samples, in one call: a field empty in the first customer often has a
// value in another.
const sampleCustomers = 10

// maxSampleLen bounds a sample: it illustrates, it does not show a value
// in full.
const maxSampleLen = 80

// secretWords mark a field name that may hold a secret; such a field gets
// no sample, whatever its value.
var secretWords = []string{"password", "passwd", "secret", "token", "credential", "apikey", "api_key", "pin", "iban", "card"}

// mayShowSample says whether a field's value may be shown as a sample.
func mayShowSample(path string) bool {
	if source.UnmappableHubField(path) != "" {
		return false
	}
	name := strings.ToLower(path[strings.LastIndexByte(path, '.')+1:])
	return !slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(name, w) })
}

// sampleCustomersOf reads a few customers of the node to take samples
// from. Samples are a help, not part of the answer's contract: a failed
// read gives none.
func (a *API) sampleCustomersOf(ctx context.Context, hub Hub, node string) []contacthub.Customer {
	if node == "" || source.IDProblem(node) != "" {
		return nil
	}
	page, err := hub.Customers(ctx, contacthub.ListQuery{NodeID: node, Size: sampleCustomers})
	if err != nil {
		a.cfg.Logger.DebugContext(ctx, "no samples for the field options", "error", err)
		return nil
	}
	return page.Elements
}

// samples returns, per field path, the first value one of the customers
// holds.
func samples(customers []contacthub.Customer, fields []mapping.HubField) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		if !mayShowSample(f.Path) {
			continue
		}
		for _, c := range customers {
			if v, ok := sampleText(c, f.Path); ok {
				out[f.Path] = v
				break
			}
		}
	}
	return out
}

// sampleText is a customer's value of a field as text, if it has one.
func sampleText(c contacthub.Customer, path string) (string, bool) {
	v, found := c.Lookup(path)
	if !found || v == nil {
		return "", false
	}
	var text string
	switch v := v.(type) {
	case string:
		text = v
	case json.Number:
		text = v.String()
	case bool:
		text = strconv.FormatBool(v)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		text = string(data)
	}
	text = strings.TrimSpace(text)
	if text == "" || text == "[]" || text == "{}" || source.TextProblem(text) != "" {
		return "", false
	}
	if r := []rune(text); len(r) > maxSampleLen {
		text = string(r[:maxSampleLen-1]) + "…"
	}
	return text, true
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
	// The customers for the samples are read while the rest is.
	customers := make(chan []contacthub.Customer, 1)
	go func() { customers <- a.sampleCustomersOf(ctx, hub, src.Node()) }()
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
	all := hubFields(fields)
	sampled := samples(<-customers, all)
	for _, f := range all {
		if source.UnmappableHubField(f.Path) != "" {
			continue // offered nowhere: Check refuses it
		}
		options := mapping.Options(f.Type, send)
		if options == nil {
			options = []mapping.SendField{}
		}
		out.HubFields = append(out.HubFields, hubFieldJSON{HubField: f, Options: options, Sample: sampled[f.Path]})
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
