package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
	"github.com/hubsend/hubsend/internal/localaws/sqstrigger"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
)

var (
	scaleSources = flag.Int("scheduler.sources", 20, "enabled sources in TestSchedulerReadsEverySourceEveryPeriod")
	scalePeriod  = flag.Duration("scheduler.period", 3*time.Second, "the schedule's period (the template's is 1m)")
	scaleTicks   = flag.Int("scheduler.ticks", 3, "scheduled ticks measured after the first")
	scaleLatency = flag.Duration("scheduler.latency", 50*time.Millisecond, "latency of every Contacthub call (the wire)")
	scaleCompare = flag.Bool("scheduler.compare", false, "also time one tick that works every source in one invocation (before the fan-out)")
)

// feedReads records when each node's change feed was read, as seen by a
// Contacthub simulator.
type feedReads struct {
	mu    sync.Mutex
	reads map[string][]time.Time // by node id
}

func (f *feedReads) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if node := r.URL.Query().Get("nodeId"); node != "" && strings.Contains(r.URL.Path, "/updates") {
			f.mu.Lock()
			f.reads[node] = append(f.reads[node], time.Now())
			f.mu.Unlock()
		}
	})
}

// firstAfter returns the first read of node at or after t.
func (f *feedReads) firstAfter(node string, t time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, at := range f.reads[node] {
		if !at.Before(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// scaleHub starts a Contacthub simulator with one entry node and one
// customer per node name, every call delayed by latency, answering 503 to
// every call when failing.
func scaleHub(t *testing.T, workspace string, nodes []string, latency time.Duration, failing bool, reads *feedReads) (*hubsim.Server, string) {
	t.Helper()
	type node struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	ws := map[string]any{"id": workspace, "tokens": []string{hubToken}}
	var entries []node
	var customers []map[string]any
	for _, n := range nodes {
		entries = append(entries, node{n, n})
		customers = append(customers, map[string]any{
			"id": "c-" + n, "nodeId": n, "registeredAt": "2026-01-01T10:00:00.000+0000",
			"base": map[string]any{"firstName": "Giulia", "contacts": map[string]any{"email": n + "@example.it"}},
		})
	}
	ws["entryNodes"], ws["customers"] = entries, customers
	data, _ := json.Marshal(map[string]any{"workspaces": []any{ws}})
	seed, err := hubsim.ParseSeed(data)
	if err != nil {
		t.Fatal(err)
	}
	hub := hubsim.New(hubsim.Options{Seed: seed, RandomSeed: 1})
	if latency > 0 {
		if _, err := hub.Faults().Add(faults.Rule{Kind: faults.Latency, Latency: latency, Rate: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if failing {
		if _, err := hub.Faults().Add(faults.Rule{Kind: faults.Status, Status: 503, Rate: 1}); err != nil {
			t.Fatal(err)
		}
	}
	server := httptest.NewServer(reads.wrap(hub))
	t.Cleanup(server.Close)
	return hub, server.URL + "/hub/v1"
}

// TestSchedulerReadsEverySourceEveryPeriod measures the fan-out as deployed:
// the scheduler function (schedulerfn) sends a tick per enabled source every
// period, and the template's event source mapping of the tick queue
// (batch size, maximum concurrency, function timeout; played by sqstrigger)
// runs the source tick function on each. Every Contacthub call takes
// -scheduler.latency; one source in twenty has a Contacthub that takes two
// periods per call, and one in twenty one that answers 503 to everything.
// It reports, for the healthy sources, the worst time from a scheduled tick
// to the read of a source's change feed, and fails above one period.
//
// The default is a short version (20 sources, a 3 s period); the
// measurement in BENCHMARKS.md is
//
//	go test ./internal/scheduler/ -run TestSchedulerReadsEverySourceEveryPeriod -v \
//	  -scheduler.sources=200 -scheduler.period=1m -scheduler.ticks=3 -scheduler.latency=100ms
func TestSchedulerReadsEverySourceEveryPeriod(t *testing.T) {
	n, period := *scaleSources, *scalePeriod
	troubled := max(1, n/20)
	healthy := n - 2*troubled
	if healthy <= 0 {
		t.Fatalf("-scheduler.sources=%d leaves no healthy source", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// The sources: healthy ones on one Contacthub workspace, slow and
	// failing ones on workspaces of their own.
	reads := &feedReads{reads: map[string][]time.Time{}}
	names := func(prefix string, count int) []string {
		out := make([]string, count)
		for i := range out {
			out[i] = fmt.Sprintf("%s%03d", prefix, i)
		}
		return out
	}
	groups := []struct {
		workspace string
		nodes     []string
		latency   time.Duration
		failing   bool
	}{
		{"ws-healthy", names("node", healthy), *scaleLatency, false},
		{"ws-slow", names("slow", troubled), 2 * period, false},
		{"ws-failing", names("failing", troubled), *scaleLatency, true},
	}
	hubs := map[string]*hubsim.Server{}

	table := testkit.Table(t)
	queues := testkit.Queues(t)
	d, err := wiring.New(wiring.Env{
		TableName: table, SyncQueueURL: queues.SyncURL, TickQueueURL: queues.TickURL,
		MasterKey: bytes.Repeat([]byte{5}, 32), ContactsendEndpoint: "http://127.0.0.1:9/soap/services", AllowInsecureHub: true,
	}, wiring.Clients{DynamoDB: testkit.Emulators(t).DynamoDB(), SQS: testkit.Emulators(t).SQS()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	userDB := int64(0)
	for _, g := range groups {
		hub, url := scaleHub(t, hubWorkspace, g.nodes, g.latency, g.failing, reads)
		hubs[g.workspace] = hub
		if _, err := d.Store.PutConnection(ctx, configstore.Connection{
			Workspace: g.workspace, ContacthubBaseURL: url, ContacthubWorkspaceID: hubWorkspace, ContacthubToken: hubToken,
		}); err != nil {
			t.Fatal(err)
		}
		for _, node := range g.nodes {
			userDB++
			if _, err := d.Store.Create(ctx, source.Source{
				ID: "src-" + node, WorkspaceID: g.workspace, Name: node, Nodes: []string{node}, Enabled: true,
				Properties: source.Properties{
					UserKey: "user-key", APIKey: "api-key-" + g.workspace, UserDBID: userDB,
					FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
				},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The two functions, built as their Lambdas build them.
	dispatcher, err := schedulerfn.New(d)
	if err != nil {
		t.Fatal(err)
	}
	tick := schedulerfn.NewHandler(dispatcher, d.Logger)
	worker, err := schedulerfn.New(d)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := testkit.Emulators(t).Template().QueueSubscriptions()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(subs, func(s samtemplate.QueueSubscription) bool { return s.FunctionID == "SourceTickFunction" })
	if i < 0 {
		t.Fatal("template.yaml has no SourceTickFunction subscription")
	}
	mapping := subs[i]
	timeout := testkit.Emulators(t).Template().Functions[mapping.FunctionID].Timeout
	var pollers sync.WaitGroup
	pollers.Go(func() {
		sqstrigger.Run(ctx, sqstrigger.Config{
			Client: testkit.Emulators(t).SQS(), QueueURL: queues.TickURL, Handler: schedulerfn.NewSourceHandler(worker, d.Logger),
			BatchSize: mapping.BatchSize, Concurrency: mapping.MaximumConcurrency, FunctionTimeout: timeout,
		})
	})
	defer pollers.Wait()
	defer cancel()

	// The schedule: tick 0 starts every feed at its end; ticks 1.. are
	// measured, each after a change to every healthy source's customer.
	var at []time.Time
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for k := 0; k <= *scaleTicks; k++ {
		if k > 0 {
			<-ticker.C // the schedule's period, as EventBridge keeps it
			for _, node := range groups[0].nodes {
				if _, err := hubs["ws-healthy"].PutCustomer(hubWorkspace, map[string]any{
					"id": "c-" + node, "nodeId": node, "base": map[string]any{"firstName": fmt.Sprintf("Giulia %d", k), "contacts": map[string]any{"email": node + "@example.it"}},
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		now := time.Now().UTC()
		at = append(at, now)
		if err := tick(ctx, events.EventBridgeEvent{ID: fmt.Sprint("tick-", k), Time: now, DetailType: "Scheduled Event", Source: "aws.events"}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (at most a period) for the last tick's reads.
	last := at[len(at)-1]
	deadline := time.Now().Add(period)
	for time.Now().Before(deadline) {
		done := true
		for _, node := range groups[0].nodes {
			if _, ok := reads.firstAfter(node, last); !ok {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}

	lagOf := func(nodes []string) (worst time.Duration, worstNode string, unread int) {
		for _, node := range nodes {
			for _, tickAt := range at[1:] {
				read, ok := reads.firstAfter(node, tickAt)
				if !ok {
					unread++
					continue
				}
				if lag := read.Sub(tickAt); lag > worst {
					worst, worstNode = lag, node
				}
			}
		}
		return worst, worstNode, unread
	}
	worst, worstNode, unread := lagOf(groups[0].nodes)
	slowWorst, _, slowUnread := lagOf(groups[1].nodes)
	t.Logf("%d sources (%d healthy, %d slow at %s a call, %d failing), %d ticks %s apart, Contacthub latency %s, mapping: batch %d, concurrency %d, timeout %s",
		n, healthy, troubled, 2*period, troubled, *scaleTicks, period, *scaleLatency, mapping.BatchSize, mapping.MaximumConcurrency, timeout)
	t.Logf("healthy sources: worst lag from a tick to the feed read %s (%s); %d of %d reads missing", worst.Round(time.Millisecond), worstNode, unread, healthy*(*scaleTicks))
	t.Logf("slow sources: worst lag %s, %d of %d ticks without a read (expected: each call takes two periods)", slowWorst.Round(time.Millisecond), slowUnread, troubled*(*scaleTicks))
	if unread > 0 || worst > period {
		t.Errorf("a healthy source was not read within a period after every tick: worst lag %s, %d reads missing", worst, unread)
	}

	if *scaleCompare {
		cancel()
		pollers.Wait()
		// The scheduler function's former timeout bounded the whole tick.
		tickCtx, stop := context.WithTimeout(t.Context(), 120*time.Second)
		defer stop()
		start := time.Now()
		report, err := worker.Tick(tickCtx)
		if err != nil {
			t.Fatal(err)
		}
		deferred := 0
		for _, rep := range report.Sources {
			if rep.Outcome == scheduler.Deferred {
				deferred++
			}
		}
		t.Logf("before the fan-out: one tick working every source (%d at a time) in one invocation took %s; %d sources deferred to the next tick",
			scheduler.DefaultConcurrency, time.Since(start).Round(time.Millisecond), deferred)
	}
}
