package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
)

// countingDB decorates the real DynamoDB client, counting requests by
// operation and item kind (the pk prefix), so tests can hold the worker to
// its request budget.
type countingDB struct {
	db     ledger.DynamoDB
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingDB) count(op string, key map[string]types.AttributeValue, values map[string]types.AttributeValue) {
	kind := "?"
	pk, _ := key["pk"].(*types.AttributeValueMemberS)
	if pk == nil {
		pk, _ = values[":pk"].(*types.AttributeValueMemberS)
	}
	if pk != nil {
		kind, _, _ = strings.Cut(pk.Value, "#")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[op+" "+kind]++
}

// Take returns the counts since the last Take and starts again.
func (c *countingDB) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = make(map[string]int)
	return out
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.count("GetItem", in.Key, nil)
	return c.db.GetItem(ctx, in, opts...)
}

func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem", in.Item, nil)
	return c.db.PutItem(ctx, in, opts...)
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.count("UpdateItem", in.Key, nil)
	return c.db.UpdateItem(ctx, in, opts...)
}

func (c *countingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.count("DeleteItem", in.Key, nil)
	return c.db.DeleteItem(ctx, in, opts...)
}

func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count("Query", nil, in.ExpressionAttributeValues)
	return c.db.Query(ctx, in, opts...)
}

// logBuffer collects JSON log lines from concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Lines returns the decoded log lines with the given message.
func (b *logBuffer) Lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	hubWorkspace = "hub-ws"
	hubToken     = "hub-token"
	workspace    = "acme"
	userDB       = 101
)

// harness is one test's world: its own table, simulators and worker.
type harness struct {
	t       *testing.T
	db      *countingDB
	store   *configstore.Store
	ledger  *ledger.Store
	trail   *history.Store
	hub     *hubsim.Server
	send    *sendsim.Server
	worker  *Worker
	config  Config // the worker's
	logs    *logBuffer
	src     source.Source
	sendURL string // the Contactsend simulator's SOAP endpoint
	table   string
	node    string // the source's entry node
	other   string // another entry node
	agg     string // an aggregate of both
	message atomic.Int64
	// skew moves the worker's clock ahead of real time (past claims).
	skew atomic.Int64
}

// now is the worker's clock: real time plus what the test skipped.
func (h *harness) now() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }

// skip moves the worker's clock forward, e.g. past an add claim.
func (h *harness) skip(d time.Duration) { h.skew.Add(int64(d)) }

func instant(ctx context.Context, d time.Duration) error { return ctx.Err() }

