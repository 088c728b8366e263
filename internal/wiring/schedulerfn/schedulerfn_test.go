package schedulerfn_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
)

// world is the scheduler function built from its environment, as Lambda
// does, on the emulators, with one enabled source on a simulated Contacthub.
type world struct {
	t       *testing.T
	hub     *hubsim.Server
	handler schedulerfn.Handler
	// source is the source tick function, fed from the tick queue.
	source schedulerfn.SourceHandler
	event  events.EventBridgeEvent
	sqs    *sqs.Client
	queue  string
	ticks  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	data, err := os.ReadFile("../../../events/scheduler.json")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t}
	if err := json.Unmarshal(data, &w.event); err != nil {
		t.Fatal(err)
	}
	if w.event.DetailType != "Scheduled Event" || w.event.Source != "aws.events" || len(w.event.Resources) != 1 {
		t.Fatalf("sample event is not a scheduled event: %+v", w.event)
	}

	stack := testkit.Emulators(t)
	table := testkit.Table(t)
	queues := testkit.Queues(t)
	w.sqs, w.queue, w.ticks = stack.SQS(), queues.SyncURL, queues.TickURL
	for _, kv := range stack.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	env := map[string]string{
		"TABLE_NAME":            table,
		"SYNC_QUEUE_URL":        w.queue,
		"SOURCE_TICK_QUEUE_URL": w.ticks,
		"HUBSEND_MASTER_KEY":    testkit.MasterKeyBase64(),
		"LOG_LEVEL":             "ERROR",
		// The simulated Contacthub listens on this machine.
		"HUBSEND_ALLOW_INSECURE_HUB": "true",
	}

	// A source on a simulated Contacthub, stored as the config API would.
	seed, err := hubsim.ParseSeed([]byte(`{"workspaces":[{"id":"hub-ws","tokens":["hub-token"],"entryNodes":[{"id":"italy","name":"Italia"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	w.hub = hubsim.New(hubsim.Options{Seed: seed, RandomSeed: 1})
	server := httptest.NewServer(w.hub)
	t.Cleanup(server.Close)
	store := configstore.New(stack.DynamoDB(), table, testkit.Box(t))
	if _, err := store.PutConnection(ctx, configstore.Connection{
		Workspace: "ws1", ContacthubBaseURL: server.URL + "/hub/v1", ContacthubWorkspaceID: "hub-ws", ContacthubToken: "hub-token",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, source.Source{
		ID: "s1", WorkspaceID: "ws1", Name: "Italia", Nodes: []string{"italy"}, Enabled: true,
		Properties: source.Properties{
			UserKey: "user-key", APIKey: "api-key", UserDBID: 1,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if w.handler, err = schedulerfn.FromEnv(ctx, func(name string) string { return env[name] }); err != nil {
		t.Fatal(err)
	}
	// The source tick function's environment has no tick queue.
	delete(env, "SOURCE_TICK_QUEUE_URL")
	if w.source, err = schedulerfn.SourceFromEnv(ctx, func(name string) string { return env[name] }); err != nil {
		t.Fatal(err)
	}
	w.invoke() // starts the feed at its end
	return w
}

// invoke runs the scheduled tick on the sample event, then the source tick
// function on each tick it sent, one message per invocation, as the tick
// queue's event source mapping does. Each scheduled tick gets the time it
// runs at, as EventBridge's events do.
func (w *world) invoke() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), time.Minute)
	defer cancel()
	w.event.Time = time.Now().UTC()
	if err := w.handler(ctx, w.event); err != nil {
		w.t.Fatalf("handler: %v", err)
	}
	if n := w.runTicks(ctx); n != 1 {
		w.t.Fatalf("the scheduled tick sent %d ticks, want 1 (one enabled source)", n)
	}
}

// runTicks plays the tick queue's event source mapping until the queue is
// empty and returns how many ticks ran.
func (w *world) runTicks(ctx context.Context) int {
	w.t.Helper()
	ran := 0
	for {
		out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.ticks), MaxNumberOfMessages: 1})
		if err != nil {
			w.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return ran
		}
		m := out.Messages[0]
		resp, err := w.source(ctx, events.SQSEvent{Records: []events.SQSMessage{{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), EventSource: "aws:sqs",
		}}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			w.t.Fatalf("source tick: %+v, %v", resp, err)
		}
		if _, err := w.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.ticks), ReceiptHandle: m.ReceiptHandle}); err != nil {
			w.t.Fatal(err)
		}
		ran++
	}
}

// newCustomer adds a customer to the node and returns its id.
func (w *world) newCustomer() string {
	w.t.Helper()
	created, err := w.hub.PutCustomer("hub-ws", map[string]any{"nodeId": "italy", "base": map[string]any{"firstName": "Giulia"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return created["id"].(string)
}

// jobs receives the jobs in the sync queue.
func (w *world) jobs() []jobs.Job {
	w.t.Helper()
	out, err := w.sqs.ReceiveMessage(w.t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queue), MaxNumberOfMessages: 10})
	if err != nil {
		w.t.Fatal(err)
	}
	var got []jobs.Job
	for _, m := range out.Messages {
		job, err := jobs.Decode(aws.ToString(m.Body))
		if err != nil {
			w.t.Fatal(err)
		}
		got = append(got, job)
	}
	return got
}

// TestHandlerPollsTheFeed runs the function on the sample EventBridge event.
func TestHandlerPollsTheFeed(t *testing.T) {
	w := newWorld(t)
	created := w.newCustomer()
	w.invoke()
	got := w.jobs()
	if len(got) != 1 || got[0].SourceID != "s1" || got[0].CustomerID != created || got[0].Reason != jobs.FromFeed {
		t.Fatalf("queue holds %+v, want one feed job for %s", got, created)
	}
}

// A Contacthub outage must not eat the tick: the function tries HubRetry's
// attempts, then leaves the change to the next tick.
func TestHandlerRetriesContacthubThenLeavesItToTheNextTick(t *testing.T) {
	w := newWorld(t)
	reads := func() int { return w.hub.Calls().Counts()["updates.get"] }
	fail := func(times int) {
		t.Helper()
		if _, err := w.hub.Faults().Add(faults.Rule{Operation: "updates.get", Kind: faults.Status, Status: 503, Count: times}); err != nil {
			t.Fatal(err)
		}
	}
	attempts := schedulerfn.HubRetry.Attempts

	first := w.newCustomer()
	fail(attempts - 1)
	before := reads()
	w.invoke()
	if got := w.jobs(); len(got) != 1 || got[0].CustomerID != first {
		t.Fatalf("after %d failed reads the tick enqueued %+v, want %s", attempts-1, got, first)
	}
	if n := reads() - before; n != attempts {
		t.Fatalf("the tick read the feed %d times, want %d", n, attempts)
	}

	second := w.newCustomer()
	fail(attempts)
	before = reads()
	w.invoke()
	if n := reads() - before; n != attempts {
		t.Fatalf("during an outage the tick read the feed %d times, want %d (HubRetry)", n, attempts)
	}
	if got := w.jobs(); len(got) != 0 {
		t.Fatalf("during an outage the tick enqueued %+v", got)
	}
	w.invoke()
	if got := w.jobs(); len(got) != 1 || got[0].CustomerID != second {
		t.Fatalf("the next tick enqueued %+v, want %s", got, second)
	}
}

func TestFromEnvRefusesAnIncompleteEnvironment(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "t", "HUBSEND_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32))}
	getenv := func(name string) string { return env[name] }
	_, err := schedulerfn.FromEnv(context.Background(), getenv)
	if err == nil || !strings.Contains(err.Error(), "SYNC_QUEUE_URL") || !strings.Contains(err.Error(), "SOURCE_TICK_QUEUE_URL") {
		t.Fatalf("FromEnv without SYNC_QUEUE_URL and SOURCE_TICK_QUEUE_URL = %v", err)
	}
	if _, err := schedulerfn.SourceFromEnv(context.Background(), getenv); err == nil || !strings.Contains(err.Error(), "SYNC_QUEUE_URL") {
		t.Fatalf("SourceFromEnv without SYNC_QUEUE_URL = %v", err)
	}
}

// TestSourceHandlerRefusesWhatIsNotATick: a message that is not a tick
// fails (to reach the dead-letter queue), and so do those after it in the
// batch, as a FIFO queue's order requires; a tick of a source that no
// longer exists is done.
func TestSourceHandlerRefusesWhatIsNotATick(t *testing.T) {
	w := newWorld(t)
	data, err := os.ReadFile("../../../events/sourcetick-sqs.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample events.SQSEvent
	if err := json.Unmarshal(data, &sample); err != nil {
		t.Fatal(err)
	}
	good := sample.Records[0]
	bad := good
	bad.MessageId, bad.Body = "bad", `{"sourceId":"s1"}`
	after := good
	after.MessageId = "after"
	resp, err := w.source(t.Context(), events.SQSEvent{Records: []events.SQSMessage{good, bad, after}})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if strings.Join(failed, ",") != "bad,after" {
		t.Fatalf("failed items %v, want bad and after (the sample tick's unknown source is done)", failed)
	}
}
