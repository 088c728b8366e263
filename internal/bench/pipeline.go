package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
)

// Cost is the requests one job caused, on average.
type Cost struct {
	Jobs        int
	Contactsend float64
	Contacthub  float64
	DynamoDB    float64
	SQS         float64
	// Calls holds the raw counts behind the averages.
	Calls Calls
}

func cost(jobs int, c Calls) Cost {
	per := func(m map[string]int) float64 { return float64(Sum(m)) / float64(jobs) }
	return Cost{Jobs: jobs, Contactsend: per(c.Contactsend), Contacthub: per(c.Contacthub),
		DynamoDB: per(c.DynamoDB), SQS: per(c.SQS), Calls: c}
}

// PipelineResult is what one pipeline run measured.
type PipelineResult struct {
	Customers int
	// Throughput is customers per second from Contacthub change to
	// Contactsend write, draining a backlog of one change per customer:
	// updateSubscriber calls in the simulator's call log over the time
	// from the first enqueue to the last of them.
	Throughput float64
	// P50 and P99 are change-to-write latencies with changes arriving at
	// Paced per second (half the throughput), each enqueued at once as
	// the webhook would.
	P50, P99 time.Duration
	Paced    float64
	// Ceiling is updateSubscriber calls per second straight to the
	// simulator with the worker's client and concurrency.
	Ceiling float64
	// Changed is the cost of a job for a changed, known customer;
	// Unchanged of a job whose customer did not change; Backfill of the
	// first sync of each customer.
	Changed, Unchanged, Backfill Cost
	// CPU is the CPU time each process used while the backlog drained,
	// over Drain, the wall time it took: what the two cores spent on what.
	CPU   map[string]time.Duration
	Drain time.Duration
	// Batches are the worker's invocations while the backlog drained.
	Batches BatchStats
}

// Ratio is the pipeline's throughput over the simulator's ceiling.
func (r PipelineResult) Ratio() float64 { return r.Throughput / r.Ceiling }

// RunPipeline backfills every customer of the node, then measures the
// steady state: a backlog of one change per customer, a pass with no
// change, changes paced at half the measured throughput, and the
// simulator's ceiling.
func RunPipeline(ctx context.Context, h *Harness, within time.Duration) (PipelineResult, error) {
	res := PipelineResult{Customers: len(h.Customers)}
	n := len(h.Customers)

	before := h.Snapshot()
	if err := h.Enqueue(ctx, jobs.FromBackfill, h.Customers...); err != nil {
		return res, err
	}
	if problems := Eventually(ctx, within, h.Check); len(problems) > 0 {
		return res, fmt.Errorf("backfill did not converge: %v", problems)
	}
	res.Backfill = cost(n, h.Snapshot().Since(before))

	// A backlog of changes: the steady-state rate.
	if err := h.changeAll(ctx, "Backlog"); err != nil {
		return res, err
	}
	h.Writes.Reset()
	before = h.Snapshot()
	cpu, batches := CPU(), h.Batches()
	start := time.Now()
	if err := h.Enqueue(ctx, jobs.FromFeed, h.Customers...); err != nil {
		return res, err
	}
	if err := h.waitWrites(ctx, n, within); err != nil {
		return res, err
	}
	res.CPU, res.Drain, res.Batches = CPUSince(cpu), time.Since(start), h.Batches().Since(batches)
	res.Changed = cost(n, h.Snapshot().Since(before))
	var last time.Time
	writes := 0
	for _, c := range h.Stack.Send.Calls().Entries() {
		if c.Operation == "updateSubscriber" && !c.At.Before(start) {
			writes++
			last = c.At
		}
	}
	res.Throughput = float64(writes) / last.Sub(start).Seconds()
	if err := h.waitDrained(ctx, within); err != nil {
		return res, err
	}

	// Nothing changed: the no-op path.
	before = h.Snapshot()
	if err := h.Enqueue(ctx, jobs.FromFeed, h.Customers...); err != nil {
		return res, err
	}
	if err := h.waitDrained(ctx, within); err != nil {
		return res, err
	}
	res.Unchanged = cost(n, h.Snapshot().Since(before))

	// Paced changes: latency below saturation.
	res.Paced = res.Throughput / 2
	latencies, err := h.paced(ctx, res.Paced, within)
	if err != nil {
		return res, err
	}
	slices.Sort(latencies)
	res.P50 = latencies[len(latencies)/2]
	res.P99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]

	if res.Ceiling, err = h.ceiling(ctx, n); err != nil {
		return res, err
	}
	if problems := Eventually(ctx, within, h.Check); len(problems) > 0 {
		return res, fmt.Errorf("invariants broken after the run: %v", problems)
	}
	return res, nil
}

