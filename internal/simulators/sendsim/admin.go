package sendsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// The admin surface, JSON under /_sim/:
//
//	POST   /_sim/reset                         back to the loaded seed
//	POST   /_sim/seed                          load the seed in the body
//	GET    /_sim/seed                          the current state as a seed
//	GET    /_sim/userdbs/{db}/subscribers      list a userDb's subscribers
//	POST   /_sim/userdbs/{db}/subscribers      insert {"attributes":{...}}
//	GET    /_sim/userdbs/{db}/subscribers/{id} one subscriber
//	PATCH  /_sim/userdbs/{db}/subscribers/{id} set {"attributes":{...}} ("" = NULL)
//	PUT    /_sim/userdbs/{db}/subscribers/{id}/subscriptions/{wfc}  set {"status":-1|0|1}
//	GET    /_sim/calls, DELETE /_sim/calls     call log with counts per operation
//	GET    /_sim/faults, POST /_sim/faults, DELETE /_sim/faults, DELETE /_sim/faults/{id}
//	GET    /_sim/clock, POST /_sim/clock       now; {"advanceMs": n} moves it forward
func (s *Server) routeAdmin() {
	m := s.mux
	m.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	m.HandleFunc("POST /_sim/seed", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		seed, err := ParseSeed(data)
		if err == nil {
			err = s.Load(seed)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "loaded"})
	})
	m.HandleFunc("GET /_sim/seed", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Snapshot())
	})
	m.HandleFunc("GET /_sim/userdbs/{db}/subscribers", func(w http.ResponseWriter, r *http.Request) {
		db, ok := pathInt(w, r, "db")
		if !ok {
			return
		}
		subs, err := s.Subscribers(db)
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, subs)
	})
	m.HandleFunc("POST /_sim/userdbs/{db}/subscribers", func(w http.ResponseWriter, r *http.Request) {
		db, ok := pathInt(w, r, "db")
		if !ok {
			return
		}
		var body struct {
			Attributes map[string]string `json:"attributes"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		id, err := s.AddSubscriber(db, body.Attributes)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sub, _ := s.Subscriber(db, id)
		writeJSON(w, http.StatusCreated, sub)
	})
	m.HandleFunc("GET /_sim/userdbs/{db}/subscribers/{id}", func(w http.ResponseWriter, r *http.Request) {
		db, ok1 := pathInt(w, r, "db")
		id, ok2 := pathInt(w, r, "id")
		if !ok1 || !ok2 {
			return
		}
		sub, err := s.Subscriber(db, id)
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, sub)
	})
	m.HandleFunc("PATCH /_sim/userdbs/{db}/subscribers/{id}", func(w http.ResponseWriter, r *http.Request) {
		db, ok1 := pathInt(w, r, "db")
		id, ok2 := pathInt(w, r, "id")
		if !ok1 || !ok2 {
			return
		}
		var body struct {
			Attributes map[string]string `json:"attributes"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if err := s.SetAttributes(db, id, body.Attributes); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sub, _ := s.Subscriber(db, id)
		writeJSON(w, http.StatusOK, sub)
	})
	m.HandleFunc("PUT /_sim/userdbs/{db}/subscribers/{id}/subscriptions/{wfc}", func(w http.ResponseWriter, r *http.Request) {
		db, ok1 := pathInt(w, r, "db")
		id, ok2 := pathInt(w, r, "id")
		if !ok1 || !ok2 {
			return
		}
		var body struct {
			Status *int `json:"status"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if body.Status == nil {
			writeError(w, http.StatusBadRequest, errors.New("status is required: 1, 0 or -1"))
			return
		}
		if err := s.SetSubscriptionStatus(db, id, r.PathValue("wfc"), *body.Status); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sub, _ := s.Subscriber(db, id)
		writeJSON(w, http.StatusOK, sub)
	})
	m.HandleFunc("GET /_sim/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"total":  s.calls.Total(),
			"counts": s.calls.Counts(),
			"calls":  s.calls.Entries(),
		})
	})
	m.HandleFunc("DELETE /_sim/calls", func(w http.ResponseWriter, r *http.Request) {
		s.calls.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.faults.Rules())
	})
	m.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var rule faults.Rule
		if !readJSON(w, r, &rule) {
			return
		}
		id, err := s.faults.Add(rule)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		rule.ID = id
		writeJSON(w, http.StatusCreated, rule)
	})
	m.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.faults.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /_sim/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.faults.Remove(r.PathValue("id")) {
			writeError(w, http.StatusNotFound, errors.New("no such fault rule"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_sim/clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.Now()})
	})
	m.HandleFunc("POST /_sim/clock", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			AdvanceMS int64 `json:"advanceMs"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if body.AdvanceMS < 0 {
			writeError(w, http.StatusBadRequest, errors.New("advanceMs must not be negative"))
			return
		}
		s.Advance(time.Duration(body.AdvanceMS) * time.Millisecond)
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.Now()})
	})
}

func pathInt(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, errors.New(name+" must be an integer"))
		return 0, false
	}
	return n, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
