package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func mustAdd(t *testing.T, i *Injector, r Rule) string {
	t.Helper()
	id, err := i.Add(r)
	if err != nil {
		t.Fatalf("Add(%+v): %v", r, err)
	}
	return id
}

func TestCountRulesFireForTheNextNCalls(t *testing.T) {
	i := New(1)
	mustAdd(t, i, Rule{Operation: "customers.get", Kind: Status, Status: 429, RetryAfterSeconds: 2, Count: 2})
	if _, ok := i.Next("customers.list"); ok {
		t.Fatal("rule for customers.get fired for customers.list")
	}
	for n := 0; n < 2; n++ {
		r, ok := i.Next("customers.get")
		if !ok || r.Status != 429 || r.RetryAfterSeconds != 2 {
			t.Fatalf("call %d: got %+v, %v; want the 429 rule", n, r, ok)
		}
	}
	if _, ok := i.Next("customers.get"); ok {
		t.Fatal("rule fired after its count ran out")
	}
	if len(i.Rules()) != 0 {
		t.Fatalf("spent rule still installed: %+v", i.Rules())
	}
}

func TestOneFailurePerCall(t *testing.T) {
	i := New(1)
	mustAdd(t, i, Rule{Kind: Status, Status: 500, Count: 1})
	mustAdd(t, i, Rule{Kind: Drop, Count: 1})
	first, _ := i.Next("any")
	second, _ := i.Next("any")
	if first.Kind != Status || second.Kind != Drop {
		t.Fatalf("got %s then %s, want status then drop", first.Kind, second.Kind)
	}
}

func TestRateIsDeterministicForASeed(t *testing.T) {
	run := func() (fired int) {
		i := New(42)
		mustAdd(t, i, Rule{Kind: Status, Status: 503, Rate: 0.3})
		for n := 0; n < 1000; n++ {
			if _, ok := i.Next("op"); ok {
				fired++
			}
		}
		return fired
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("same seed fired %d then %d times", a, b)
	}
	if a < 230 || a > 370 {
		t.Fatalf("rate 0.3 fired %d of 1000 calls", a)
	}
}

func TestDelayAddsLatencyWithoutConsumingFailures(t *testing.T) {
	i := New(1)
	mustAdd(t, i, Rule{Kind: Latency, Latency: 50 * time.Millisecond, Count: 1})
	mustAdd(t, i, Rule{Kind: Status, Status: 500, Count: 1})
	if d := i.Delay("op"); d != 50*time.Millisecond {
		t.Fatalf("Delay = %v, want 50ms", d)
	}
	if d := i.Delay("op"); d != 0 {
		t.Fatalf("second Delay = %v, want 0", d)
	}
	if _, ok := i.Next("op"); !ok {
		t.Fatal("failure rule was consumed by Delay")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
	}{
		{"unknown kind", Rule{Kind: "boom", Count: 1}},
		{"status out of range", Rule{Kind: Status, Status: 200, Count: 1}},
		{"latency without duration", Rule{Kind: Latency, Count: 1}},
		{"neither rate nor count", Rule{Kind: Drop}},
		{"rate above one", Rule{Kind: Drop, Rate: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(1).Add(tt.rule); err == nil {
				t.Fatalf("Add(%+v) accepted an invalid rule", tt.rule)
			}
		})
	}
}

func TestRuleJSONUsesMilliseconds(t *testing.T) {
	var r Rule
	if err := json.Unmarshal([]byte(`{"operation":"addSubscriber","kind":"latency","latencyMs":250,"count":3}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Latency != 250*time.Millisecond || r.Count != 3 || r.Operation != "addSubscriber" {
		t.Fatalf("decoded %+v", r)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Rule
	if err := json.Unmarshal(out, &back); err != nil || back != r {
		t.Fatalf("round trip: %s → %+v (%v)", out, back, err)
	}
}

func TestDropConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { DropConnection(w) }))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Fatalf("got status %d, want a broken connection", resp.StatusCode)
	}
}

func TestCallLog(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	l := NewCallLog(func() time.Time { return now })
	l.Record("borrowToken")
	l.Record("addSubscriber")
	l.Record("addSubscriber")
	if c := l.Counts(); c["addSubscriber"] != 2 || c["borrowToken"] != 1 {
		t.Fatalf("Counts = %v", c)
	}
	if e := l.Entries(); len(e) != 3 || e[0].Operation != "borrowToken" || !e[0].At.Equal(now) {
		t.Fatalf("Entries = %v", e)
	}
	l.Reset()
	if l.Total() != 0 {
		t.Fatal("Reset kept calls")
	}
	var zero CallLog
	zero.Record("x")
	if zero.Total() != 1 {
		t.Fatal("zero CallLog is not usable")
	}
}
