package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/bulk"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
)

// bulkCustomers is the short tests' Contacthub demo: about 600 customers in
// the node, one bulk job.
const bulkCustomers = 1200

// perCustomer divides a count map's total by n.
func perCustomer(counts map[string]int, n int) float64 { return float64(Sum(counts)) / float64(n) }

// checkSynced waits for the invariant checker and fails with its problems.
func checkSynced(t *testing.T, h *Harness, within time.Duration) {
	t.Helper()
	if problems := Eventually(t.Context(), within, h.Check); len(problems) > 0 {
		t.Fatalf("not in sync:\n%s", strings.Join(problems, "\n"))
	}
}

// TestBulkLoad loads a node into an empty userdb with the bulk lane, then
// into a userdb holding half of the customers with no ledger (a tenth of
// those stale), checking the invariants and the per-customer costs against
// issue 13's targets; then a per-customer resync agrees with what the bulk
// lane wrote (zero Contactsend writes).
func TestBulkLoad(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	ctx := t.Context()
	n := len(h.Customers)
	loader, err := h.NewLoader(h.Queues.SyncURL)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("empty userdb", func(t *testing.T) {
		before := h.Snapshot()
		rep, err := RunBulk(ctx, loader, h.BulkJobs("empty"), 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		calls := h.Snapshot().Since(before)
		t.Logf("%d customers: %+v; calls %+v", n, rep, calls)
		if rep.Added != n || rep.HandedOff != 0 || rep.Removed != 0 {
			t.Errorf("report %+v, want all %d added, none handed over or removed", rep, n)
		}
		checkSynced(t, h, 10*time.Second)
		for _, c := range []struct {
			what  string
			calls map[string]int
			limit float64
		}{
			{"Contactsend calls", calls.Contactsend, 0.05},
			{"Contacthub calls", calls.Contacthub, 0.05},
			{"DynamoDB requests", calls.DynamoDB, 0.1},
		} {
			if got := perCustomer(c.calls, n); got > c.limit {
				t.Errorf("%s per customer: %.3f, want ≤ %.2f (%v)", c.what, got, c.limit, c.calls)
			}
		}
		if calls.Contactsend["addSubscriber"] != 0 || calls.Contacthub["customers.get"] != 0 {
			t.Errorf("per-customer calls in the bulk lane: %v %v", calls.Contactsend, calls.Contacthub)
		}
	})

	t.Run("a resync through the per-customer lane writes nothing", func(t *testing.T) {
		h.Writes.Reset()
		sample := h.Customers[:min(100, n)]
		if err := h.Enqueue(ctx, jobs.FromBackfill, sample...); err != nil {
			t.Fatal(err)
		}
		checkSynced(t, h, 30*time.Second)
		if w := h.Writes.Len(); w != 0 {
			t.Errorf("%d Contactsend writes after a bulk load, want 0: the lanes disagree on what is synced", w)
		}
	})

	t.Run("half-full userdb, lost ledger", func(t *testing.T) {
		stale := halveUserDB(t, h)
		if err := h.ForgetLedger(ctx); err != nil {
			t.Fatal(err)
		}
		before := h.Snapshot()
		rep, err := RunBulk(ctx, loader, h.BulkJobs("half"), 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		calls := h.Snapshot().Since(before)
		t.Logf("%d customers, %d stale: %+v; calls %+v", n, stale, rep, calls)
		checkSynced(t, h, 10*time.Second)
		if rep.Updated != stale {
			t.Errorf("%d updated, want the %d stale", rep.Updated, stale)
		}
		if got := calls.Contactsend["updateSubscriber"]; got != stale {
			t.Errorf("%d updateSubscriber calls, want %d", got, stale)
		}
		others := Sum(calls.Contactsend) - calls.Contactsend["updateSubscriber"]
		if got := float64(others) / float64(n); got > 0.1 {
			t.Errorf("Contactsend calls besides the updates per customer: %.3f, want ≤ 0.1 (%v)", got, calls.Contactsend)
		}
	})
}

// halveUserDB removes the subscribers of every other customer of the node
// and changes FIRST_NAME of a tenth of the rest; it returns how many it
// changed.
func halveUserDB(t testing.TB, h *Harness) int {
	t.Helper()
	seed := h.Stack.Send.Snapshot()
	linked := make(map[int64]bool)
	for i, id := range h.Customers {
		if i%2 == 1 {
			sub, err := h.Subscriber(t.Context(), id)
			if err != nil || sub == 0 {
				t.Fatalf("customer %s has no subscriber (%v)", id, err)
			}
			linked[sub] = true
		}
	}
	stale := 0
	for i := range seed.UserDBs {
		if seed.UserDBs[i].ID != devstack.DemoUserDB {
			continue
		}
		var kept []sendsim.Subscriber
		for _, s := range seed.UserDBs[i].Subscribers {
			if !linked[s.ID] && strings.HasSuffix(fmt.Sprint(s.Attributes["EMAIL"]), "example.org") {
				kept = append(kept, s) // not a customer of the node
				continue
			}
			if !linked[s.ID] {
				continue
			}
			if len(kept)%10 == 0 {
				s.Attributes["FIRST_NAME"] = "Stale"
				stale++
			}
			kept = append(kept, s)
		}
		seed.UserDBs[i].Subscribers = kept
	}
	if err := h.Stack.Send.Load(seed); err != nil {
		t.Fatal(err)
	}
	return stale
}

// TestBulkLoadAfterDeletions: customers deleted between two neighbouring
// bulk jobs move the next job's first customers onto pages the first job
// already read. With more deletions than a page of overlap reaches, the
// next job reads back as far as the node shrank since the jobs were made,
// and no customer is left out.
func TestBulkLoadAfterDeletions(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	ctx := t.Context()
	loader, err := h.NewLoader(h.Queues.SyncURL)
	if err != nil {
		t.Fatal(err)
	}
	const size, pagesPerJob, deleted = 50, 4, 80 // 80: more than the overlap page
	n := len(h.Customers)
	var all []jobs.BulkJob
	for first := 0; first*size < n; first += pagesPerJob {
		all = append(all, jobs.BulkJob{Kind: jobs.FromBulk, SourceID: h.SourceID, RunID: "deletions", FirstPage: first,
			Pages: pagesPerJob, Size: size, Total: int64(n), EnqueuedAt: time.Now()})
	}
	if _, err := RunBulk(ctx, loader, all[:1], 1, 1); err != nil {
		t.Fatal(err)
	}
	// Delete customers the first job loaded, from the start of the node.
	var gone []string
	for page := 0; len(gone) < deleted; page++ {
		p, err := h.Hub.Customers(ctx, contacthub.ListQuery{NodeID: h.Node, Page: page, Size: size, Sort: bulk.PageSort})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Elements {
			if len(gone) < deleted {
				gone = append(gone, c.ID)
			}
		}
	}
	for _, id := range gone {
		if err := h.Hub.DeleteCustomer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := RunBulk(ctx, loader, all[1:], 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %d deletions: %+v", deleted, rep)
	if rep.Removed != 0 {
		t.Errorf("the jobs added %d subscribers twice (and removed the copies)", rep.Removed)
	}
	checkSynced(t, h, 30*time.Second)
}

// TestBulkLoadThroughFaults runs a first load while Contactsend drops the
// answer of an addSubscribers that it performed (unknown outcome), throws
// 429 and 5xx storms, Contacthub answers 429s, and a worker is killed
// right after an addSubscribers: the jobs come back as SQS would bring
// them, and the checker finds no duplicate, no customer lost and every
// customer linked to one subscriber with its current values.
//
// Short: about 600 customers. HUBSEND_LOAD=1 (make bench-scale): 20,000,
// with the latency profile.
func TestBulkLoadThroughFaults(t *testing.T) {
	customers, kills := bulkCustomers, 1
	if full() {
		customers, kills = 40000, 5
	}
	h := startHarness(t, Options{Customers: customers, Persist: true})
	if full() {
		h.Stack.Hub.Faults().SetProfile(faults.ContacthubProfile())
		h.Stack.Send.Faults().SetProfile(faults.ContactsendProfile())
	}
	ctx := t.Context()
	cfg, err := h.bulkConfig()
	if err != nil {
		t.Fatal(err)
	}
	killer := &killAfterAdd{Send: cfg.Send, after: kills}
	cfg.Send = killer
	loader, err := bulk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []faults.Rule{
		{Operation: "addSubscribers", Kind: faults.DropAfter, Count: 1},
		{Operation: "addSubscribers", Kind: faults.Status, Status: 503, Rate: 0.2},
		{Operation: "findSubscribersBy", Kind: faults.Status, Status: 429, Rate: 0.2},
		{Operation: "findSubscribersBy", Kind: faults.SOAPFault, Message: "Service temporarily unavailable", Rate: 0.1},
	} {
		if _, err := h.Stack.Send.Faults().Add(rule); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Stack.Hub.Faults().Add(faults.Rule{Operation: "customers.list", Kind: faults.Status, Status: 429, Rate: 0.2}); err != nil {
		t.Fatal(err)
	}
	// DynamoDB goes away and comes back from disk while the jobs run.
	restarted := make(chan error, 1)
	go func() {
		for killer.count() == 0 && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond) // polling: the first kill marks mid-load
		}
		restarted <- h.RestartDynamo(ctx)
	}()
	rep, err := RunBulk(ctx, loader, h.BulkJobs("faults"), 2, 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v; killed %d", rep, killer.killed)
	if killer.killed != killer.after {
		t.Fatal("no worker was killed mid-bulk")
	}
	h.Stack.Send.Faults().Reset()
	h.Stack.Hub.Faults().Reset()
	checkSynced(t, h, 2*time.Minute)
}

// TestBulkUpdateRacingALiveChange: a bulk job reads a customer's page,
// then, before it writes the subscriber, the customer changes again and
// the live lane writes the newer values. The bulk job's claim on the entry
// fails (the entry moved since its read), it writes nothing for that
// customer and hands it over, and Contactsend keeps the newer values.
func TestBulkUpdateRacingALiveChange(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	ctx := t.Context()
	loader, err := h.NewLoader(h.Queues.SyncURL)
	if err != nil {
		t.Fatal(err)
	}
	job := h.BulkJobs("race")[0]
	if _, err := RunBulk(ctx, loader, []jobs.BulkJob{job}, 1, 1); err != nil {
		t.Fatal(err)
	}
	racer := h.Customers[3]
	if _, err := h.Change(ctx, racer, "Older"); err != nil {
		t.Fatal(err)
	}
	cfg, err := h.bulkConfig()
	if err != nil {
		t.Fatal(err)
	}
	raced := false
	cfg.Ledger = &beforeClaim{Ledger: cfg.Ledger, hook: func(e ledger.BulkEntry) {
		if e.CustomerID != racer || raced {
			return
		}
		raced = true
		if _, err := h.Change(ctx, racer, "Newer"); err != nil {
			t.Fatal(err)
		}
		if err := h.Enqueue(ctx, jobs.FromWebhook, racer); err != nil {
			t.Fatal(err)
		}
		waitFirstName(t, h, racer, "Newer")
	}}
	racing, err := bulk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunBulk(ctx, racing, []jobs.BulkJob{job}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("the bulk job never claimed the changed customer")
	}
	if rep.Updated != 0 || rep.HandedOff != 1 {
		t.Errorf("report %+v, want no bulk update and the customer handed over", rep)
	}
	checkSynced(t, h, 30*time.Second)
	waitFirstName(t, h, racer, "Newer")
}

// beforeClaim runs hook before each claim the bulk lane writes.
type beforeClaim struct {
	bulk.Ledger
	hook func(ledger.BulkEntry)
}

func (b *beforeClaim) Claim(ctx context.Context, e ledger.BulkEntry, run string, until time.Time, jump int64) (ledger.BulkEntry, error) {
	b.hook(e)
	return b.Ledger.Claim(ctx, e, run, until, jump)
}

// waitFirstName waits until the customer's subscriber holds firstName.
func waitFirstName(t *testing.T, h *Harness, customerID, firstName string) {
	t.Helper()
	problems := Eventually(t.Context(), 30*time.Second, func(ctx context.Context) []string {
		sub, err := h.Subscriber(ctx, customerID)
		if err != nil || sub == 0 {
			return []string{"no subscriber"}
		}
		s, err := h.Stack.Send.Subscriber(devstack.DemoUserDB, sub)
		if err != nil || s.Attributes["FIRST_NAME"] != firstName {
			return []string{fmt.Sprintf("FIRST_NAME %v, want %s", s.Attributes["FIRST_NAME"], firstName)}
		}
		return nil
	})
	if len(problems) > 0 {
		t.Fatalf("customer %s: %v", customerID, problems)
	}
}

// TestBulkJobCutShortByItsDeadline: a bulk job whose invocation runs out
// of time stops before the deadline margin, still records what it did in
// the ledger, and asks to come back; its redelivery does the rest without
// adding anyone twice.
func TestBulkJobCutShortByItsDeadline(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	cfg, err := h.bulkConfig()
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallSecondAdd{Send: cfg.Send}
	cfg.Send, cfg.DeadlineMargin = stall, 2*time.Second
	loader, err := bulk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	job := h.BulkJobs("deadline")[0]
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()
	rep, err := loader.Load(ctx, job)
	if !errors.Is(err, bulk.ErrRetry) || ctx.Err() != nil {
		t.Fatalf("Load = %v (invocation context: %v), want a job given back before the deadline", err, ctx.Err())
	}
	if rep.Added == 0 || rep.Added >= len(h.Customers) {
		t.Fatalf("report %+v, want the first add page done and the rest not", rep)
	}
	linked := 0
	for _, id := range h.Customers {
		if sub, err := h.Subscriber(t.Context(), id); err == nil && sub != 0 {
			linked++
		}
	}
	if linked != rep.Added {
		t.Errorf("%d customers linked in the ledger, want the %d the cut-short job added", linked, rep.Added)
	}
	stall.release()
	if _, err := RunBulk(t.Context(), loader, []jobs.BulkJob{job}, 1, 1); err != nil {
		t.Fatal(err)
	}
	checkSynced(t, h, 30*time.Second)
}

// stallSecondAdd holds the second addSubscribers of a run until its
// context ends, as a slow Contactsend would near a Lambda timeout.
type stallSecondAdd struct {
	bulk.Send
	mu       sync.Mutex
	adds     int
	released bool
}

func (s *stallSecondAdd) AddSubscribers(ctx context.Context, cred contactsend.Credentials, db int64, subs []contactsend.Subscriber) (int, error) {
	s.mu.Lock()
	s.adds++
	stall := s.adds == 2 && !s.released
	s.mu.Unlock()
	if stall {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return s.Send.AddSubscribers(ctx, cred, db, subs)
}

func (s *stallSecondAdd) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released = true
}

// bulkConfig is the bulk function's loader configuration on the harness,
// handing over to the sync queue (the harness's worker runs it).
func (h *Harness) bulkConfig() (bulk.Config, error) {
	return h.LoaderConfig(h.Queues.SyncURL)
}

// killAfterAdd plays a worker killed right after an addSubscribers reached
// Contactsend: the add lands, and the run ends at its next call, before it
// records anything of that page; the first `after` adds are killed so.
type killAfterAdd struct {
	bulk.Send
	after int

	mu     sync.Mutex
	killed int
	dead   bool
}

func (k *killAfterAdd) AddSubscribers(ctx context.Context, cred contactsend.Credentials, db int64, subs []contactsend.Subscriber) (int, error) {
	n, err := k.Send.AddSubscribers(ctx, cred, db, subs)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil && k.killed < k.after {
		k.killed++
		k.dead = true
	}
	return n, err
}

func (k *killAfterAdd) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}

func (k *killAfterAdd) FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, db int64, q contactsend.Query) (contactsend.SubscriberPage, error) {
	k.mu.Lock()
	dead := k.dead
	k.dead = false
	k.mu.Unlock()
	if dead {
		return contactsend.SubscriberPage{}, &killed{}
	}
	return k.Send.FindSubscribersBy(ctx, cred, db, q)
}

// killed is a run that ended mid-job: transient, so the job comes back.
type killed struct{}

func (*killed) Error() string   { return "worker killed" }
func (*killed) Temporary() bool { return true }

// TestTwoCopiesOfABulkJobAddOnce: SQS delivers a bulk job twice at once.
// The copies' claims name the same job, so each would take the other's
// for its own and both would add every customer; the job's lease lets one
// run work and gives the other back, and each customer is added once.
func TestTwoCopiesOfABulkJobAddOnce(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	cfg, err := h.bulkConfig()
	if err != nil {
		t.Fatal(err)
	}
	meet := &meetAtAdd{Send: cfg.Send, met: make(chan struct{}), gone: make(chan struct{})}
	cfg.Send = meet
	loader, err := bulk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	job := h.BulkJobs("copies")[0]
	reports, errs := make([]bulk.Report, 2), make([]error, 2)
	var wg sync.WaitGroup
	var once sync.Once
	for i := range 2 {
		wg.Go(func() {
			reports[i], errs[i] = loader.Load(t.Context(), job)
			once.Do(func() { close(meet.gone) })
		})
	}
	wg.Wait()
	var total bulk.Report
	retried := 0
	for i, err := range errs {
		total.Add(reports[i])
		switch {
		case errors.Is(err, bulk.ErrRetry):
			retried++
			if retry.RetryAfter(err) <= 0 {
				t.Errorf("copy %d given back without the lease's end to come back at: %v", i, err)
			}
		case err != nil:
			t.Fatalf("copy %d: %v", i, err)
		}
	}
	if n := len(h.Customers); total.Added != n || total.Removed != 0 || retried != 1 {
		t.Fatalf("copies' reports %+v (%d given back), want the %d customers added once, none removed, one copy given back", total, retried, n)
	}
	// The copy given back comes again and finds the work done.
	rep, err := loader.Load(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unchanged != len(h.Customers) {
		t.Errorf("the copy's redelivery: %+v, want every customer unchanged", rep)
	}
	checkSynced(t, h, 10*time.Second)
}

// meetAtAdd holds every addSubscribers until a second one arrives or gone
// is closed: two runs that both reach their adds both add.
type meetAtAdd struct {
	bulk.Send
	mu        sync.Mutex
	arrived   int
	met, gone chan struct{}
}

func (m *meetAtAdd) AddSubscribers(ctx context.Context, cred contactsend.Credentials, db int64, subs []contactsend.Subscriber) (int, error) {
	m.mu.Lock()
	m.arrived++
	if m.arrived == 2 {
		close(m.met)
	}
	m.mu.Unlock()
	select {
	case <-m.met:
	case <-m.gone:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return m.Send.AddSubscribers(ctx, cred, db, subs)
}

// TestBulkRunInDoubtKeepsTheLease: a run killed right after an add reached
// Contactsend leaves that add's outcome unknown to the job; the job's next
// run must not read the userdb before such an add could land, so it is
// refused, told when to come back, until the lease ends; then it links what
// the first run added, adding nothing twice.
func TestBulkRunInDoubtKeepsTheLease(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	cfg, err := h.bulkConfig()
	if err != nil {
		t.Fatal(err)
	}
	killer := &killAfterAdd{Send: cfg.Send, after: 1}
	cfg.Send, cfg.AddClaim = killer, 8*time.Second
	loader, err := bulk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	job := h.BulkJobs("in-doubt")[0]
	if _, err := loader.Load(t.Context(), job); !errors.Is(err, bulk.ErrRetry) || killer.count() != 1 {
		t.Fatalf("killed run = %v (%d killed), want it given back after its add", err, killer.count())
	}
	_, err = loader.Load(t.Context(), job)
	if !errors.Is(err, bulk.ErrRetry) || retry.RetryAfter(err) <= 0 {
		t.Fatalf("the next run at once = %v, want it refused until the lease ends", err)
	}
	rep, err := RunBulk(t.Context(), loader, []jobs.BulkJob{job}, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 0 || rep.Linked == 0 {
		t.Errorf("after the lease: %+v, want the first run's adds linked and nothing removed", rep)
	}
	checkSynced(t, h, 30*time.Second)
}

// TestBulkAddRacingALiveAdd: a bulk job finds no subscriber for a new
// customer and is about to add it when the customer changes and the live
// lane adds it with the newer values and records them. The bulk lane's
// claims, written in a batch without conditions, write over that record;
// the bulk job must then find the live lane's subscriber before adding and
// hand the customer over, not write its older values into it.
func TestBulkAddRacingALiveAdd(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	ctx := t.Context()
	cfg, err := h.bulkConfig()
	if err != nil {
		t.Fatal(err)
	}
	racer := h.Customers[3]
	raced := false
	var raceErr error // the hook runs on the bulk run's goroutine
	cfg.Ledger = &beforeClaims{Ledger: cfg.Ledger, hook: func(entries []ledger.BulkEntry) {
		if raced || !slices.ContainsFunc(entries, func(e ledger.BulkEntry) bool { return e.CustomerID == racer && e.BulkClaimBy != "" }) {
			return
		}
		raced = true
		if _, err := h.Change(ctx, racer, "Newer"); err != nil {
			raceErr = err
			return
		}
		if err := h.Enqueue(ctx, jobs.FromWebhook, racer); err != nil {
			raceErr = err
			return
		}
		if problems := Eventually(ctx, 30*time.Second, func(ctx context.Context) []string {
			if sub, err := h.Subscriber(ctx, racer); err != nil || sub == 0 {
				return []string{"the live lane has not linked the customer yet"}
			}
			return nil
		}); len(problems) > 0 {
			raceErr = fmt.Errorf("live add: %v", problems)
		}
	}}
	racing, err := bulk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunBulk(ctx, racing, []jobs.BulkJob{h.BulkJobs("add-race")[0]}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !raced || raceErr != nil {
		t.Fatalf("the bulk job never claimed the new customer, or the live add failed: %v", raceErr)
	}
	// Handed over, the customer stays linked to the live lane's subscriber
	// until that lane writes it again: a deletion in between must find it.
	if sub, err := h.Subscriber(ctx, racer); err != nil || sub == 0 {
		t.Errorf("the handed-over customer's entry links subscriber %d (%v), want the live lane's", sub, err)
	}
	if rep.HandedOff != 1 {
		t.Errorf("report %+v, want the raced customer handed over", rep)
	}
	checkSynced(t, h, 30*time.Second)
	waitFirstName(t, h, racer, "Newer")
}

// TestBulkLoadHandsDeletedCustomersOver: a customer the per-customer lane
// found deleted, still on a page the bulk lane reads (Contacthub's list
// lags its writes), is not the bulk lane's to add: a deletion is final
// unless Contacthub returns the customer again, which only the
// per-customer lane asks. Here Contacthub still has it, so that lane
// syncs it; the bulk lane must not have added it itself.
func TestBulkLoadHandsDeletedCustomersOver(t *testing.T) {
	h := startHarness(t, Options{Customers: bulkCustomers})
	ctx := t.Context()
	loader, err := h.NewLoader(h.Queues.SyncURL)
	if err != nil {
		t.Fatal(err)
	}
	gone := h.Customers[5]
	if _, err := h.plain.Put(ctx, ledger.Entry{SourceID: h.SourceID, CustomerID: gone, Deleted: true, SyncedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rep, err := RunBulk(ctx, loader, []jobs.BulkJob{h.BulkJobs("after-deletion")[0]}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.HandedOff != 1 {
		t.Errorf("report %+v, want the customer found deleted handed over", rep)
	}
	checkSynced(t, h, 30*time.Second)
}

// beforeClaims runs hook before each batch of entries the bulk lane
// writes whole (its add claims, and its records).
type beforeClaims struct {
	bulk.Ledger
	hook func([]ledger.BulkEntry)
}

func (b *beforeClaims) PutMany(ctx context.Context, entries []ledger.BulkEntry, jump int64) error {
	b.hook(entries)
	return b.Ledger.PutMany(ctx, entries, jump)
}
