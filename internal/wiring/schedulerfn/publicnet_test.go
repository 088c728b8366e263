package schedulerfn_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/publicnet"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
)

// TestSchedulerReachesNoLocalHost: the scheduler reads the Contacthub a
// workspace admin chose, and its errors show in the source's status. A
// base URL whose name resolves to this machine passed the config API's
// check of the name; the scheduler must still never connect there.
func TestSchedulerReachesNoLocalHost(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" || strings.EqualFold(host, "localhost") {
		t.Skip("no host name of this machine to resolve")
	}
	addrs, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip", host)
	if err != nil || len(addrs) == 0 || publicnet.Addr(addrs[0]) {
		t.Skipf("the host name %q does not resolve to an address of this machine: %v %v", host, addrs, err)
	}
	var connections atomic.Int32
	listener, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			conn.Close()
		}
	}()
	stack := testkit.Emulators(t)
	table, queues := testkit.Table(t), testkit.Queues(t)
	d, err := wiring.New(wiring.Env{TableName: table, SyncQueueURL: queues.SyncURL, MasterKey: testkit.MasterKey()},
		wiring.Clients{DynamoDB: stack.DynamoDB(), SQS: stack.SQS()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := configstore.New(stack.DynamoDB(), table, testkit.Box(t))
	if _, err := store.PutConnection(t.Context(), configstore.Connection{
		Workspace: "ws1", ContacthubBaseURL: "https://" + net.JoinHostPort(host, strconv.Itoa(listener.Addr().(*net.TCPAddr).Port)) + "/hub/v1",
		ContacthubWorkspaceID: "hub-ws", ContacthubToken: "hub-token",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(t.Context(), source.Source{
		ID: "s1", WorkspaceID: "ws1", Name: "Italia", Nodes: []string{"italy"}, Enabled: true,
		Properties: source.Properties{
			UserKey: "user-key", APIKey: "api-key", UserDBID: 1,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	s, err := schedulerfn.New(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartBackfill(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	s.Tick(t.Context()) // its errors are the source's, in its status
	if n := connections.Load(); n != 0 {
		t.Errorf("the scheduler connected %d times to %s, a name of this machine", n, host)
	}
}
