package samtemplate

import (
	"fmt"
	"sort"
	"time"
)

// Function is an AWS::Serverless::Function with Globals.Function applied.
type Function struct {
	LogicalID string
	// Dir is the Go package directory the function builds from, relative to
	// the module root ("functions/configapi" for ConfigApiFunction).
	Dir           string
	CodeURI       string
	Handler       string
	Runtime       string
	Architectures []string
	MemorySize    int
	Timeout       time.Duration
	Tracing       string
	// Environment holds the variables, global ones included; values are
	// strings or [Intrinsic]s.
	Environment map[string]any
	Events      map[string]Event
	// Policies is the raw Policies list: managed policy names, SAM policy
	// templates or inline policy documents.
	Policies    []any
	BuildMethod string
	// Properties are the merged raw properties.
	Properties map[string]any
}

// Event is one entry of a function's Events.
type Event struct {
	Name       string
	Type       string
	Properties map[string]any
}

// Statement is one statement of an inline policy document.
type Statement struct {
	Effect    string
	Actions   []string
	Resources []any // strings or Intrinsics
	// Condition is the statement's condition block, nil when it has none.
	Condition map[string]any
}

func newFunction(r Resource, globals map[string]any) (Function, error) {
	merged, _ := mergeGlobals(globals, r.Properties).(map[string]any)
	if merged == nil {
		merged = map[string]any{}
	}
	f := Function{LogicalID: r.LogicalID, Dir: functionDir(r.LogicalID), Properties: merged, Events: map[string]Event{}}
	var err error
	if f.CodeURI, err = asString(merged["CodeUri"], "CodeUri"); err != nil {
		return f, err
	}
	if f.Handler, err = asString(merged["Handler"], "Handler"); err != nil {
		return f, err
	}
	if f.Runtime, err = asString(merged["Runtime"], "Runtime"); err != nil {
		return f, err
	}
	if f.Tracing, err = asString(merged["Tracing"], "Tracing"); err != nil {
		return f, err
	}
	if f.Architectures, err = asStrings(merged["Architectures"], "Architectures"); err != nil {
		return f, err
	}
	if f.MemorySize, err = asInt(merged["MemorySize"], "MemorySize"); err != nil {
		return f, err
	}
	seconds, err := asInt(merged["Timeout"], "Timeout")
	if err != nil {
		return f, err
	}
	f.Timeout = time.Duration(seconds) * time.Second
	if f.BuildMethod, err = asString(r.Metadata["BuildMethod"], "Metadata.BuildMethod"); err != nil {
		return f, err
	}

	env, err := asMap(merged["Environment"], "Environment")
	if err != nil {
		return f, err
	}
	if f.Environment, err = asMap(env["Variables"], "Environment.Variables"); err != nil {
		return f, err
	}
	if f.Environment == nil {
		f.Environment = map[string]any{}
	}

	if f.Policies, err = asList(merged["Policies"], "Policies"); err != nil {
		// A single policy may be given without a list.
		f.Policies = []any{merged["Policies"]}
	}

	events, err := asMap(merged["Events"], "Events")
	if err != nil {
		return f, err
	}
	for name, v := range events {
		e, err := asMap(v, "Events."+name)
		if err != nil {
			return f, err
		}
		ev := Event{Name: name}
		if ev.Type, err = asString(e["Type"], "Events."+name+".Type"); err != nil {
			return f, err
		}
		if ev.Properties, err = asMap(e["Properties"], "Events."+name+".Properties"); err != nil {
			return f, err
		}
		if ev.Properties == nil {
			ev.Properties = map[string]any{}
		}
		f.Events[name] = ev
	}
	if _, err := f.statements(); err != nil {
		return f, err
	}
	return f, nil
}

// EventNames returns the names of the function's events, sorted.
func (f Function) EventNames() []string { return sortedKeys(f.Events) }

// Statements flattens the inline policy documents in Policies. Managed
// policies and SAM policy templates are not statements and are skipped.
func (f Function) Statements() []Statement {
	s, _ := f.statements() // validated by newFunction
	return s
}

