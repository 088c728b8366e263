// Package sendsim simulates Contactsend's SOAP 1.2 API ("ClabService")
// statefully, for tests, the local stack and demos: tokens with idle expiry,
// typed userDbs, subscribers with long ids, subscription systems with their
// __clsN registration columns, paged searches and SOAP 1.2 faults, plus fault
// injection and a JSON admin surface under /_sim/. Like the real endpoint it
// speaks SOAP 1.2 only: another media type is 415, a SOAP 1.1 envelope a
// VersionMismatch fault.
//
// It parses the wire format itself and shares no code with the client, so a
// client bug cannot hide behind a shared mistake.
package sendsim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// DefaultTokenIdle is how long a token lives without use.
const DefaultTokenIdle = 15 * time.Minute

// ServicePath is where the SOAP endpoint is served.
const ServicePath = "/soap/services"

// Options configure a Server.
type Options struct {
	Seed      Seed
	Clock     func() time.Time // default time.Now
	TokenIdle time.Duration    // default DefaultTokenIdle
	FaultSeed uint64           // seeds the fault injector's random choices
	Logger    *slog.Logger     // default discards
}

// Server is the simulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	idle   time.Duration
	faults *faults.Injector
	calls  *faults.CallLog
	log    *slog.Logger
	mux    *http.ServeMux

	mu     sync.Mutex
	clock  func() time.Time
	offset time.Duration
	seed   Seed
	st     *state
}