// changeAll gives every customer a new first name, eight at a time.
func (h *Harness) changeAll(ctx context.Context, prefix string) error {
	var next atomic.Int64
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(h.Customers) || errs[w] != nil {
					return
				}
				_, errs[w] = h.Change(ctx, h.Customers[i], fmt.Sprintf("%s%d", prefix, i))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *Harness) waitWrites(ctx context.Context, n int, within time.Duration) error {
	problems := Eventually(ctx, within, func(context.Context) []string {
		if got := h.Writes.Len(); got < n {
			return []string{fmt.Sprintf("%d of %d customers written", got, n)}
		}
		return nil
	})
	if len(problems) > 0 {
		return fmt.Errorf("writes: %v", problems)
	}
	return nil
}

func (h *Harness) waitDrained(ctx context.Context, within time.Duration) error {
	problems := Eventually(ctx, within, func(ctx context.Context) []string {
		n, err := h.queueDepth(ctx, h.Queues.SyncURL)
		if err != nil {
			return []string{err.Error()}
		}
		if n > 0 {
			return []string{fmt.Sprintf("%d jobs in the sync queue", n)}
		}
		return nil
	})
	if len(problems) > 0 {
		return fmt.Errorf("queue: %v", problems)
	}
	return nil
}

// paced changes each customer once at rate per second, enqueueing its job
// at once, and returns each change-to-write latency.
func (h *Harness) paced(ctx context.Context, rate float64, within time.Duration) ([]time.Duration, error) {
	h.Writes.Reset()
	n := len(h.Customers)
	changed := make([]time.Time, n)
	subscribers := make([]int64, n)
	for i, id := range h.Customers {
		var err error
		if subscribers[i], err = h.Subscriber(ctx, id); err != nil {
			return nil, err
		}
	}
	interval := time.Duration(float64(time.Second) / rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for i, id := range h.Customers {
		at, err := h.Change(ctx, id, fmt.Sprintf("Paced%d", i))
		if err != nil {
			return nil, err
		}
		changed[i] = at
		if err := h.Enqueue(ctx, jobs.FromWebhook, id); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ticker.C:
		}
	}
	if err := h.waitWrites(ctx, n, within); err != nil {
		return nil, err
	}
	latencies := make([]time.Duration, n)
	for i := range n {
		at, _ := h.Writes.At(subscribers[i])
		latencies[i] = at.Sub(changed[i])
	}
	return latencies, h.waitDrained(ctx, within)
}

// ceiling updates n linked subscribers straight through the Contactsend
// client, with the source's concurrency cap, and returns calls per second.
func (h *Harness) ceiling(ctx context.Context, n int) (float64, error) {
	ids := make([]int64, n)
	for i, id := range h.Customers[:n] {
		var err error
		if ids[i], err = h.Subscriber(ctx, id); err != nil {
			return 0, err
		}
	}
	cred := contactsend.Credentials{APIKey: devstack.DemoSendAPIKey, UserKey: devstack.DemoSendUserKey}
	text, err := contactsend.ParseValue("STRING", "Ceiling")
	if err != nil {
		return 0, err
	}
	var next atomic.Int64
	const workers = 10 // source.DefaultMaxInFlight
	errs := make([]error, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || errs[w] != nil {
					return
				}
				_, errs[w] = h.Send.UpdateSubscriber(ctx, cred, devstack.DemoUserDB, contactsend.Subscriber{
					ID: ids[i], Attributes: []contactsend.Attribute{{Key: "LAST_NAME", Value: text}},
				})
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(n) / took.Seconds(), nil
}
