package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/bench"
	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
)

const (
	hubWorkspace = "hub-ws"
	hubToken     = "hub-token"
)

// sender is the real queue with a switch to fail sends and a hook that runs
// before a send, to act out crashes and slow runs.
type sender struct {
	queue *jobs.Queue

	mu       sync.Mutex
	failNext int
	before   func()
}

func (s *sender) Send(ctx context.Context, batch ...jobs.Job) error {
	s.mu.Lock()
	hook := s.before
	s.before = nil
	fail := s.failNext > 0
	if fail {
		s.failNext--
	}
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	if fail {
		return fmt.Errorf("sqs unavailable (test)")
	}
	return s.queue.Send(ctx, batch...)
}

func (s *sender) failOnce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext++
}

func (s *sender) beforeNext(hook func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = hook
}

// harness is one test's world: its own table and queues, a configuration
// store, a Contacthub simulator and a scheduler.
type harness struct {
	t           *testing.T
	clock       *testkit.Clock
	store       *configstore.Store
	checkpoints *checkpoint.Store
	queueURL    string
	tickURL     string // the source tick queue, for tests that fan out
	hub         *hubsim.Server
	hubURL      string
	client      *contacthub.Client
	sender      *sender
	config      scheduler.Config
	sched       *scheduler.Scheduler
	userDBs     int64
}

// options shape a harness.
type options struct {
	// extraItalians are customers added to the seed's italy node.
	extraItalians int
	configure     func(*scheduler.Config)
	// dynamo is the DynamoDB client of the store and checkpoints; nil
	// means the emulator's.
	dynamo *bench.CountingDynamoDB
}

func instant(context.Context, time.Duration) error { return nil }

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	h := &harness{t: t, clock: testkit.NewClock(time.Date(2026, 11, 27, 9, 32, 0, 0, time.UTC))}
	table := testkit.Table(t)
	var db configstore.DynamoDB = testkit.Emulators(t).DynamoDB()
	if o.dynamo != nil {
		db = o.dynamo
	}
	h.store = configstore.New(db, table, testkit.Box(t), configstore.WithClock(h.clock.Now))
	h.checkpoints = checkpoint.New(db, table)
	queues := testkit.Queues(t)
	h.queueURL, h.tickURL = queues.SyncURL, queues.TickURL

	h.hub, h.hubURL = newHub(t, h.clock, o.extraItalians)
	h.client = hubClient(t, h.hubURL, hubToken)
	h.connect("ws1", h.hubURL, hubToken)

	h.sender = &sender{queue: jobs.NewQueue(testkit.Emulators(t).SQS(), h.queueURL).WithRetry(retry.Policy{Attempts: 2, Sleep: instant})}
	h.config = scheduler.Config{
		Sources: h.store,
		Hub: func(conn configstore.Connection) (scheduler.Hub, error) {
			return contacthub.New(contacthub.Config{
				BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken,
				Retry: retry.Policy{Attempts: 3, Sleep: instant},
			})
		},
		Checkpoints: h.checkpoints,
		Jobs:        h.sender,
		// Sources without subscription rows never reach Contactsend or the
		// ledger; the reconciliation tests configure their own.
		Send:   newSend(t, sendsim.Seed{}),
		Ledger: ledger.New(testkit.Emulators(t).DynamoDB(), table),
		Now:    h.clock.Now,
	}
	if o.configure != nil {
		o.configure(&h.config)
	}
	h.sched = newScheduler(t, h.config)
	return h
}

