package testkit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logs captures what code logs through its Logger, as the JSON lines a
// Lambda writes, so that tests can look for a line or make sure a secret
// never appears. It is safe for concurrent use.
type Logs struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	logger *slog.Logger
}

// NewLogs returns an empty capture whose Logger records every level from
// Debug up. Logs is also an io.Writer: a test that must see exactly what a
// Lambda logs at its own level makes its handler write to it, as in
// slog.New(slog.NewJSONHandler(logs, nil)).
func NewLogs() *Logs {
	l := &Logs{}
	l.logger = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l
}

// Logger returns the logger to give to the code under test.
func (l *Logs) Logger() *slog.Logger { return l.logger }

// Write appends p; the JSON handler writes one whole line per call.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether s appears anywhere in what was logged: in a
// message, a key or a value.
func (l *Logs) Contains(s string) bool { return strings.Contains(l.String(), s) }

// Reset forgets what was logged so far.
func (l *Logs) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

// Line is one decoded log line: "time", "level", "msg" and the attributes,
// groups as nested maps, numbers as float64.
type Line map[string]any

// Message returns the line's "msg".
func (l Line) Message() string { s, _ := l["msg"].(string); return s }

// Level returns the line's "level" ("DEBUG", "INFO", "WARN", "ERROR").
func (l Line) Level() string { s, _ := l["level"].(string); return s }

// Attr returns the attribute at path (a key, or keys through groups) and
// whether it is there.
func (l Line) Attr(path ...string) (any, bool) {
	var v any = map[string]any(l)
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// Lines decodes every line logged so far. A line that is not JSON fails
// the test: the handler never writes one.
func (l *Logs) Lines(t testing.TB) []Line {
	t.Helper()
	text := strings.TrimSpace(l.String())
	if text == "" {
		return nil
	}
	var out []Line
	for raw := range strings.SplitSeq(text, "\n") {
		var line Line
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", raw, err)
		}
		out = append(out, line)
	}
	return out
}

// Find returns the lines whose message is msg, in the order logged.
func (l *Logs) Find(t testing.TB, msg string) []Line {
	t.Helper()
	var out []Line
	for _, line := range l.Lines(t) {
		if line.Message() == msg {
			out = append(out, line)
		}
	}
	return out
}

// FindAttr returns the lines whose attribute key (at the top level) has
// value, compared as JSON would print it: FindAttr(t, "status", 503) finds
// "status":503.
func (l *Logs) FindAttr(t testing.TB, key string, value any) []Line {
	t.Helper()
	want, err := json.Marshal(value)
	if err != nil {
		t.Fatalf("FindAttr value %v: %v", value, err)
	}
	var out []Line
	for _, line := range l.Lines(t) {
		v, ok := line[key]
		if !ok {
			continue
		}
		if got, err := json.Marshal(v); err == nil && bytes.Equal(got, want) {
			out = append(out, line)
		}
	}
	return out
}
