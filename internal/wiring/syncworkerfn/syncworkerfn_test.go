package syncworkerfn_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
)

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"TABLE_NAME":           "hubsend",
		"HUBSEND_MASTER_KEY":   base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"CONTACTSEND_ENDPOINT": "http://127.0.0.1:1/soap/services",
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if _, err := syncworkerfn.FromEnv(context.Background(), func(k string) string { return env[k] }); err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if _, err := syncworkerfn.FromEnv(context.Background(), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "TABLE_NAME") {
		t.Fatalf("FromEnv without environment = %v, want a TABLE_NAME error", err)
	}
}

// TestWorkerReachesNoLocalHost: the worker reads the Contacthub a
// workspace admin chose, and what it meets there shows in failed records;
// outside a local stack it never connects to this machine, and in one
// (HUBSEND_ALLOW_INSECURE_HUB) it does.
func TestWorkerReachesNoLocalHost(t *testing.T) {
	var connections atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connections.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(local.Close)
	conn := configstore.Connection{Workspace: "ws1", ContacthubBaseURL: local.URL + "/hub/v1", ContacthubWorkspaceID: "hub-ws", ContacthubToken: "hub-token"}
	for _, allow := range []bool{false, true} {
		d, err := wiring.New(wiring.Env{TableName: "hubsend", MasterKey: make([]byte, 32), AllowInsecureHub: allow},
			wiring.Clients{DynamoDB: dynamodb.NewFromConfig(aws.Config{Region: "eu-west-1"})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		hub, err := syncworkerfn.Config(d).Hub(conn)
		if err != nil {
			t.Fatal(err)
		}
		before := connections.Load()
		hub.Customer(t.Context(), "c1") // fails either way: no such customer, or refused
		if got := connections.Load() - before; (got > 0) != allow {
			t.Errorf("allow insecure hosts %v: %d connections to this machine", allow, got)
		}
	}
}