// newScheduler is scheduler.New for a complete configuration.
func newScheduler(t *testing.T, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newSend starts a Contactsend simulator on seed and returns a client of it.
func newSend(t *testing.T, seed sendsim.Seed) *contactsend.Client {
	t.Helper()
	server := httptest.NewServer(sendsim.New(sendsim.Options{Seed: seed}))
	t.Cleanup(server.Close)
	client, err := contactsend.New(contactsend.Config{Endpoint: server.URL + sendsim.ServicePath, Retry: retry.Policy{Attempts: 2, Sleep: instant}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// newHub starts a simulator on the testdata seed.
func newHub(t *testing.T, c *testkit.Clock, extraItalians int) (*hubsim.Server, string) {
	t.Helper()
	seed, err := hubsim.LoadSeed("testdata/hub.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range extraItalians {
		doc, _ := json.Marshal(map[string]any{
			"id": fmt.Sprintf("it-x%03d", i), "nodeId": "italy",
			"registeredAt": time.Date(2026, 2, 1, 0, 0, i, 0, time.UTC).Format(contacthub.TimeLayout),
			"base":         map[string]any{"firstName": "Cliente", "contacts": map[string]any{"email": fmt.Sprintf("cliente%03d@example.it", i)}},
		})
		seed.Workspaces[0].Customers = append(seed.Workspaces[0].Customers, doc)
	}
	hub := hubsim.New(hubsim.Options{Seed: seed, Clock: c.Now, RandomSeed: 42})
	server := httptest.NewServer(hub)
	t.Cleanup(server.Close)
	return hub, server.URL + "/hub/v1"
}

func hubClient(t *testing.T, baseURL, token string) *contacthub.Client {
	t.Helper()
	c, err := contacthub.New(contacthub.Config{BaseURL: baseURL, WorkspaceID: hubWorkspace, Token: token, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connect points a hubsend workspace at a Contacthub simulator.
func (h *harness) connect(workspace, baseURL, token string) {
	h.t.Helper()
	_, err := h.store.PutConnection(context.Background(), configstore.Connection{
		Workspace: workspace, ContacthubBaseURL: baseURL, ContacthubWorkspaceID: hubWorkspace, ContacthubToken: token,
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// addSource stores a source of workspace on node.
func (h *harness) addSource(id, workspace, node string, enabled bool) {
	h.t.Helper()
	h.userDBs++
	_, err := h.store.Create(context.Background(), source.Source{
		ID: id, WorkspaceID: workspace, Name: "Source " + id, Nodes: []string{node}, Enabled: enabled,
		Properties: source.Properties{
			UserKey: "user-key", APIKey: "api-key-" + workspace, UserDBID: h.userDBs,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// tick runs one tick with the harness's scheduler.
func (h *harness) tick() scheduler.Report {
	h.t.Helper()
	return tickWith(h.t, h.sched, context.Background())
}

func tickWith(t *testing.T, s *scheduler.Scheduler, ctx context.Context) scheduler.Report {
	t.Helper()
	report, err := s.Tick(ctx)
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return report
}

// report returns a source's report, failing when the tick did not list it.
func report(t *testing.T, r scheduler.Report, id string) scheduler.SourceReport {
	t.Helper()
	rep, ok := r.Source(id)
	if !ok {
		t.Fatalf("tick did not report source %s: %+v", id, r)
	}
	return rep
}

// drain receives and deletes every job in the sync queue.
func (h *harness) drain() []jobs.Job {
	h.t.Helper()
	ctx := context.Background()
	var out []jobs.Job
	for {
		res, err := testkit.Emulators(h.t).SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(h.queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 300,
		})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		var entries []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range res.Messages {
			job, err := jobs.Decode(aws.ToString(m.Body))
			if err != nil {
				h.t.Fatal(err)
			}
			out = append(out, job)
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := testkit.Emulators(h.t).SQS().DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(h.queueURL), Entries: entries}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// customers lists the customer ids of jobs, sorted, checking their source
// and reason.
func customers(t *testing.T, batch []jobs.Job, sourceID string, reason jobs.Reason) []string {
	t.Helper()
	ids := make([]string, 0, len(batch))
	for _, j := range batch {
		if j.SourceID != sourceID || j.Reason != reason {
			t.Errorf("job %+v, want source %s and reason %s", j, sourceID, reason)
		}
		ids = append(ids, j.CustomerID)
	}
	slices.Sort(ids)
	return ids
}

// feed returns the source's feed checkpoint, failing when there is none.
func (h *harness) feed(id string) checkpoint.Feed {
	h.t.Helper()
	f, found, err := h.checkpoints.Feed(context.Background(), id)
	if err != nil || !found {
		h.t.Fatalf("feed checkpoint of %s: found %v, %v", id, found, err)
	}
	return f
}

func (h *harness) backfill(id string) checkpoint.Backfill {
	h.t.Helper()
	b, found, err := h.checkpoints.Backfill(context.Background(), id)
	if err != nil || !found {
		h.t.Fatalf("backfill checkpoint of %s: found %v, %v", id, found, err)
	}
	return b
}

// change updates a customer's first name through the API.
func (h *harness) change(id, firstName string) {
	h.t.Helper()
	h.clock.Advance(time.Second)
	if _, err := h.client.PatchCustomer(context.Background(), id, map[string]any{"base": map[string]any{"firstName": firstName}}); err != nil {
		h.t.Fatalf("patch %s: %v", id, err)
	}
}

// create adds a customer to node through the API and returns its id.
func (h *harness) create(node, email string) string {
	h.t.Helper()
	h.clock.Advance(time.Second)
	c, err := h.client.CreateCustomer(context.Background(), contacthub.Customer{
		NodeID: node, Base: &contacthub.Base{FirstName: "New", Contacts: &contacthub.Contacts{Email: email}},
	})
	if err != nil {
		h.t.Fatalf("create in %s: %v", node, err)
	}
	return c.ID
}