func (f Function) statements() ([]Statement, error) {
	var out []Statement
	for i, p := range f.Policies {
		doc, ok := p.(map[string]any)
		if !ok {
			continue
		}
		raw, ok := doc["Statement"]
		if !ok {
			continue // a SAM policy template such as SQSSendMessagePolicy
		}
		list, err := asList(raw, fmt.Sprintf("Policies[%d].Statement", i))
		if err != nil {
			// A single statement may be given without a list.
			list = []any{raw}
		}
		for j, v := range list {
			what := fmt.Sprintf("Policies[%d].Statement[%d]", i, j)
			st, err := asMap(v, what)
			if err != nil {
				return nil, err
			}
			var s Statement
			if s.Effect, err = asString(st["Effect"], what+".Effect"); err != nil {
				return nil, err
			}
			if s.Actions, err = asStrings(st["Action"], what+".Action"); err != nil {
				return nil, err
			}
			if res, ok := st["Resource"].([]any); ok {
				s.Resources = res
			} else if st["Resource"] != nil {
				s.Resources = []any{st["Resource"]}
			}
			if s.Condition, err = asMap(st["Condition"], what+".Condition"); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Allowed reports whether an Allow statement grants action on resource
// (compared structurally, so pass Intrinsics such as GetAtt("Table", "Arn")).
func (f Function) Allowed(action string, resource any) bool {
	for _, s := range f.Statements() {
		if s.Effect != "Allow" || !contains(s.Actions, action) {
			continue
		}
		for _, r := range s.Resources {
			if equal(r, resource) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// equal compares decoded template values; Intrinsic holds slices, so == would panic.
func equal(a, b any) bool {
	switch av := a.(type) {
	case Intrinsic:
		bv, ok := b.(Intrinsic)
		return ok && av.Name == bv.Name && equal(av.Arg, bv.Arg)
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equal(av[i], bv[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, v := range av {
			if w, ok := bv[k]; !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	switch b.(type) {
	case Intrinsic, []any, map[string]any:
		return false
	}
	return a == b
}

// Equal reports whether two decoded template values are structurally equal.
func Equal(a, b any) bool { return equal(a, b) }

// Route is an HttpApi event: one method and path served by a function.
type Route struct {
	FunctionID string
	Event      string
	API        string // logical id of the HttpApi
	Method     string
	Path       string
	// Authorizer is the authorizer that guards the route, the API's default
	// when the event names none; AuthorizerNone for a public route.
	Authorizer string
	// Scopes are the route's AuthorizationScopes: a token must carry at
	// least one of them.
	Scopes []string
}

// AuthorizerNone marks a public route.
const AuthorizerNone = "NONE"

// Public reports whether the route needs no authorizer.
func (r Route) Public() bool { return r.Authorizer == "" || r.Authorizer == AuthorizerNone }

// Routes returns every HttpApi event of every function, sorted by path then
// method.
func (t *Template) Routes() ([]Route, error) {
	var out []Route
	for _, fid := range t.FunctionIDs() {
		f := t.Functions[fid]
		for _, name := range f.EventNames() {
			e := f.Events[name]
			if e.Type != "HttpApi" {
				continue
			}
			what := fid + ".Events." + name
			r := Route{FunctionID: fid, Event: name}
			var err error
			if r.Method, err = asString(e.Properties["Method"], what+".Method"); err != nil {
				return nil, err
			}
			if r.Path, err = asString(e.Properties["Path"], what+".Path"); err != nil {
				return nil, err
			}
			if api, ok := RefTarget(e.Properties["ApiId"]); ok {
				r.API = api
			}
			auth, err := asMap(e.Properties["Auth"], what+".Auth")
			if err != nil {
				return nil, err
			}
			if r.Authorizer, err = asString(auth["Authorizer"], what+".Auth.Authorizer"); err != nil {
				return nil, err
			}
			if r.Authorizer == "" {
				r.Authorizer = t.HTTPAPIs[r.API].DefaultAuthorizer
			}
			if scopes, ok := auth["AuthorizationScopes"].([]any); ok {
				for i, scope := range scopes {
					s, err := asString(scope, fmt.Sprintf("%s.Auth.AuthorizationScopes[%d]", what, i))
					if err != nil {
						return nil, err
					}
					r.Scopes = append(r.Scopes, s)
				}
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out, nil
}

// QueueSubscription is an SQS event: a function consuming a queue.
type QueueSubscription struct {
	FunctionID              string
	Event                   string
	Queue                   string // logical id of the queue
	BatchSize               int
	MaximumBatchingWindow   time.Duration
	ReportBatchItemFailures bool
	MaximumConcurrency      int
}

// QueueSubscriptions returns every SQS event of every function.
func (t *Template) QueueSubscriptions() ([]QueueSubscription, error) {
	var out []QueueSubscription
	for _, fid := range t.FunctionIDs() {
		f := t.Functions[fid]
		for _, name := range f.EventNames() {
			e := f.Events[name]
			if e.Type != "SQS" {
				continue
			}
			what := fid + ".Events." + name
			s := QueueSubscription{FunctionID: fid, Event: name}
			id, _, ok := GetAttTarget(e.Properties["Queue"])
			if !ok {
				return nil, fmt.Errorf("%s.Queue: want !GetAtt <queue>.Arn, got %v", what, e.Properties["Queue"])
			}
			s.Queue = id
			var err error
			if s.BatchSize, err = asInt(e.Properties["BatchSize"], what+".BatchSize"); err != nil {
				return nil, err
			}
			window, err := asInt(e.Properties["MaximumBatchingWindowInSeconds"], what+".MaximumBatchingWindowInSeconds")
			if err != nil {
				return nil, err
			}
			s.MaximumBatchingWindow = time.Duration(window) * time.Second
			types, err := asStrings(e.Properties["FunctionResponseTypes"], what+".FunctionResponseTypes")
			if err != nil {
				return nil, err
			}
			s.ReportBatchItemFailures = contains(types, "ReportBatchItemFailures")
			scaling, err := asMap(e.Properties["ScalingConfig"], what+".ScalingConfig")
			if err != nil {
				return nil, err
			}
			if s.MaximumConcurrency, err = asInt(scaling["MaximumConcurrency"], what+".ScalingConfig.MaximumConcurrency"); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Schedule is a Schedule (EventBridge rule) event.
type Schedule struct {
	FunctionID string
	Event      string
	Expression string // "rate(1 minute)" or "cron(...)"
	Enabled    bool
}

// Schedules returns every Schedule event of every function.
func (t *Template) Schedules() ([]Schedule, error) {
	var out []Schedule
	for _, fid := range t.FunctionIDs() {
		f := t.Functions[fid]
		for _, name := range f.EventNames() {
			e := f.Events[name]
			if e.Type != "Schedule" {
				continue
			}
			what := fid + ".Events." + name
			s := Schedule{FunctionID: fid, Event: name, Enabled: true}
			var err error
			if s.Expression, err = asString(e.Properties["Schedule"], what+".Schedule"); err != nil {
				return nil, err
			}
			if v, ok := e.Properties["Enabled"]; ok {
				if s.Enabled, err = asBool(v, what+".Enabled"); err != nil {
					return nil, err
				}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// RatePeriod returns the period of a "rate(N unit)" expression.
func (s Schedule) RatePeriod() (time.Duration, error) {
	var n int
	var unit string
	if _, err := fmt.Sscanf(s.Expression, "rate(%d %s", &n, &unit); err != nil {
		return 0, fmt.Errorf("schedule %q is not a rate expression: %w", s.Expression, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("schedule %q: rate must be positive", s.Expression)
	}
	units := map[string]time.Duration{
		"minute)": time.Minute, "minutes)": time.Minute,
		"hour)": time.Hour, "hours)": time.Hour,
		"day)": 24 * time.Hour, "days)": 24 * time.Hour,
	}
	d, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("schedule %q: unknown unit", s.Expression)
	}
	return time.Duration(n) * d, nil
}

// HTTPAPI is an AWS::Serverless::HttpApi.
type HTTPAPI struct {
	LogicalID         string
	DefaultAuthorizer string
	Authorizers       map[string]JWTAuthorizer
	Properties        map[string]any
}

// JWTAuthorizer is a JWT authorizer of an HTTP API. Issuer and Audience are
// usually Intrinsics (!Ref of parameters).
type JWTAuthorizer struct {
	IdentitySource string
	Issuer         any
	Audience       any
}

func newHTTPAPI(r Resource) (HTTPAPI, error) {
	api := HTTPAPI{LogicalID: r.LogicalID, Authorizers: map[string]JWTAuthorizer{}, Properties: r.Properties}
	auth, err := asMap(r.Properties["Auth"], "Auth")
	if err != nil {
		return api, err
	}
	if api.DefaultAuthorizer, err = asString(auth["DefaultAuthorizer"], "Auth.DefaultAuthorizer"); err != nil {
		return api, err
	}
	authorizers, err := asMap(auth["Authorizers"], "Auth.Authorizers")
	if err != nil {
		return api, err
	}
	for name, v := range authorizers {
		a, err := asMap(v, "Auth.Authorizers."+name)
		if err != nil {
			return api, err
		}
		jwt, err := asMap(a["JwtConfiguration"], "Auth.Authorizers."+name+".JwtConfiguration")
		if err != nil {
			return api, err
		}
		var ja JWTAuthorizer
		if ja.IdentitySource, err = asString(a["IdentitySource"], "Auth.Authorizers."+name+".IdentitySource"); err != nil {
			return api, err
		}
		ja.Issuer, ja.Audience = jwt["issuer"], jwt["audience"]
		api.Authorizers[name] = ja
	}
	if api.DefaultAuthorizer != "" {
		if _, ok := api.Authorizers[api.DefaultAuthorizer]; !ok {
			return api, fmt.Errorf("default authorizer %q is not defined", api.DefaultAuthorizer)
		}
	}
	return api, nil
}
