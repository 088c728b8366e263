// Package faults injects failures into the simulators and records the calls
// they serve, so tests and demos can show how hubsend behaves when Contacthub
// or Contactsend is slow, throttled, broken or forgetful.
package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Kind is what an injected fault does to a call.
type Kind string

// The kinds a simulator knows how to apply.
const (
	Latency      Kind = "latency"       // delay the call, then serve it
	Status       Kind = "status"        // answer with Rule.Status (429 carries Retry-After)
	SOAPFault    Kind = "soap-fault"    // answer with a SOAP fault carrying Rule.Message
	ExpiredToken Kind = "expired-token" // treat the caller's token as expired
	Drop         Kind = "drop"          // close the connection without an answer
	// DropAfter serves the call, then closes the connection without its
	// answer: the effect happened and the caller cannot know it.
	DropAfter Kind = "drop-after"
)

// Rule describes one fault. A rule with a Count fires for that many matching
// calls and then retires; a rule with a Rate fires with that probability.
type Rule struct {
	ID                string        `json:"id,omitempty"`
	Operation         string        `json:"operation,omitempty"` // empty matches every operation
	Kind              Kind          `json:"kind"`
	Rate              float64       `json:"rate,omitempty"`
	Count             int           `json:"count,omitempty"`
	Latency           time.Duration `json:"-"`
	Status            int           `json:"status,omitempty"`
	RetryAfterSeconds int           `json:"retryAfterSeconds,omitempty"`
	Message           string        `json:"message,omitempty"`
}

// MarshalJSON writes Latency as whole milliseconds, the unit people type.
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	return json.Marshal(struct {
		plain
		LatencyMS int64 `json:"latencyMs,omitempty"`
	}{plain(r), r.Latency.Milliseconds()})
}

// UnmarshalJSON reads Latency from latencyMs.
func (r *Rule) UnmarshalJSON(data []byte) error {
	type plain Rule
	var v struct {
		plain
		LatencyMS int64 `json:"latencyMs"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*r = Rule(v.plain)
	r.Latency = time.Duration(v.LatencyMS) * time.Millisecond
	return nil
}

// Validate says what is wrong with a rule before it is installed.
func (r Rule) Validate() error {
	switch r.Kind {
	case Latency:
		if r.Latency <= 0 {
			return fmt.Errorf("latency rule needs latencyMs > 0")
		}
	case Status:
		if r.Status < 400 || r.Status > 599 {
			return fmt.Errorf("status rule needs a status between 400 and 599, got %d", r.Status)
		}
	case SOAPFault, ExpiredToken, Drop, DropAfter:
	default:
		return fmt.Errorf("unknown fault kind %q", r.Kind)
	}
	if r.Rate < 0 || r.Rate > 1 {
		return fmt.Errorf("rate must be between 0 and 1, got %v", r.Rate)
	}
	if r.Count < 0 {
		return fmt.Errorf("count must not be negative, got %d", r.Count)
	}
	if r.Rate == 0 && r.Count == 0 {
		return fmt.Errorf("a rule needs a rate or a count")
	}
	return nil
}

// Injector holds the installed rules. It is safe for concurrent use.
type Injector struct {
	mu     sync.Mutex
	rng    *rand.Rand
	rules  []*Rule
	nextID int
	// service draws the latency profile's times, under its own lock.
	service serviceTimer
}

// New returns an Injector whose random choices repeat for the same seed.
func New(seed uint64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Add installs a rule and returns its id. Invalid rules are refused.
func (i *Injector) Add(r Rule) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.nextID++
	r.ID = fmt.Sprintf("f%d", i.nextID)
	i.rules = append(i.rules, &r)
	return r.ID, nil
}

// Remove uninstalls one rule; it reports whether the rule existed.
func (i *Injector) Remove(id string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for n, r := range i.rules {
		if r.ID == id {
			i.rules = append(i.rules[:n], i.rules[n+1:]...)
			return true
		}
	}
	return false
}

// Reset uninstalls every rule.
func (i *Injector) Reset() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = nil
}

// Rules returns copies of the installed rules with their remaining counts.
func (i *Injector) Rules() []Rule {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]Rule, 0, len(i.rules))
	for _, r := range i.rules {
		out = append(out, *r)
	}
	return out
}

// Delay returns how long to hold this call before serving it: the sum of the
// latency rules that fire for it.
func (i *Injector) Delay(operation string) time.Duration {
	var d time.Duration
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, r := range i.fire(operation, func(k Kind) bool { return k == Latency }) {
		d += r.Latency
	}
	return d
}

// Next returns the first non-latency rule that fires for this call, if any.
func (i *Injector) Next(operation string) (Rule, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	fired := i.fire(operation, func(k Kind) bool { return k != Latency })
	if len(fired) == 0 {
		return Rule{}, false
	}
	return fired[0], true
}

// fire consumes the rules of the wanted kinds that fire for one call. At most
// one failure fires per call, so a later failure rule keeps its count.
func (i *Injector) fire(operation string, kind func(Kind) bool) []Rule {
	var fired []Rule
	kept := i.rules[:0]
	failing := false
	for _, r := range i.rules {
		matches := kind(r.Kind) && (r.Operation == "" || r.Operation == operation)
		if !matches || (failing && r.Kind != Latency) {
			kept = append(kept, r)
			continue
		}
		if r.Rate > 0 && i.rng.Float64() >= r.Rate {
			kept = append(kept, r)
			continue
		}
		fired = append(fired, *r)
		if r.Kind != Latency {
			failing = true
		}
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				continue
			}
		}
		kept = append(kept, r)
	}
	i.rules = kept
	return fired
}

// Wait holds the call for d, or less if the client goes away.
func Wait(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
}

// DropConnection closes the client's connection without writing a response, as a
// crashed server or a broken network would.
func DropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// A writer that cannot be hijacked (HTTP/2, a recorder) gets the closest
	// thing: the server aborts the response.
	panic(http.ErrAbortHandler)
}

// Call is one served request.
type Call struct {
	Operation string    `json:"operation"`
	At        time.Time `json:"at"`
}

// CallLog records served calls. Its zero value is ready to use and stamps
// calls with time.Now. It is safe for concurrent use.
type CallLog struct {
	mu    sync.Mutex
	calls []Call
	now   func() time.Time
}

// NewCallLog returns an empty log stamped by now (nil means time.Now).
func NewCallLog(now func() time.Time) *CallLog {
	if now == nil {
		now = time.Now
	}
	return &CallLog{now: now}
}

// Record adds one call.
func (l *CallLog) Record(operation string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now
	if now == nil {
		now = time.Now
	}
	l.calls = append(l.calls, Call{Operation: operation, At: now()})
}

// Counts returns how many calls each operation served.
func (l *CallLog) Counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := make(map[string]int)
	for _, c := range l.calls {
		counts[c.Operation]++
	}
	return counts
}

// Entries returns the calls in the order they were recorded.
func (l *CallLog) Entries() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

// Total returns the number of recorded calls.
func (l *CallLog) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// Reset forgets every call.
func (l *CallLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}
