// Package configapi is hubsend's source configuration API: the handler behind
// API Gateway (HTTP API, payload format 2.0) that lets a workspace's admins
// create, read, change, enable, disable and delete Contactsend sources, look
// up the fields and subscription systems they can map, and test credentials.
// It enforces the source rules of package source with live lookups in
// Contacthub and Contactsend, and stores through package configstore.
package configapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/source"
)

// Store is where sources and workspace connections live.
type Store interface {
	Create(ctx context.Context, src source.Source) (source.Source, error)
	Get(ctx context.Context, workspace, id string) (source.Source, error)
	List(ctx context.Context, workspace string, opts configstore.ListOptions) (configstore.Page, error)
	Replace(ctx context.Context, updated source.Source, expected int64) (source.Source, error)
	SetEnabled(ctx context.Context, workspace, id string, enabled bool, expected int64) (source.Source, error)
	Delete(ctx context.Context, workspace, id string, expected int64) error
	Connection(ctx context.Context, workspace string) (configstore.Connection, error)
	ReplaceConnection(ctx context.Context, c configstore.Connection, prev *configstore.Connection) (configstore.Connection, error)
	RotateWebhookSecret(ctx context.Context, workspace, sourceID string) (string, error)
}

// Hub is what the API asks Contacthub.
type Hub interface {
	Node(ctx context.Context, id string) (contacthub.Node, error)
	CountCustomers(ctx context.Context, nodeID string) (int64, error)
	Fields(ctx context.Context) ([]contacthub.Field, error)
	Nodes(ctx context.Context) ([]contacthub.Node, error)
	Customers(ctx context.Context, q contacthub.ListQuery) (contacthub.CustomerPage, error)
	Updates(ctx context.Context, q contacthub.UpdatesQuery) (contacthub.Updates, error)
}

// Send is what the API asks Contactsend.
type Send interface {
	CheckCredentials(ctx context.Context, cred contactsend.Credentials) error
	SubscriberSource(ctx context.Context, cred contactsend.Credentials, userDBID int64) (contactsend.SubscriberSource, error)
	CountSubscribers(ctx context.Context, cred contactsend.Credentials, userDBID int64) (int64, error)
	Subscriptions(ctx context.Context, cred contactsend.Credentials, userDBID int64) ([]contactsend.Subscription, error)
}

// Intake is the scheduler's side of a source: backfills and feed progress.
type Intake interface {
	StartBackfill(ctx context.Context, sourceID string) error
	HasBackfilled(ctx context.Context, sourceID string) (bool, error)
	Status(ctx context.Context, sourceID string) (scheduler.Status, error)
}

// HubFactory opens Contacthub for a workspace's stored connection.
type HubFactory func(conn configstore.Connection) (Hub, error)

// Config wires an API.
type Config struct {
	Store Store
	Hub   HubFactory
	Send  Send
	// Intake starts backfills (resync, first enable) and reports intake
	// progress; nil leaves those endpoints unavailable.
	Intake Intake
	// Outcomes, Previewer and Jobs serve status, failed records, retries
	// and previews; nil leaves those endpoints unavailable.
	Outcomes  Outcomes
	Previewer Previewer
	Jobs      JobSender
	// History serves the consent trail and Runs the run history; nil
	// leaves them unavailable.
	History History
	Runs    Runs
	// Alerts keeps each source's alert settings and AlertSender sends the
	// test alert; nil leaves them unavailable.
	Alerts      AlertSettings
	AlertSender AlertSender
	// WorkspaceClaim is the JWT claim naming the caller's workspace
	// (default custom:workspace), RoleClaim the one naming their role
	// (default custom:role; a list claim gives its strongest role).
	WorkspaceClaim string
	RoleClaim      string
	// GroupClaim, when set, is a list claim (Cognito's cognito:groups)
	// whose hubsend:<workspace>:<role> groups give the workspace and role
	// instead.
	GroupClaim string
	// Audit records every change; nil records none.
	Audit AuditLog
	// SignIn is what the console needs to sign people in; its zero value
	// leaves the console asking for a token.
	SignIn SignIn
	Logger *slog.Logger
	// NewID makes source ids; nil means random 128-bit hex.
	NewID func() string
	// Console holds the web console's files (index.html at its root); nil
	// serves none.
	Console fs.FS
	// AllowInsecureHub lets a workspace connect to Contacthub over plain
	// http, which only a local stack with simulators needs.
	AllowInsecureHub bool
}

// API handles configuration requests.
type API struct {
	cfg    Config
	routes []route
	// parts bounds the answers that carry a source's failed records.
	parts partLimits
}

// partLimits bound what one answer carries of a source's failed records.
type partLimits struct {
	retryAll int // jobs a retry of all queues
	csvBytes int // bytes of a CSV part, about
	page     int // failed records read at a time
}

