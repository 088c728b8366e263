package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// scaleCustomers is the node size of BenchmarkBulkScale: HUBSEND_SCALE_CUSTOMERS,
// default 100,000.
func scaleCustomers(b *testing.B) int {
	n := 100000
	if v := os.Getenv("HUBSEND_SCALE_CUSTOMERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("HUBSEND_SCALE_CUSTOMERS=%q: want a number of customers", v)
		}
	}
	return n
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkBulkScale is make bench-scale: with the simulators' latency
// profile, a first load of the node into an empty userdb, then into a
// userdb holding half of the customers without a ledger (a tenth of those
// stale), each as bulk jobs run by the template's ten bulk workers; then
// the latency of live changes, idle and while a backfill of the whole
// node runs. Metrics are per customer; dup and lost must be 0.
func BenchmarkBulkScale(b *testing.B) {
	n := scaleCustomers(b)
	// The simulators keep their customers in this process's heap (about
	// 1.7 GB at 100,000), which no Lambda would hold: at the default GC
	// target, collecting it takes the CPU the workers and the live lane
	// measured here would have. Memory is plentiful; collect less often.
	gcPercent := debug.SetGCPercent(400)
	b.Cleanup(func() { debug.SetGCPercent(gcPercent) })
	heapBefore := heapInUse()
	// Generating a large demo takes longer than startHarness allows.
	startCtx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	// The template's timing (a 60 s invocation, a visibility timeout
	// longer than that), not the short tests' 3 s: under the backfill's
	// load a slow call is a slow job, as on Lambda, not a job given back.
	//
	// dynalite keeps its items on disk (LevelDB, outside Node's heap). Kept
	// in its memory store, the items of a 100,000-customer load stall the
	// emulator's every request for up to a second during the backfill
	// (probe GetItem p99 0.86–1.0 s, against 0.10–0.14 s on disk; most
	// likely the collector of a JavaScript heap holding them all): a pause of the
	// emulator that DynamoDB does not have, and that the live-latency
	// figure measured instead of the design.
	h, err := Start(startCtx, Options{Customers: 2 * n, VisibilityTimeout: 2 * time.Minute, Logger: benchLog(b), Persist: true})
	cancel()
	if err != nil {
		b.Fatalf("start the harness: %v", err)
	}
	b.Cleanup(func() { h.Close() })
	h.Stack.Hub.Faults().SetProfile(faults.ContacthubProfile())
	h.Stack.Send.Faults().SetProfile(faults.ContactsendProfile())
	ctx := context.Background()
	n = len(h.Customers)
	b.Logf("%d customers in the node; simulators and harness hold %.0f MB per 100,000 Contacthub customers before the load",
		n, float64(heapInUse()-heapBefore)/(1<<20)/float64(2*n)*100000)
	loader, err := h.NewLoader(h.Queues.SyncURL)
	start := time.Now()
	defer func() { b.Logf("benchmark took %v", time.Since(start).Round(time.Second)) }()
	if err != nil {
		b.Fatal(err)
	}
	const workers = 10 // template.yaml: BulkWorkerFunction's MaximumConcurrency
	load := func(name, run string) {
		before := h.Snapshot()
		start := time.Now()
		rep, err := RunBulk(ctx, loader, h.BulkJobs(run), workers, 5)
		wall := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		problems := Eventually(ctx, 5*time.Minute, h.Check)
		calls := h.Snapshot().Since(before)
		dup, lost := countProblems(h, problems)
		b.Logf("%s: %+v in %v; calls %+v; problems %v", name, rep, wall.Round(time.Millisecond), calls, problems)
		per := func(c map[string]int) float64 { return perCustomer(c, n) }
		b.ReportMetric(per(calls.Contactsend), name+"-contactsend/cust")
		b.ReportMetric(per(calls.Contacthub), name+"-contacthub/cust")
		b.ReportMetric(per(calls.DynamoDB), name+"-dynamodb/cust")
		b.ReportMetric(per(calls.SQS), name+"-sqs/cust")
		b.ReportMetric(float64(calls.Contactsend["updateSubscriber"]), name+"-updates")
		b.ReportMetric(wall.Seconds(), name+"-wall-s")
		b.ReportMetric(float64(n)/wall.Seconds(), name+"-cust/s")
		b.ReportMetric(float64(dup), name+"-dup")
		b.ReportMetric(float64(lost), name+"-lost")
		if dup+lost > 0 {
			b.Errorf("%s: %d duplicates, %d lost: %v", name, dup, lost, problems)
		}
	}
	load("empty", "scale-empty")
	perRecords := float64(heapInUse()-heapBefore) / (1 << 20) / float64(2*n+n) * 100000
	b.Logf("after the load: %.0f MB per 100,000 records (Contacthub customers and Contactsend subscribers)", perRecords)
	b.ReportMetric(perRecords, "MB/100k-records")
	halveUserDB(b, h)
	if err := h.ForgetLedger(ctx); err != nil {
		b.Fatal(err)
	}
	load("half", "scale-half")

	// Live-change latency: idle, then while a resync of the whole node
	// runs in the bulk lane; a hundred samples each, so that p99 is not
	// simply the slowest. The backfill starts from a forgotten ledger, so
	// that it has every customer to link; the idle samples start from the
	// same state, so that both phases' live jobs do the same work (find
	// the subscriber, claim it, update it).
	const samples = 100
	live, err := sampleCustomers(ctx, h, samples)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.ForgetLedger(ctx); err != nil {
		b.Fatal(err)
	}
	stopIdleProbe := probeLatencies(h)
	before := h.Snapshot()
	idle := liveLatencies(b, h, live, nil)
	b.Logf("idle live changes: calls %+v for %d changes", h.Snapshot().Since(before), len(idle))
	idleProbe := stopIdleProbe()
	if err := h.ForgetLedger(ctx); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var backfillErr error
	go func() {
		defer close(done)
		_, backfillErr = RunBulk(ctx, loader, h.BulkJobs("scale-busy"), workers, 5)
	}()
	time.Sleep(2 * time.Second) // let the backfill get going before sampling
	stopBusyProbe := probeLatencies(h)
	stopProfile := profileBusy(b)
	busy := liveLatencies(b, h, live, done)
	stopProfile()
	busyProbe := stopBusyProbe()
	<-done
	if backfillErr != nil {
		b.Fatal(backfillErr)
	}
	b.Logf("live change → Contactsend (%d and %d samples): idle p50 %v p99 %v; during a backfill p50 %v p99 %v",
		len(idle), len(busy),
		percentile(idle, 50).Round(time.Millisecond), percentile(idle, 99).Round(time.Millisecond),
		percentile(busy, 50).Round(time.Millisecond), percentile(busy, 99).Round(time.Millisecond))
	for _, p := range []struct {
		name string
		p    probes
	}{{"idle", idleProbe}, {"busy", busyProbe}} {
		b.Logf("%s probes: DynamoDB GetItem p50 %v p99 %v; a 10 ms timer late by p50 %v p99 %v",
			p.name, percentile(p.p.dynamo, 50), percentile(p.p.dynamo, 99), percentile(p.p.timer, 50), percentile(p.p.timer, 99))
		b.ReportMetric(percentile(p.p.dynamo, 99).Seconds()*1000, "probe-"+p.name+"-dynamodb-p99-ms")
	}
	for _, l := range []struct {
		name string
		d    []time.Duration
	}{{"idle", idle}, {"busy", busy}} {
		b.ReportMetric(percentile(l.d, 50).Seconds()*1000, "live-"+l.name+"-p50-ms")
		b.ReportMetric(percentile(l.d, 99).Seconds()*1000, "live-"+l.name+"-p99-ms")
	}
	if p99, idle99 := percentile(busy, 99), percentile(idle, 99); p99 > 2*idle99 {
		b.Errorf("live p99 %v during a backfill, more than twice the idle %v", p99, idle99)
	}
}

