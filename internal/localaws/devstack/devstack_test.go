package devstack_test

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
)

func TestStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	// The identity provider keeps its address, as make run's does (the
	// issuer is part of every token).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	oidcAddr := ln.Addr().String()
	ln.Close()
	stack, err := devstack.Start(t.Context(), devstack.Options{DataDir: dir, DemoCustomers: 20, OIDCAddr: oidcAddr})
	if err != nil {
		t.Fatal(err)
	}
	token := stack.APIToken
	status, ws := stack.CallT(t, "GET", "/v1/workspace", nil)
	if status != 200 || ws["contacthub"] == nil {
		t.Fatalf("workspace: %d %v", status, ws)
	}
	customers := len(stack.Hub.Customers(devstack.DemoHubWorkspace))
	if customers != 20 {
		t.Fatalf("demo has %d customers, want 20", customers)
	}
	if _, err := stack.Hub.PutCustomer(devstack.DemoHubWorkspace, map[string]any{
		"nodeId": stack.Hub.Customers(devstack.DemoHubWorkspace)[0]["nodeId"],
		"base":   map[string]any{"firstName": "Nuova", "contacts": map[string]any{"email": "nuova@example.com"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := stack.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := devstack.Start(t.Context(), devstack.Options{DataDir: dir, DemoCustomers: 20, OIDCAddr: oidcAddr})
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	defer again.Close()
	if again.APIToken != token {
		t.Errorf("API token changed across restarts")
	}
	if n := len(again.Hub.Customers(devstack.DemoHubWorkspace)); n != 21 {
		t.Errorf("after restart the Contacthub simulator has %d customers, want 21", n)
	}
	if status, _ := again.CallT(t, "GET", "/v1/sources", nil); status != 200 {
		t.Errorf("list after restart: %d", status)
	}
}

func TestBusyPortIsAClearError(t *testing.T) {
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	addr := strings.TrimPrefix(stack.APIURL, "http://")
	_, err = devstack.Start(t.Context(), devstack.Options{APIAddr: addr, DemoCustomers: 1})
	if err == nil || !strings.Contains(err.Error(), "HUBSEND_API_ADDR") {
		t.Fatalf("second stack on a busy port: %v, want an error naming HUBSEND_API_ADDR", err)
	}
}

// TestExternalServices runs the stack against services it did not start, as
// it would against the real Contacthub and Contactsend: here two simulators
// on their own servers stand in for them.
func TestExternalServices(t *testing.T) {
	hub := hubsim.New(hubsim.Options{Seed: hubsim.DemoSeed(hubsim.DemoOptions{WorkspaceID: "acme", Token: "acme-token", Customers: 3})})
	hubServer := httptest.NewServer(hub)
	defer hubServer.Close()
	send := sendsim.New(sendsim.Options{Seed: sendsim.Seed{
		Accounts: []sendsim.Account{{APIKey: "acme-api-key-0001", UserKey: "acme-user-key-0001", UserDBs: []int64{7}}},
		UserDBs:  []sendsim.UserDB{{ID: 7, Name: "Acme", Fields: []sendsim.Field{{Name: "EMAIL", Type: "STRING", EmailField: true}}}},
	}})
	sendServer := httptest.NewServer(send)
	defer sendServer.Close()

	stack, err := devstack.Start(t.Context(), devstack.Options{
		Contacthub:          &devstack.Contacthub{BaseURL: hubServer.URL + "/hub/v1", WorkspaceID: "acme", Token: "acme-token"},
		ContactsendEndpoint: sendServer.URL + "/soap/services",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	if stack.Hub != nil || stack.Send != nil {
		t.Fatal("simulators started although real services were configured")
	}
	status, body := stack.CallT(t, "POST", "/v1/field-options", json.RawMessage(`{"properties":{"apiKey":"acme-api-key-0001","userKey":"acme-user-key-0001","userDbId":7}}`))
	if status != 200 || body["userDb"].(map[string]any)["name"] != "Acme" {
		t.Fatalf("field options through the external services: %d %v", status, body)
	}
	if hub.Calls().Total() == 0 || send.Calls().Total() == 0 {
		t.Errorf("the external services were not called: hub %d, send %d", hub.Calls().Total(), send.Calls().Total())
	}
}
