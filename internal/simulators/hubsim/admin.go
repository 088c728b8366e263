package hubsim

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"

	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// The admin surface, under /_sim/, needs no token: it is what a person in
// the Contacthub UI, a test or a demo script does behind the API's back.
// Customer changes made here go through the same rules and into the same
// updates feed as API calls.
//
//	POST   /_sim/reset                                   back to the seed; a Seed body replaces it
//	GET    /_sim/state                                   the current world as a Seed
//	GET    /_sim/workspaces/{ws}/customers               all customers (?nodeId= filters)
//	POST   /_sim/workspaces/{ws}/customers               create (201); id may be given
//	GET    /_sim/workspaces/{ws}/customers/{id}
//	PUT    /_sim/workspaces/{ws}/customers/{id}          replace, or create with that id
//	DELETE /_sim/workspaces/{ws}/customers/{id}
//	PUT    /_sim/workspaces/{ws}/customers/{id}/subscriptions/{sub}   {"subscribed": bool}
//	GET    /_sim/calls    {"counts": {op: n}, "total": n}; DELETE resets
//	GET    /_sim/faults   installed rules; POST adds one ({"id"}); DELETE removes all
//	DELETE /_sim/faults/{id}
func (s *Server) adminRoutes() {
	m := s.mux
	m.HandleFunc("POST /_sim/reset", s.adminReset)
	m.HandleFunc("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Snapshot())
	})
	m.HandleFunc("GET /_sim/workspaces/{ws}/customers", s.admin(func(w http.ResponseWriter, r *http.Request, ws *workspace) {
		nodeID := r.URL.Query().Get("nodeId")
		out := []any{}
		for _, id := range ws.order {
			if c := ws.customers[id]; nodeID == "" || c["nodeId"] == nodeID {
				out = append(out, c)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"elements": out})
	}))
	m.HandleFunc("POST /_sim/workspaces/{ws}/customers", s.admin(func(w http.ResponseWriter, r *http.Request, ws *workspace) {
		s.adminStore(w, r, ws, "", http.StatusCreated)
	}))
	m.HandleFunc("GET /_sim/workspaces/{ws}/customers/{id}", s.admin(func(w http.ResponseWriter, r *http.Request, ws *workspace) {
		if c := ws.customers[r.PathValue("id")]; c != nil {
			writeJSON(w, http.StatusOK, c)
			return
		}
		s.writeError(w, notFound("customer not found "+r.PathValue("id")))
	}))
	m.HandleFunc("PUT /_sim/workspaces/{ws}/customers/{id}", s.admin(func(w http.ResponseWriter, r *http.Request, ws *workspace) {
		s.adminStore(w, r, ws, r.PathValue("id"), http.StatusOK)
	}))
	m.HandleFunc("DELETE /_sim/workspaces/{ws}/customers/{id}", s.admin(func(w http.ResponseWriter, r *http.Request, ws *workspace) {
		if err := s.world.deleteCustomer(ws, r.PathValue("id")); err != nil {
			s.writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	m.HandleFunc("PUT /_sim/workspaces/{ws}/customers/{id}/subscriptions/{sub}", s.admin(func(w http.ResponseWriter, r *http.Request, ws *workspace) {
		var body struct {
			Subscribed *bool `json:"subscribed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Subscribed == nil {
			s.writeError(w, invalid("the body must be {\"subscribed\": true|false}", nil))
			return
		}
		sub, err := s.world.setSubscribed(ws, r.PathValue("id"), r.PathValue("sub"), *body.Subscribed)
		if err != nil {
			s.writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, sub)
	}))
	m.HandleFunc("GET /_sim/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"counts": s.calls.Counts(), "total": s.calls.Total()})
	})
	m.HandleFunc("DELETE /_sim/calls", func(w http.ResponseWriter, r *http.Request) {
		s.calls.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"rules": s.faults.Rules()})
	})
	m.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var rule faults.Rule
		if err := json.NewDecoder(r.Body).Decode(&rule); err != nil {
			s.writeError(w, invalid("the body must be a fault rule: "+err.Error(), nil))
			return
		}
		id, err := s.faults.Add(rule)
		if err != nil {
			s.writeError(w, invalid(err.Error(), nil))
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": id})
	})
	m.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.faults.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /_sim/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.faults.Remove(r.PathValue("id")) {
			s.writeError(w, notFound("fault not found "+r.PathValue("id")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) admin(h func(http.ResponseWriter, *http.Request, *workspace)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ws := s.world.workspaces[r.PathValue("ws")]
		if ws == nil {
			s.writeError(w, &Error{Status: http.StatusForbidden, Message: "workspace not found: " + r.PathValue("ws")})
			return
		}
		h(w, r, ws)
	}
}

func (s *Server) adminStore(w http.ResponseWriter, r *http.Request, ws *workspace, id string, status int) {
	doc, err := readBody(r, messageInvalidCustomer)
	if err == nil {
		doc, err = s.world.adminPut(ws, doc, id, baseURL(r))
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, status, doc)
}

func (s *Server) adminReset(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		s.writeError(w, invalid("the body could not be read", nil))
		return
	}
	var seed *Seed
	if len(data) > 0 {
		parsed, err := ParseSeed(data)
		if err != nil {
			s.writeError(w, invalid("the body is not a valid seed: "+err.Error(), nil))
			return
		}
		seed = &parsed
	}
	if err := s.Reset(seed); err != nil {
		s.writeError(w, invalid(err.Error(), nil))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminPut replaces the customer id, or creates it (with id when given).
func (w *world) adminPut(ws *workspace, doc map[string]any, id, baseURL string) (map[string]any, *Error) {
	for _, name := range readOnlyMembers {
		delete(doc, name)
	}
	if id != "" {
		if prev := ws.customers[id]; prev != nil {
			if _, ok := doc["nodeId"]; !ok {
				doc["nodeId"] = prev["nodeId"]
			}
		}
		doc["id"] = id
	}
	return w.store(ws, doc, modePut, true, baseURL)
}

// setSubscribed sets a subscription's flag, adding the subscription when
// the customer lacks it.
func (w *world) setSubscribed(ws *workspace, customerID, subID string, subscribed bool) (map[string]any, *Error) {
	return w.changeSubscription(ws, customerID, subID, func(subs []any, index int) ([]any, *Error) {
		if index < 0 {
			return append(subs, map[string]any{"id": subID, "subscribed": subscribed}), nil
		}
		sub := subs[index].(map[string]any)
		sub["subscribed"] = subscribed
		delete(sub, "updatedAt") // a person's change is a new change
		return subs, nil
	})
}

// Reset returns to the seed the server was created with, or loads seed
// when it is not nil (it then becomes the seed later resets return to).
// Faults and the call log are kept; clear them with Faults().Reset() and
// Calls().Reset().
func (s *Server) Reset(seed *Seed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.seed
	if seed != nil {
		next = *seed
	}
	w, err := build(next, s.world.rng, s.now)
	if err != nil {
		return fmt.Errorf("hubsim: %w", err)
	}
	w.indexDelay = s.searchIndexDelay
	s.world, s.seed = w, next
	return nil
}

// Snapshot returns the current world as a seed, updates feed included:
// what the state file holds.
func (s *Server) Snapshot() Seed {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Seed
	ids := make([]string, 0, len(s.world.workspaces))
	for id := range s.world.workspaces {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ws := s.world.workspaces[id]
		seed := WorkspaceSeed{
			ID: ws.id, Tokens: slices.Clone(ws.tokens), EntryNodes: slices.Clone(ws.entries),
			AggregateNodes: slices.Clone(ws.aggregates), BaseSchema: json.RawMessage(ws.baseText),
			BaseProperties: slices.Clone(ws.baseProperties), Updates: slices.Clone(ws.updates),
		}
		if ws.extendedText != "" {
			seed.ExtendedSchema = json.RawMessage(ws.extendedText)
		}
		for _, cid := range ws.order {
			seed.Customers = append(seed.Customers, mustJSON(ws.customers[cid]))
		}
		out.Workspaces = append(out.Workspaces, seed)
	}
	return out
}

// Customers returns copies of a workspace's customers, oldest first, in
// the service's JSON shape (numbers as json.Number).
func (s *Server) Customers(workspaceID string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.world.workspaces[workspaceID]
	if ws == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(ws.order))
	for _, id := range ws.order {
		out = append(out, clone(ws.customers[id]).(map[string]any))
	}
	return out
}

// Customer returns a copy of one customer.
func (s *Server) Customer(workspaceID, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.world.workspaces[workspaceID]
	if ws == nil || ws.customers[id] == nil {
		return nil, false
	}
	return clone(ws.customers[id]).(map[string]any), true
}

// PutCustomer creates or replaces a customer as a person in the Contacthub
// UI would: customer is in the service's JSON shape; a customer["id"] that
// exists is replaced, any other creates. The same validation, uniqueness
// and feed recording apply as to the API; failures are *Error.
func (s *Server) PutCustomer(workspaceID string, customer map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.world.workspaces[workspaceID]
	if ws == nil {
		return nil, &Error{Status: http.StatusForbidden, Message: "workspace not found: " + workspaceID}
	}
	doc := normalise(customer).(map[string]any)
	doc = clone(numbersOf(doc)).(map[string]any)
	id, _ := doc["id"].(string)
	stored, err := s.world.adminPut(ws, doc, id, "http://hubsim")
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// DeleteCustomer deletes a customer as a person in the UI would.
func (s *Server) DeleteCustomer(workspaceID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.world.workspaces[workspaceID]
	if ws == nil {
		return &Error{Status: http.StatusForbidden, Message: "workspace not found: " + workspaceID}
	}
	if err := s.world.deleteCustomer(ws, id); err != nil {
		return err
	}
	return nil
}

// SetSubscribed sets the subscribed flag of a customer's subscription,
// adding the subscription if missing, as a person in the UI would.
func (s *Server) SetSubscribed(workspaceID, customerID, subscriptionID string, subscribed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.world.workspaces[workspaceID]
	if ws == nil {
		return &Error{Status: http.StatusForbidden, Message: "workspace not found: " + workspaceID}
	}
	if _, err := s.world.setSubscribed(ws, customerID, subscriptionID, subscribed); err != nil {
		return err
	}
	return nil
}

// LastOffset is the offset of the latest change in a workspace's feed.
func (s *Server) LastOffset(workspaceID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.world.workspaces[workspaceID]
	if ws == nil || len(ws.updates) == 0 {
		return 0
	}
	return ws.updates[len(ws.updates)-1].Offset
}

// numbersOf re-decodes v so its numbers are json.Number, like request bodies.
func numbersOf(v any) any {
	doc, err := decodeMap(mustJSON(v))
	if err != nil {
		return v
	}
	return doc
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}