// benchLog is where the harness logs warnings and errors (jobs given back,
// and why): the file HUBSEND_BENCH_LOG names, or nowhere.
func benchLog(b *testing.B) *slog.Logger {
	path := os.Getenv("HUBSEND_BENCH_LOG")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// countProblems reads the checker's duplicates and unsynced customers.
func countProblems(h *Harness, problems []string) (dup, lost int) {
	for _, p := range problems {
		var n int
		switch {
		case scanCount(p, "duplicate subscribers: %d", &n):
			dup += n
		case scanCount(p, "customers without a subscriber: %d", &n),
			scanCount(p, "subscribers not holding the customer's current values: %d", &n):
			lost += n
		}
	}
	return dup, lost
}

func scanCount(p, format string, n *int) bool {
	_, err := fmt.Sscanf(p, format, n)
	return err == nil
}

// liveSample is a customer whose changes the live lane carries, and the
// subscriber it is linked to.
type liveSample struct {
	customer   string
	subscriber int64
}

// sampleCustomers picks k customers spread over the node and the
// subscribers the ledger links them to, read before any timing starts.
func sampleCustomers(ctx context.Context, h *Harness, k int) ([]liveSample, error) {
	out := make([]liveSample, 0, k)
	for i := range k {
		id := h.Customers[(i*7919)%len(h.Customers)]
		sub, err := h.Subscriber(ctx, id)
		if err != nil || sub == 0 {
			return nil, fmt.Errorf("customer %s has no subscriber before the live changes (%v)", id, err)
		}
		out = append(out, liveSample{customer: id, subscriber: sub})
	}
	return out, nil
}

// liveLatencies changes each sample's customer, one after another, each
// followed by its webhook job on the live queue, and measures how long
// each takes to reach Contactsend; it stops early once until is closed
// (nil: never), so that every sample is taken while what it waits for
// runs. Arrival is seen in the Contactsend simulator's own state, polled
// every few milliseconds: reading the ledger instead would add the
// harness's own DynamoDB round trips, slower under the very load measured,
// to every sample.
func liveLatencies(tb testing.TB, h *Harness, live []liveSample, until <-chan struct{}) []time.Duration {
	tb.Helper()
	ctx := context.Background()
	out := make([]time.Duration, 0, len(live))
	for i, sample := range live {
		select {
		case <-until:
			return out
		default:
		}
		name := fmt.Sprintf("Live%d-%d", i, time.Now().UnixNano())
		start := time.Now()
		if _, err := h.Change(ctx, sample.customer, name); err != nil {
			tb.Fatal(err)
		}
		if err := h.Enqueue(ctx, jobs.FromWebhook, sample.customer); err != nil {
			tb.Fatal(err)
		}
		if problems := EventuallyEvery(ctx, time.Minute, 5*time.Millisecond, func(context.Context) []string {
			s, err := h.Stack.Send.Subscriber(devstack.DemoUserDB, sample.subscriber)
			if err != nil {
				return []string{err.Error()}
			}
			if got := s.Attributes["FIRST_NAME"]; got != name {
				return []string{fmt.Sprintf("FIRST_NAME %v, want %s", got, name)}
			}
			return nil
		}); len(problems) > 0 {
			tb.Fatalf("live change of %s not in subscriber %d within a minute: %v", sample.customer, sample.subscriber, problems)
		}
		out = append(out, time.Since(start))
	}
	return out
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

type probes struct{ dynamo, timer []time.Duration }

// probeLatencies measures, until the returned function is called, what a
// live job waits for besides its own work: a GetItem's round trip to the
// DynamoDB emulator, and how late a 10 ms timer fires in this process.
func probeLatencies(h *Harness) func() probes {
	ctx, cancel := context.WithCancel(context.Background())
	var p probes
	done := make(chan struct{})
	go func() {
		defer close(done)
		db := h.db.DynamoDB()
		key := map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "PROBE"}, "sk": &types.AttributeValueMemberS{Value: "PROBE"},
		}
		for ctx.Err() == nil {
			start := time.Now()
			if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(Table), Key: key}); err == nil {
				p.dynamo = append(p.dynamo, time.Since(start))
			}
			start = time.Now()
			time.Sleep(10 * time.Millisecond)
			p.timer = append(p.timer, time.Since(start)-10*time.Millisecond)
			time.Sleep(90 * time.Millisecond)
		}
	}()
	return func() probes { cancel(); <-done; return p }
}

// profileBusy writes CPU and mutex profiles of this process, from now
// until the returned function is called, to the files
// HUBSEND_BENCH_PROFILE.cpu and .mutex (no profile when it is unset).
func profileBusy(b *testing.B) func() {
	prefix := os.Getenv("HUBSEND_BENCH_PROFILE")
	if prefix == "" {
		return func() {}
	}
	cpu, err := os.Create(prefix + ".cpu")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	runtime.SetMutexProfileFraction(10)
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		runtime.SetMutexProfileFraction(0)
		f, err := os.Create(prefix + ".mutex")
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("mutex").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
}
