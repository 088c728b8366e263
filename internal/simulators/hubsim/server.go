package hubsim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// Options configure a Server.
type Options struct {
	// Seed is the initial world; Reset returns to it.
	Seed Seed
	// Clock stamps registeredAt, updatedAt and the feed; nil means time.Now.
	Clock func() time.Time
	// RandomSeed makes customer ids, logrefs and rate-based faults repeat.
	RandomSeed uint64
	// DefaultPageSize is the page size of GET /customers without size;
	// zero means 10, what the live service was observed to use.
	DefaultPageSize int
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
	// SearchIndexDelay is how long a created or changed customer takes to
	// show in GET /customers (Contacthub's search index lags writes by
	// seconds to a minute); reads by id see writes at once. Zero means no
	// delay. SetSearchIndexDelay changes it.
	SearchIndexDelay time.Duration
}

// Server is the simulator. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	mu    sync.Mutex // guards world and seed
	seed  Seed
	world *world
	clock atomic.Pointer[func() time.Time]
	// indexDelay is the search index delay in nanoseconds.
	indexDelay atomic.Int64

	faults   *faults.Injector
	calls    *faults.CallLog
	logger   *slog.Logger
	pageSize int
	logrefs  atomic.Uint64
	mux      *http.ServeMux
}

// New returns a simulator holding opts.Seed. It panics if the seed cannot
// be loaded; check seeds with LoadSeed, ParseSeed or Seed.Validate first.
func New(opts Options) *Server {
	s := &Server{
		seed:     opts.Seed,
		faults:   faults.New(opts.RandomSeed),
		logger:   opts.Logger,
		pageSize: opts.DefaultPageSize,
	}
	s.SetClock(opts.Clock)
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.pageSize <= 0 {
		s.pageSize = 10
	}
	s.calls = faults.NewCallLog(s.now)
	s.SetSearchIndexDelay(opts.SearchIndexDelay)
	w, err := build(opts.Seed, newRand(opts.RandomSeed), s.now)
	if err != nil {
		panic(fmt.Sprintf("hubsim: invalid seed: %v", err))
	}
	w.indexDelay = s.searchIndexDelay
	s.world = w
	s.logrefs.Store(opts.RandomSeed)
	s.routes()
	return s
}

// SetSearchIndexDelay sets how long a created or changed customer takes to
// reach GET /customers results (see Options.SearchIndexDelay). Writes made
// before the change keep the time they were made at.
func (s *Server) SetSearchIndexDelay(d time.Duration) {
	s.indexDelay.Store(int64(max(d, 0)))
}

func (s *Server) searchIndexDelay() time.Duration {
	return time.Duration(s.indexDelay.Load())
}

// now reads the clock; SetClock may change it while requests run.
func (s *Server) now() time.Time {
	return (*s.clock.Load())()
}

// SetClock replaces the clock (nil means time.Now). It is safe to call
// while requests are served.
func (s *Server) SetClock(clock func() time.Time) {
	if clock == nil {
		clock = time.Now
	}
	s.clock.Store(&clock)
}

// Faults is the fault injector; rules name operations such as
// "customers.list" (see Operations).
func (s *Server) Faults() *faults.Injector { return s.faults }

// Calls is the log of API calls by operation.
func (s *Server) Calls() *faults.CallLog { return s.calls }

// Operations lists the operation names the call log and fault rules use.
func Operations() []string {
	return []string{
		"customers.list", "customers.create", "customers.get", "customers.put", "customers.patch", "customers.delete",
		"subscriptions.create", "subscriptions.get", "subscriptions.put", "subscriptions.delete",
		"nodes.entries.list", "nodes.entries.get", "nodes.aggregates.list", "nodes.aggregates.get",
		"nodes.views.list", "nodes.views.get",
		"properties.base.list", "properties.base.model", "properties.extended.get",
		"updates.get", "updates.lastOffset",
	}
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	const ws = "/hub/v1/workspaces/{ws}"
	api := map[string]struct {
		op string
		h  func(http.ResponseWriter, *http.Request, *workspace)
	}{
		"GET " + ws + "/customers":                             {"customers.list", s.listCustomers},
		"POST " + ws + "/customers":                            {"customers.create", s.createCustomer},
		"GET " + ws + "/customers/{id}":                        {"customers.get", s.getCustomer},
		"PUT " + ws + "/customers/{id}":                        {"customers.put", s.putCustomer},
		"PATCH " + ws + "/customers/{id}":                      {"customers.patch", s.patchCustomer},
		"DELETE " + ws + "/customers/{id}":                     {"customers.delete", s.deleteCustomer},
		"POST " + ws + "/customers/{id}/subscriptions":         {"subscriptions.create", s.createSubscription},
		"GET " + ws + "/customers/{id}/subscriptions/{sub}":    {"subscriptions.get", s.getSubscription},
		"PUT " + ws + "/customers/{id}/subscriptions/{sub}":    {"subscriptions.put", s.putSubscription},
		"DELETE " + ws + "/customers/{id}/subscriptions/{sub}": {"subscriptions.delete", s.deleteSubscription},
		"GET " + ws + "/configuration/nodes/entries":           {"nodes.entries.list", s.listEntryNodes},
		"GET " + ws + "/configuration/nodes/entries/{node}":    {"nodes.entries.get", s.getEntryNode},
		"GET " + ws + "/configuration/nodes/aggregates":        {"nodes.aggregates.list", s.listAggregateNodes},
		"GET " + ws + "/configuration/nodes/aggregates/{node}": {"nodes.aggregates.get", s.getAggregateNode},
		"GET " + ws + "/configuration/nodes/views":             {"nodes.views.list", s.listViewNodes},
		"GET " + ws + "/configuration/nodes/views/{node}":      {"nodes.views.get", s.getViewNode},
		"GET " + ws + "/configuration/properties/base":         {"properties.base.list", s.baseProperties},
		"GET " + ws + "/models/properties/base":                {"properties.base.model", s.baseModel},
		"GET " + ws + "/configuration/properties/extended":     {"properties.extended.get", s.extendedProperties},
		"GET " + ws + "/updates":                               {"updates.get", s.updates},
		"GET " + ws + "/updates/last-offset":                   {"updates.lastOffset", s.lastOffset},
	}
	for pattern, route := range api {
		s.mux.HandleFunc(pattern, s.api(route.op, route.h))
	}
	s.adminRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, &Error{Status: http.StatusNotFound, Message: "No handler found for " + r.Method + " " + r.URL.Path})
	})
}