// New returns a simulator holding opts.Seed. An invalid seed yields an empty
// simulator and a logged error; use ParseSeed or LoadSeed to check seeds.
func New(opts Options) *Server {
	s := &Server{
		idle:   opts.TokenIdle,
		faults: faults.New(opts.FaultSeed),
		log:    opts.Logger,
		clock:  opts.Clock,
	}
	if s.idle <= 0 {
		s.idle = DefaultTokenIdle
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.calls = faults.NewCallLog(s.Now)
	if err := s.Load(opts.Seed); err != nil {
		s.log.Error("sendsim: invalid seed, starting empty", "error", err)
		s.st, _ = newState(Seed{})
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+ServicePath, s.serveSOAP)
	s.mux.HandleFunc("GET "+ServicePath, s.serveWSDL)
	s.routeAdmin()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Now returns the simulator's time: its clock plus any Advance.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time { return s.clock().Add(s.offset) }

// SetClock replaces the clock (nil means time.Now) and clears any Advance.
func (s *Server) SetClock(clock func() time.Time) {
	if clock == nil {
		clock = time.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock, s.offset = clock, 0
}

// Advance moves the simulator's time forward by d.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// Faults returns the fault injector.
func (s *Server) Faults() *faults.Injector { return s.faults }

// Calls returns the log of SOAP calls served.
func (s *Server) Calls() *faults.CallLog { return s.calls }

// Load replaces the whole state with seed, which Reset returns to later.
func (s *Server) Load(seed Seed) error {
	st, err := newState(seed)
	if err != nil {
		return fmt.Errorf("sendsim: seed: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seed, s.st = seed, st
	return nil
}

// Reset returns to the last loaded seed: tokens, subscribers and ids.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := newState(s.seed)
	if err != nil {
		panic("sendsim: a loaded seed no longer loads: " + err.Error())
	}
	s.st = st
}

// Snapshot returns the current state as a seed (without tokens).
func (s *Server) Snapshot() Seed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.snapshot()
}

// Subscribers returns the subscribers of a userDb in id order, with their
// attributes as stored text.
func (s *Server) Subscribers(userDB int64) ([]Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.st.userDBs[userDB]
	if !ok {
		return nil, unknownUserDB(userDB)
	}
	return db.records(), nil
}

// Subscriber returns one subscriber.
func (s *Server) Subscriber(userDB, id int64) (Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.st.userDBs[userDB]
	if !ok {
		return Subscriber{}, unknownUserDB(userDB)
	}
	row, ok := db.subscribers[id]
	if !ok {
		return Subscriber{}, unknownSubscriber(id)
	}
	return row.record(), nil
}

// AddSubscriber inserts a subscriber directly, as an import would, and
// returns its id. Values are text in the field's format.
func (s *Server) AddSubscriber(userDB int64, attributes map[string]string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.st.userDBs[userDB]
	if !ok {
		return 0, unknownUserDB(userDB)
	}
	row := &subscriberRow{id: s.st.nextID, values: make(map[string]string)}
	if err := db.apply(row, attributes); err != nil {
		return 0, err
	}
	db.defaults(row)
	if err := db.checkUnique(row); err != nil {
		return 0, err
	}
	db.insert(row)
	s.st.nextID++
	return row.id, nil
}

// SetAttributes changes attributes of a subscriber directly, as an edit in
// Contactsend's console would. An empty value sets the column to NULL.
func (s *Server) SetAttributes(userDB, id int64, attributes map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.st.userDBs[userDB]
	if !ok {
		return unknownUserDB(userDB)
	}
	row, ok := db.subscribers[id]
	if !ok {
		return unknownSubscriber(id)
	}
	next := &subscriberRow{id: id, values: cloneMap(row.values)}
	set := make(map[string]string, len(attributes))
	for k, v := range attributes {
		if v != "" {
			set[k] = v
			continue
		}
		if _, ok := db.byName[k]; !ok {
			return receiverf("Unknown field: %s", k)
		}
		delete(next.values, k)
	}
	if err := db.apply(next, set); err != nil {
		return err
	}
	if err := db.checkUnique(next); err != nil {
		return err
	}
	db.store(next)
	return nil
}

// SetSubscriptionStatus sets a subscriber's registration column for the
// subscription system with the given web form code to status (1, 0 or -1),
// as a person clicking a subscribe or unsubscribe link would.
func (s *Server) SetSubscriptionStatus(userDB, id int64, webformCode string, status int) error {
	if status < -1 || status > 1 {
		return fmt.Errorf("sendsim: status %d is not -1, 0 or 1", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.st.userDBs[userDB]
	if !ok {
		return unknownUserDB(userDB)
	}
	sub, ok := db.subscription(webformCode)
	if !ok {
		return receiverf("Web form code not found: %s", webformCode)
	}
	row, ok := db.subscribers[id]
	if !ok {
		return unknownSubscriber(id)
	}
	db.setValue(row, sub.RegistrationField, strconv.Itoa(status))
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// apply coerces and sets text attributes on row.
func (db *userDB) apply(row *subscriberRow, attributes map[string]string) error {
	for k, v := range attributes {
		fd, ok := db.byName[k]
		if !ok {
			return receiverf("Unknown field: %s", k)
		}
		canon, err := coerce(fd, v)
		if err != nil {
			return err
		}
		row.values[k] = canon
	}
	return nil
}

// serveSOAP handles one SOAP call: parse, log, faults, dispatch.
func (s *Server) serveSOAP(w http.ResponseWriter, r *http.Request) {
	// JAX-WS RI's SOAP 1.2 codec refuses any other media type (SOAP 1.1's
	// text/xml included) before reading the body: 415 and no body.
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != soapMediaType {
		s.calls.Record("(invalid)")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		http.Error(w, "cannot read request", http.StatusBadRequest)
		return
	}
	if len(data) > maxRequestBytes {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := parseRequest(data)
	if err != nil {
		s.calls.Record("(invalid)")
		s.writeFault(w, err)
		return
	}
	s.calls.Record(req.op)
	faults.Wait(r, s.faults.Delay(req.op)+s.faults.ServiceTime(req.op, items(req)))
	rule, injected := s.faults.Next(req.op)
	if injected && s.inject(w, req, rule) {
		return
	}
	ret, hasReturn, err := s.dispatch(req)
	if injected && rule.Kind == faults.DropAfter {
		faults.DropConnection(w)
		return
	}
	if err != nil {
		s.log.Debug("sendsim: fault", "operation", req.op, "reason", err.Error())
		s.writeFault(w, err)
		return
	}
	w.Header().Set("Content-Type", soapContentType)
	w.Write(envelope(req.op, ret, hasReturn))
}

// inject applies a fault rule; it reports whether the call is answered.
func (s *Server) inject(w http.ResponseWriter, req request, rule faults.Rule) bool {
	s.log.Debug("sendsim: injected fault", "operation", req.op, "kind", rule.Kind)
	switch rule.Kind {
	case faults.Status:
		if rule.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(rule.RetryAfterSeconds))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rule.Status)
		msg := rule.Message
		if msg == "" {
			msg = http.StatusText(rule.Status)
		}
		io.WriteString(w, msg+"\n")
		return true
	case faults.SOAPFault:
		msg := rule.Message
		if msg == "" {
			msg = "Internal server error (injected)"
		}
		s.writeFault(w, &faultError{reason: msg})
		return true
	case faults.ExpiredToken:
		if !takesToken(req.op) {
			return false
		}
		if content, ok := req.body.child("token").textOf("content"); ok {
			s.mu.Lock()
			delete(s.st.tokens, content)
			s.mu.Unlock()
		}
		s.writeFault(w, receiverf(reasonTokenExpired))
		return true
	case faults.Drop:
		faults.DropConnection(w)
		return true
	}
	return false
}

// items is how many records a call serves, for the latency profile: the
// subscribers of a bulk add, the page size of a search.
func items(req request) int {
	switch req.op {
	case "addSubscribers":
		return len(req.body.child("subscribers").all("currentPageItems"))
	case "findSubscribersBy":
		if n, ok, err := intOf(req.body.child("pagination"), "pageSize", false); err == nil && ok {
			return int(min(n, maxPageSize))
		}
	}
	return 0
}

func takesToken(op string) bool { return op != "borrowToken" }

func (s *Server) writeFault(w http.ResponseWriter, err error) {
	var fe *faultError
	if !errors.As(err, &fe) {
		fe = &faultError{reason: err.Error()}
	}
	w.Header().Set("Content-Type", soapContentType)
	w.WriteHeader(http.StatusInternalServerError)
	w.Write(faultEnvelope(fe))
}

// dispatch runs an operation under the lock: every operation is atomic.
func (s *Server) dispatch(req request) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r response
	if req.op == "borrowToken" {
		return s.borrowToken(req.body, &r)
	}
	h, ok := handler(req.op)
	if !ok {
		return nil, false, senderf("Cannot find dispatch method for {%s}%s", nsWS, req.op)
	}
	content, _ := req.body.child("token").textOf("content")
	acc, err := s.authenticate(content)
	if err != nil {
		return nil, false, err
	}
	call := &opCall{s: s, st: s.st, acc: acc, token: content, body: req.body, r: &r}
	hasReturn, err := h(call)
	if err != nil {
		return nil, false, err
	}
	return r.b.Bytes(), hasReturn, nil
}

// authenticate checks a token and renews its idle timer: any use counts as
// activity, which is the plain reading of an "idle" expiry.
func (s *Server) authenticate(content string) (*account, error) {
	tok, ok := s.st.tokens[content]
	now := s.now()
	if !ok || content == "" {
		return nil, receiverf(reasonTokenExpired)
	}
	if now.Sub(tok.usedAt) >= s.idle {
		delete(s.st.tokens, content)
		return nil, receiverf(reasonTokenExpired)
	}
	tok.usedAt = now
	return tok.account, nil
}

func (s *Server) borrowToken(body *node, r *response) ([]byte, bool, error) {
	apiKey, _ := body.textOf("apiKey")
	userKey, _ := body.textOf("userKey")
	acc, ok := s.st.accounts[accountKey(apiKey, userKey)]
	if !ok {
		return nil, false, receiverf(reasonBadCredentials)
	}
	s.st.tokenSeq++
	// Deterministic but unguessable enough for a simulator.
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", apiKey, userKey, s.st.tokenSeq)))
	content := hex.EncodeToString(sum[:16])
	s.st.tokens[content] = &token{account: acc, usedAt: s.now()}
	r.leaf("content", content)
	return r.b.Bytes(), true, nil
}
