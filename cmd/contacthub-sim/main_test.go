package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	env := map[string]string{"CONTACTHUB_SIM_LISTEN": "127.0.0.1:9999", "CONTACTHUB_SIM_LOG_FORMAT": "json"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr bool
	}{
		{"environment", nil, "127.0.0.1:9999", false},
		{"flag wins", []string{"-listen", "127.0.0.1:1"}, "127.0.0.1:1", false},
		{"bad format", []string{"-log-format", "xml"}, "", true},
		{"bad demo", []string{"-demo-customers", "-3"}, "", true},
		{"bad level", []string{"-log-level", "loud"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, getenv, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && c.listen != tt.want {
				t.Errorf("listen = %q, want %q", c.listen, tt.want)
			}
		})
	}
}

// TestRunServesAndSavesState starts the simulator on a free port with the
// test seed, creates a customer, stops it and checks the state file.
func TestRunServesAndSavesState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	seed := filepath.Join("..", "..", "internal", "simulators", "hubsim", "testdata", "seed.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer // slog's handlers serialise writes; read only after run returns
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-seed", seed, "-state", state, "-log-format", "json"},
			func(string) string { return "" }, &logs, func(a string) { addrs <- a })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the simulator did not start")
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/hub/v1/workspaces/ws-test/customers",
		strings.NewReader(`{"nodeId":"9d57e0e4-42cd-4b84-9eab-7dc28fb5a220","base":{"firstName":"Piero"}}`))
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the simulator did not stop")
	}
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "Piero") || strings.Contains(logs.String(), "test-token") {
		t.Errorf("state lacks the new customer or logs leak the token")
	}
}