func newHarness(t *testing.T, configure ...func(*source.Source)) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, logs: &logBuffer{}}
	table := testkit.Table(t)
	h.table = table
	h.db = &countingDB{db: testkit.Emulators(t).DynamoDB(), counts: make(map[string]int)}
	keys, err := secret.NewLocalKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h.store = configstore.New(h.db, table, secret.NewBox(keys))
	h.ledger = ledger.New(h.db, table)
	h.trail = history.New(h.db, table)

	demo := hubsim.DemoSeed(hubsim.DemoOptions{WorkspaceID: hubWorkspace, Token: hubToken, Customers: 1, RandomSeed: 1})
	demo.Workspaces[0].Customers = nil
	h.hub = hubsim.New(hubsim.Options{Seed: demo, RandomSeed: 1})
	ws := demo.Workspaces[0]
	h.node, h.other, h.agg = ws.EntryNodes[0].ID, ws.EntryNodes[1].ID, ws.AggregateNodes[0].ID
	hubServer := httptest.NewServer(h.hub)
	t.Cleanup(hubServer.Close)

	seed, err := sendsim.LoadSeed(filepath.Join("testdata", "sendsim.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.send = sendsim.New(sendsim.Options{Seed: seed, FaultSeed: 1})
	sendServer := httptest.NewServer(h.send)
	t.Cleanup(sendServer.Close)
	h.sendURL = sendServer.URL + sendsim.ServicePath

	fast := retry.Policy{Attempts: 4, Sleep: instant}
	send, err := contactsend.New(contactsend.Config{Endpoint: sendServer.URL + sendsim.ServicePath, Retry: fast, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.PutConnection(ctx, configstore.Connection{
		Workspace: workspace, ContacthubBaseURL: hubServer.URL + "/hub/v1", ContacthubWorkspaceID: hubWorkspace, ContacthubToken: hubToken,
	}); err != nil {
		t.Fatal(err)
	}
	h.src = source.Source{
		ID: "src1", WorkspaceID: workspace, Name: "Newsletter", Nodes: []string{h.node}, Enabled: true,
		Properties: source.Properties{
			APIKey: "test-api-key", UserKey: "test-user-key", UserDBID: userDB,
			FieldMapping: []source.FieldMapping{
				{HubField: "base.contacts.email", SendField: "EMAIL", Match: true},
				{HubField: "base.firstName", SendField: "FIRST_NAME"},
				{HubField: "base.lastName", SendField: "LAST_NAME", ClearOnNull: true},
				{HubField: "base.dob", SendField: "BIRTH_DATE"},
				{HubField: "extended.lastPurchaseAt", SendField: "REGISTERED_AT"},
				{HubField: "extended.loyaltyPoints", SendField: "LOYALTY_POINTS"},
				{HubField: "extended.vip", SendField: "VIP"},
				{HubField: "extended.favouriteShop", SendField: "SHOP"},
			},
		},
	}
	for _, c := range configure {
		c(&h.src)
	}
	if h.src, err = h.store.Create(ctx, h.src); err != nil {
		t.Fatal(err)
	}

	h.config = Config{
		Sources: h.store,
		Ledger:  h.ledger,
		Hub: func(conn configstore.Connection) (Hub, error) {
			return contacthub.New(contacthub.Config{BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken, Retry: fast, Timeout: 5 * time.Second})
		},
		Send:    send,
		History: h.trail,
		Clock:   h.now,
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	h.worker = h.newWorker()
	return h
}

// newWorker returns a worker on the harness's world, its configuration
// changed by configure.
func (h *harness) newWorker(configure ...func(*Config)) *Worker {
	h.t.Helper()
	cfg := h.config
	for _, c := range configure {
		c(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

// customer is a Contacthub customer of the source's node.
func (h *harness) customer(email, first string, extra map[string]any) map[string]any {
	c := map[string]any{
		"nodeId": h.node,
		"base": map[string]any{
			"firstName": first, "lastName": "Rossi", "dob": "1980-05-17",
			"contacts": map[string]any{"email": email},
		},
		"extended": map[string]any{"loyaltyPoints": 120, "vip": true, "favouriteShop": "Milano", "lastPurchaseAt": "2024-03-09T11:31:31.842+0100"},
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// put creates or replaces a customer in the Contacthub simulator.
func (h *harness) put(c map[string]any) string {
	h.t.Helper()
	stored, err := h.hub.PutCustomer(hubWorkspace, c)
	if err != nil {
		h.t.Fatalf("put customer: %v", err)
	}
	c["id"] = stored["id"]
	return stored["id"].(string)
}

// event builds an SQS batch with one message per job.
func (h *harness) event(js ...jobs.Job) events.SQSEvent {
	var ev events.SQSEvent
	for _, j := range js {
		if j.SourceID == "" {
			j.SourceID = h.src.ID
		}
		if j.Reason == "" {
			j.Reason = jobs.FromWebhook
		}
		body, err := j.Encode()
		if err != nil {
			h.t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("msg-%d", h.message.Add(1)), Body: body, EventSource: "aws:sqs",
		})
	}
	return ev
}

// sync runs one batch with a job per customer and returns the ids of the
// messages given back to SQS.
func (h *harness) sync(customerIDs ...string) []string {
	h.t.Helper()
	var js []jobs.Job
	for _, id := range customerIDs {
		js = append(js, jobs.Job{CustomerID: id})
	}
	return h.handle(h.event(js...))
}

func (h *harness) handle(ev events.SQSEvent) []string {
	h.t.Helper()
	resp, err := h.worker.HandleSQS(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("HandleSQS: %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// subscribers returns the userdb's subscribers holding email.
func (h *harness) subscribers(email string) []sendsim.Subscriber {
	h.t.Helper()
	all, err := h.send.Subscribers(userDB)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []sendsim.Subscriber
	for _, s := range all {
		if s.Attributes["EMAIL"] == email {
			out = append(out, s)
		}
	}
	return out
}

// only returns the single subscriber holding email.
func (h *harness) only(email string) sendsim.Subscriber {
	h.t.Helper()
	subs := h.subscribers(email)
	if len(subs) != 1 {
		h.t.Fatalf("%d subscribers hold %s, want 1: %+v", len(subs), email, subs)
	}
	return subs[0]
}

func (h *harness) entry(customerID string) ledger.Entry {
	h.t.Helper()
	e, err := h.ledger.Get(context.Background(), h.src.ID, customerID)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// calls returns the Contactsend operations served since the last call,
// without the token handshake.
func (h *harness) calls() map[string]int {
	counts := h.send.Calls().Counts()
	h.send.Calls().Reset()
	delete(counts, "borrowToken")
	delete(counts, "keepaliveToken")
	return counts
}

// replaceSource stores a changed copy of the source.
func (h *harness) replaceSource(change func(*source.Source)) {
	h.t.Helper()
	updated := h.src
	change(&updated)
	var err error
	if h.src, err = h.store.Replace(context.Background(), updated, h.src.Version); err != nil {
		h.t.Fatalf("replace source: %v", err)
	}
}

// synced puts a customer and syncs it once.
func (h *harness) synced(email, first string) (map[string]any, string) {
	h.t.Helper()
	c := h.customer(email, first, nil)
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		h.t.Fatalf("first sync of %s given back: %v", email, failed)
	}
	return c, id
}

// rename changes the customer's first name in Contacthub.
func (h *harness) rename(c map[string]any, first string) {
	h.t.Helper()
	c["base"].(map[string]any)["firstName"] = first
	h.put(c)
}

// syncOn runs a batch on w, as another worker would, even from inside a
// job of the harness's worker.
func (h *harness) syncOn(w *Worker, customerIDs ...string) []string {
	h.t.Helper()
	own := h.worker
	h.worker = w
	defer func() { h.worker = own }()
	return h.sync(customerIDs...)
}