// ServeHTTP serves the API under /hub/v1 and the admin surface under /_sim/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		// The query is left out: it may hold emails.
		s.logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	}()
	s.mux.ServeHTTP(rec, r)
}

// api wraps an API handler with the call log, faults, authentication and
// the lock.
func (s *Server) api(op string, h func(http.ResponseWriter, *http.Request, *workspace)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.calls.Record(op)
		items := 0
		if op == "customers.list" {
			items = s.pageSize
			if n, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil {
				items = n
			}
		}
		faults.Wait(r, s.faults.Delay(op)+s.faults.ServiceTime(op, items))
		rule, injected := s.faults.Next(op)
		if injected && rule.Kind == faults.DropAfter {
			// Served, but the answer never reaches the caller.
			s.serveAPI(discardWriter{header: http.Header{}}, r, h)
			faults.DropConnection(w)
			return
		}
		if injected {
			s.applyFault(w, rule)
			return
		}
		s.serveAPI(w, r, h)
	}
}

// discardWriter swallows an answer that is never sent.
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// serveAPI authenticates the caller and runs h under the lock.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request, *workspace)) {
	token, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, known := s.world.tokens[token]
	if !hasBearer || !known {
		s.writeError(w, unauthorized())
		return
	}
	wsID := r.PathValue("ws")
	ws := s.world.workspaces[wsID]
	if ws == nil || owner != wsID {
		s.writeError(w, &Error{Status: http.StatusForbidden, Message: "workspace not found: " + wsID})
		return
	}
	h(w, r, ws)
}

func unauthorized() *Error {
	return &Error{Status: http.StatusUnauthorized, Message: "The client is not authorized to access the API"}
}

func (s *Server) applyFault(w http.ResponseWriter, rule faults.Rule) {
	switch rule.Kind {
	case faults.Drop:
		faults.DropConnection(w)
	case faults.ExpiredToken:
		s.writeError(w, unauthorized())
	default:
		status := rule.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		message := rule.Message
		if message == "" {
			message = http.StatusText(status)
			if status == http.StatusLocked {
				message = "Reindexing in progress"
			}
		}
		if rule.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(rule.RetryAfterSeconds))
		}
		s.writeError(w, &Error{Status: status, Message: message})
	}
}

// writeError writes the service's error body.
func (s *Server) writeError(w http.ResponseWriter, e *Error) {
	errs := e.Errors
	if errs == nil {
		errs = []FieldError{}
	}
	// logref is an opaque correlation id; a mixed counter keeps it unique
	// and repeatable.
	n := s.logrefs.Add(1) * 0x9e3779b97f4a7c15
	writeJSON(w, e.Status, map[string]any{
		"message": e.Message,
		"logref":  fmt.Sprintf("%016x", n),
		"data":    e.Data,
		"errors":  errs,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// readBody decodes a request body that must be a JSON object.
func readBody(r *http.Request, message string) (map[string]any, *Error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, invalid(message, []FieldError{{Message: "the body could not be read"}})
	}
	return ParseBody(data, message)
}

// ParseBody decodes a request body that must be one JSON object, numbers
// kept exact, reporting a 400 *Error with message otherwise.
func ParseBody(data []byte, message string) (map[string]any, *Error) {
	doc, err := decodeMap(data)
	if err != nil {
		return nil, invalid(message, []FieldError{{Message: "the body is not a JSON object: " + err.Error()}})
	}
	return doc, nil
}

// baseURL is the scheme and host the client used, for hrefs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController and faults.DropConnection reach the
// connection underneath.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack passes through so a dropped-connection fault can close the socket.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("hubsim: the response writer cannot be hijacked")
	}
	return hj.Hijack()
}