// New returns an API.
func New(cfg Config) *API {
	if cfg.WorkspaceClaim == "" {
		cfg.WorkspaceClaim = "custom:workspace"
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "custom:role"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	a := &API{cfg: cfg, parts: partLimits{retryAll: retryAllPerCall, csvBytes: csvPartBytes, page: ledger.MaxFailuresLimit}}
	a.routes = a.table()
	return a
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// request is one call as the handlers see it.
type request struct {
	event     *events.APIGatewayV2HTTPRequest
	workspace string
	role      Role
	actor     Actor
	params    map[string]string
	body      []byte
	// sourceID and changes are what a change handler tells the audit
	// record: the source it made, and what it changed.
	sourceID string
	changes  []audit.Change
}

func (r *request) header(name string) string {
	for k, v := range r.event.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (r *request) query(name string) string { return r.event.QueryStringParameters[name] }

// Handle serves one API Gateway request. It never returns an error: every
// failure is an HTTP answer, so API Gateway never turns one into a bare 500.
func (a *API) Handle(ctx context.Context, event events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	resp, routeKey, workspace := a.serve(ctx, &event)
	if routeKey != "GET /v1/openapi.json" {
		resp = localize((&request{event: &event}).header("Accept-Language"), resp)
	}
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	a.cfg.Logger.LogAttrs(ctx, level, "request",
		slog.String("route", routeKey),
		slog.String("path", loggablePath(event.RawPath)),
		slog.String("workspace", workspace),
		slog.Int("status", resp.StatusCode),
		slog.Duration("duration", time.Since(start)),
		slog.String("requestId", event.RequestContext.RequestID),
	)
	return resp, nil
}

func (a *API) serve(ctx context.Context, event *events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, routeKey, workspace string) {
	defer func() {
		if p := recover(); p != nil {
			a.cfg.Logger.ErrorContext(ctx, "handler panic", slog.Any("panic", p))
			resp = problem(http.StatusInternalServerError, "internal error")
		}
	}()
	rt, params, allowed := a.match(event)
	if rt == nil {
		if len(allowed) > 0 {
			resp = problem(http.StatusMethodNotAllowed, "method "+event.RequestContext.HTTP.Method+" not allowed here")
			resp.Headers["Allow"] = strings.Join(allowed, ", ")
			return resp, "", ""
		}
		return problem(http.StatusNotFound, "no such endpoint"), "", ""
	}
	req := &request{event: event, params: params}
	if !rt.public {
		id := a.identityOf(event)
		if id.refusal != "" {
			return problem(http.StatusForbidden, id.refusal), rt.key, ""
		}
		req.workspace, req.role, req.actor = id.workspace, id.role, id.actor
		if req.workspace == "" {
			return problem(http.StatusUnauthorized, "the request carries no workspace; sign in with a token of your workspace"), rt.key, ""
		}
		need := RoleAdmin
		if rt.read {
			need = RoleViewer
		}
		if !req.role.Allows(need) {
			msg := "your role cannot do this; ask an admin of the workspace"
			if req.role == "" {
				msg = "your token names no hubsend role (admin or viewer); ask an admin of the workspace to give you one"
			}
			return problem(http.StatusForbidden, msg), rt.key, req.workspace
		}
		if problems := rt.checkQuery(event.QueryStringParameters); len(problems) > 0 {
			return problem(http.StatusBadRequest, "invalid query", problems...), rt.key, req.workspace
		}
	}
	if !validParams(params) {
		// An id hubsend could never have made names nothing: the same
		// answer as a missing one, before any lookup or log line echoes it.
		return problem(http.StatusNotFound, "not found: no such source or customer"), rt.key, req.workspace
	}
	body, errResp := readBody(event)
	if errResp != nil {
		return *errResp, rt.key, req.workspace
	}
	req.body = body
	resp = rt.handle(ctx, req)
	a.recordChange(ctx, req, rt.audit, resp)
	return resp, rt.key, req.workspace
}

// validParams reports whether every path parameter could be one hubsend
// made or stores: source ids are what NewID makes (hex, or the safe
// alphabet the webhook intake accepts), customer ids are Contacthub's
// (printable, at most 256 characters).
func validParams(params map[string]string) bool {
	for name, v := range params {
		switch name {
		case "id":
			if !validSourceID(v) {
				return false
			}
		case "customerId":
			if v == "" || source.IDProblem(v) != "" {
				return false
			}
		}
	}
	return true
}

// validSourceID reports whether id could name a source: 1 to 128 letters,
// digits, '-' or '_', as the webhook intake checks it.
func validSourceID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// maxLoggedPath bounds the path a log line carries: a hostile path is
// evidence enough in its first characters, and whole it only fills logs.
const maxLoggedPath = 256

func loggablePath(path string) string {
	if len(path) <= maxLoggedPath {
		return path
	}
	cut := maxLoggedPath
	for cut > 0 && !utf8.RuneStart(path[cut]) {
		cut--
	}
	return path[:cut] + "…(" + strconv.Itoa(len(path)) + " bytes)"
}
