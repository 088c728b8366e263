package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// shuffledTwice returns every id twice in a fixed-seed random order: each
// job duplicated, and the copies reordered against each other.
func shuffledTwice(ids []string, seed uint64) []string {
	out := append(append([]string(nil), ids...), ids...)
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// waitForWrites blocks until at least n subscribers were written since the
// last reset, or fails the test.
func waitForWrites(t *testing.T, h *Harness, n int, within time.Duration) {
	t.Helper()
	if problems := Eventually(t.Context(), within, func(context.Context) []string {
		if got := h.Writes.Len(); got < n {
			return []string{fmt.Sprintf("%d of %d written", got, n)}
		}
		return nil
	}); len(problems) > 0 {
		t.Fatalf("progress stalled: %v", problems)
	}
}

// TestSyncThroughFaults syncs every customer of a node, then a change of
// every customer, while Contactsend throws SOAP faults, 5xx and expired
// tokens, Contacthub answers 429 with Retry-After, SQS is slow, every job
// arrives twice in random order, the worker is killed mid-batch and
// restarted and dynalite is restarted from disk. Then the invariant checker
// compares both simulators, the ledger and the queues.
//
// Short: ~200 customers. HUBSEND_LOAD=1: 10,000.
func TestSyncThroughFaults(t *testing.T) {
	// waits is the rate of the faults that make a job wait a second (429
	// with Retry-After): a batch waits for its slowest job, so at full
	// size they are rarer and more batches run at once (template.yaml's
	// MaximumConcurrency) to keep the run within minutes.
	// Dead letters are allowed only when explained: each a copy of a job
	// whose customer the checker found in sync (a job can use up its
	// receives on 429s, deadlines and kills while its twin succeeds).
	customers, within, waits, pollers := 400, 60*time.Second, 0.05, 0
	if full() {
		customers, within, waits, pollers = 20000, 10*time.Minute, 0.01, 10
	}
	h := startHarness(t, Options{Customers: customers, Persist: true, Pollers: pollers})
	ctx := t.Context()
	n := len(h.Customers)
	t.Logf("%d customers in the node", n)

	for _, rule := range []faults.Rule{
		{Operation: "updateSubscriber", Kind: faults.SOAPFault, Message: "Service temporarily unavailable", Rate: 0.1},
		{Operation: "addSubscriber", Kind: faults.Status, Status: 500, Rate: 0.1},
		{Operation: "addSubscriber", Kind: faults.Drop, Rate: 0.05},
		{Operation: "findSubscribersBy", Kind: faults.Status, Status: 429, RetryAfterSeconds: 1, Rate: waits},
		{Operation: "updateSubscriber", Kind: faults.ExpiredToken, Count: 3},
		{Operation: "findSubscribersBy", Kind: faults.ExpiredToken, Count: 3},
	} {
		if _, err := h.Stack.Send.Faults().Add(rule); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Stack.Hub.Faults().Add(faults.Rule{Operation: "customers.get", Kind: faults.Status, Status: 429, RetryAfterSeconds: 1, Rate: 2 * waits}); err != nil {
		t.Fatal(err)
	}
	h.SQS.SetDelay(20 * time.Millisecond)
	// Contacthub's search lags writes: no sync path may read its own write
	// through GET /customers.
	h.Stack.Hub.SetSearchIndexDelay(10 * time.Second)

	// First sync: kill the worker a third of the way, restart dynalite at
	// two thirds.
	h.Writes.Reset()
	if err := h.Enqueue(ctx, jobs.FromBackfill, shuffledTwice(h.Customers, 1)...); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	phase := func(what string) { t.Logf("%8s %s", time.Since(began).Round(time.Millisecond), what) }
	waitForWrites(t, h, n/3, within)
	phase("a third written: worker killed and restarted")
	h.StopWorker()
	if err := h.StartWorker(); err != nil {
		t.Fatal(err)
	}
	waitForWrites(t, h, 2*n/3, within)
	if err := h.RestartDynamo(ctx); err != nil {
		t.Fatal(err)
	}
	phase("two thirds written: dynalite restarted from disk")

	// Every customer changes while the first sync may still run; the
	// worker is killed again halfway through the changes' jobs.
	if err := h.changeAll(ctx, "Fault"); err != nil {
		t.Fatal(err)
	}
	h.Writes.Reset()
	if err := h.Enqueue(ctx, jobs.FromFeed, shuffledTwice(h.Customers, 2)...); err != nil {
		t.Fatal(err)
	}
	phase("every customer changed, the changes' jobs queued twice")
	waitForWrites(t, h, n/2, within)
	h.StopWorker()
	if err := h.StartWorker(); err != nil {
		t.Fatal(err)
	}
	phase("half the changes written: worker killed and restarted")

	// Convergence while the faults go on is expected but not required;
	// once they end, everything must match Contacthub's current state.
	if problems := Eventually(ctx, within/2, h.CheckAllowingDeadLetters); len(problems) > 0 {
		phase(fmt.Sprintf("not converged while the faults went on: %v", problems))
	} else {
		phase("converged with the faults still on")
	}
	h.Stack.Send.Faults().Reset()
	h.Stack.Hub.Faults().Reset()
	h.SQS.SetDelay(0)
	if problems := Eventually(ctx, within, h.CheckAllowingDeadLetters); len(problems) > 0 {
		t.Fatalf("invariants broken: %v", problems)
	}
	phase("invariants hold")
	dead, err := h.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		// The checker found every customer linked and holding its
		// current values, so a dead letter is a redundant copy.
		t.Logf("dead letter explained: %s job for customer %s (received %s times), customer in sync", d.Job.Reason, d.Job.CustomerID, d.Receives)
	}
	phase(fmt.Sprintf("%d dead letters, each a copy of a job whose customer is in sync", len(dead)))
	t.Logf("Contactsend calls %v; Contacthub calls %v", h.Stack.Send.Calls().Counts(), h.Stack.Hub.Calls().Counts())
}
