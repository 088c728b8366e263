package schedulerfn_test

import (
	"testing"

	"github.com/hubsend/hubsend/internal/configstore"
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
	target, connections := testkit.LocalTarget(t)
	stack := testkit.Emulators(t)
	table, queues := testkit.Table(t), testkit.Queues(t)
	d, err := wiring.New(wiring.Env{TableName: table, SyncQueueURL: queues.SyncURL, MasterKey: testkit.MasterKey()},
		wiring.Clients{DynamoDB: stack.DynamoDB(), SQS: stack.SQS()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := configstore.New(stack.DynamoDB(), table, testkit.Box(t))
	if _, err := store.PutConnection(t.Context(), configstore.Connection{
		Workspace: "ws1", ContacthubBaseURL: target + "/hub/v1",
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
	if n := connections(); n != 0 {
		t.Errorf("the scheduler connected %d times to %s, a name of this machine", n, target)
	}
}
