package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/localaws/sqstrigger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/syncer"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
)

// Table is the harness's DynamoDB table on its own dynalite.
const Table = "hubsend-bench"

// Mapping is the field mapping of the measured source: the one the
// end-to-end tests use (six fields, one of them the match field).
var Mapping = []source.FieldMapping{
	{HubField: "base.contacts.email", SendField: "EMAIL", Match: true},
	{HubField: "base.firstName", SendField: "FIRST_NAME"},
	{HubField: "base.lastName", SendField: "LAST_NAME"},
	{HubField: "base.dob", SendField: "BIRTH_DATE"},
	{HubField: "extended.loyaltyPoints", SendField: "LOYALTY_POINTS"},
	{HubField: "extended.vip", SendField: "VIP"},
}

// Options configure a Harness.
type Options struct {
	// Customers is the size of the Contacthub demo; about half of them are
	// in the synced node. Default 200.
	Customers int
	// VisibilityTimeout of the harness's sync queue; default 6s, so a job
	// given back comes again soon. An invocation is bounded by half of it
	// (template.yaml: 60 s timeout, 6 min visibility), so a batch never
	// outlives its messages' visibility and has them received twice.
	VisibilityTimeout time.Duration
	// AddClaim is the worker's add claim; default two thirds of the
	// visibility timeout. As in template.yaml (60 s timeout < 2 min claim <
	// 6 min visibility), it outlasts an invocation, so a live add is never
	// repeated, and lapses before the job holding it is received again, so
	// a claim left by a killed worker or an add of unknown outcome costs
	// the job no extra receive.
	AddClaim time.Duration
	// Pollers is how many batches run at once (the event source mapping's
	// MaximumConcurrency); default as the local stack: template.yaml's,
	// at most 4 on this machine.
	Pollers int
	// BatchSize and BatchingWindow default to template.yaml's.
	BatchSize      int
	BatchingWindow time.Duration
	// SendIdleConns, when set, gives the Contactsend client a transport
	// keeping that many idle connections per host (the client's default,
	// http.DefaultTransport, keeps 2): an experiment on connection reuse.
	SendIdleConns int
	// Persist keeps dynalite's data on disk, so RestartDynamo can restart
	// it; without it dynalite keeps the table in memory (faster).
	Persist bool
	Logger  *slog.Logger
}

// Harness is the sync pipeline wired as in Lambda, with counted clients:
// the local stack supplies the simulators (and the SQS emulator), a second
// emulator pair supplies the DynamoDB table, so that dynalite can be
// restarted from disk alone.
type Harness struct {
	Stack  *devstack.Stack
	Dynamo *CountingDynamoDB
	SQS    *CountingSQS
	Queues emulators.Queues
	// Deps are the functions' shared dependencies on the counted clients;
	// the worker and any handler a test builds come from them.
	Deps  wiring.Deps
	Jobs  *jobs.Queue
	Store *configstore.Store
	// plain reads the ledger for the checker without being counted.
	plain    *ledger.Store
	Send     *contactsend.Client
	Writes   *Writes
	Hub      *contacthub.Client
	SourceID string
	Node     string
	// Customers are the ids of the Contacthub customers in the node.
	Customers []string
	// MasterKey seals the source's secrets in the table (a function
	// reading the table gets it as HUBSEND_MASTER_KEY).
	MasterKey []byte

	opts    Options
	dataDir string
	db      *emulators.Stack
	dbPorts [2]int

	mu         sync.Mutex
	batches    BatchStats
	stopWorker context.CancelFunc
	workerDone chan struct{}
	worker     *syncer.Worker
}

// Start brings a harness up with its worker running.
func Start(ctx context.Context, opts Options) (_ *Harness, err error) {
	if opts.Customers <= 0 {
		opts.Customers = 200
	}
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 6 * time.Second
	}
	if opts.AddClaim <= 0 {
		opts.AddClaim = 2 * opts.VisibilityTimeout / 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Harness{}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.dataDir, err = os.MkdirTemp("", "hubsend-bench-"); err != nil {
		return nil, err
	}
	h.Stack, err = devstack.Start(ctx, devstack.Options{
		DemoCustomers: opts.Customers, ScheduleEvery: time.Hour, VisibilityTimeout: opts.VisibilityTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("start the local stack: %w", err)
	}
	dbOpts := emulators.Options{}
	if opts.Persist {
		dbOpts.DataDir = h.dataDir
	}
	h.db, err = emulators.Start(ctx, dbOpts)
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	h.dbPorts = [2]int{port(h.db.DynamoEndpoint()), port(h.db.SQSEndpoint())}
	if opts, err = fromTemplate(h.db, opts); err != nil {
		return nil, err
	}
	h.opts = opts
	if err := h.db.CreateTable(ctx, Table); err != nil {
		return nil, err
	}
	h.Dynamo = &CountingDynamoDB{Client: h.db.DynamoDB()}
	h.SQS = &CountingSQS{Client: h.Stack.AWS.SQS()}
	if h.Queues, err = h.Stack.AWS.CreateQueues(ctx, "hubsend-bench"); err != nil {
		return nil, err
	}
	if _, err := h.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   &h.Queues.SyncURL,
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(opts.VisibilityTimeout.Seconds()))},
	}); err != nil {
		return nil, err
	}
	h.MasterKey = make([]byte, 32)
	rand.Read(h.MasterKey)
	clients := wiring.Clients{DynamoDB: h.Dynamo, SQS: h.SQS}
	if opts.SendIdleConns > 0 {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = opts.SendIdleConns
		clients.ContactsendHTTP = &http.Client{Transport: transport}
	}
	h.Deps, err = wiring.New(wiring.Env{
		TableName: Table, SyncQueueURL: h.Queues.SyncURL, MasterKey: h.MasterKey,
		ContactsendEndpoint: h.Stack.ContactsendURL + "/soap/services",
		AllowInsecureHub:    true, // the simulated Contacthub is on this machine
	}, clients, opts.Logger)
	if err != nil {
		return nil, err
	}
	h.Jobs, h.Store, h.Send = h.Deps.Jobs, h.Deps.Store, h.Deps.Send
	h.plain = ledger.New(h.db.DynamoDB(), Table)
	conn := configstore.Connection{
		Workspace: devstack.DemoWorkspace, ContacthubBaseURL: h.Stack.ContacthubURL + "/hub/v1",
		ContacthubWorkspaceID: devstack.DemoHubWorkspace, ContacthubToken: devstack.DemoHubToken,
	}
	if _, err := h.Store.PutConnection(ctx, conn); err != nil {
		return nil, err
	}
	all := h.Stack.Hub.Customers(devstack.DemoHubWorkspace)
	if len(all) == 0 {
		return nil, errors.New("the Contacthub demo has no customers")
	}
	h.Node = all[0]["nodeId"].(string)
	for _, c := range all {
		if c["nodeId"] == h.Node {
			h.Customers = append(h.Customers, c["id"].(string))
		}
	}
	src, err := h.Store.Create(ctx, source.Source{
		ID: "bench0000000000000000000001", WorkspaceID: devstack.DemoWorkspace, Name: "Benchmark",
		Nodes: []string{h.Node}, Enabled: true,
		Properties: source.Properties{
			APIKey: devstack.DemoSendAPIKey, UserKey: devstack.DemoSendUserKey, UserDBID: devstack.DemoUserDB,
			FieldMapping: Mapping,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the source: %w", err)
	}
	h.SourceID = src.ID
	h.Writes = NewWrites(h.Send)
	if h.Hub, err = h.Deps.Contacthub(conn, retry.Policy{}); err != nil {
		return nil, err
	}
	if err := h.StartWorker(); err != nil {
		return nil, err
	}
	return h, nil
}

// fromTemplate fills the event source mapping's settings from the sync
// worker's SQS event in template.yaml.
func fromTemplate(db *emulators.Stack, opts Options) (Options, error) {
	subs, err := db.Template().QueueSubscriptions()
	if err != nil {
		return opts, err
	}
	for _, sub := range subs {
		if sub.FunctionID != "SyncWorkerFunction" {
			continue
		}
		if opts.Pollers <= 0 {
			opts.Pollers = min(sub.MaximumConcurrency, 4)
		}
		if opts.BatchSize <= 0 {
			opts.BatchSize = sub.BatchSize
		}
		if opts.BatchingWindow <= 0 {
			opts.BatchingWindow = sub.MaximumBatchingWindow
		}
		return opts, nil
	}
	return opts, errors.New("template.yaml has no SQS event for SyncWorkerFunction")
}

func port(endpoint string) int {
	n, _ := strconv.Atoi(endpoint[strings.LastIndexByte(endpoint, ':')+1:])
	return n
}

// NewWorker returns the sync worker function's worker on the harness's
// counted clients, noting writes, with the harness's shorter timings: a
// fresh one has cold caches, like a new Lambda instance.
func (h *Harness) NewWorker() (*syncer.Worker, error) {
	cfg := syncworkerfn.Config(h.Deps)
	cfg.Send = h.Writes
	cfg.AddClaim = h.opts.AddClaim
	// The harness's invocations are short (see VisibilityTimeout): the
	// default margin would give every job back.
	cfg.DeadlineMargin = h.opts.VisibilityTimeout / 6
	return syncer.New(cfg)
}

// StartWorker starts a new worker fed from the sync queue.
func (h *Harness) StartWorker() error {
	w, err := h.NewWorker()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h.mu.Lock()
	h.worker, h.stopWorker, h.workerDone = w, cancel, done
	h.mu.Unlock()
	go func() {
		defer close(done)
		sqstrigger.Run(ctx, sqstrigger.Config{
			Client: h.SQS, QueueURL: h.Queues.SyncURL, Handler: h.timed(w.HandleSQS),
			BatchSize: h.opts.BatchSize, BatchingWindow: h.opts.BatchingWindow, Concurrency: h.opts.Pollers,
			FunctionTimeout: h.opts.VisibilityTimeout / 2, Logger: h.opts.Logger,
		})
	}()
	return nil
}

// BatchStats sums the worker's invocations.
type BatchStats struct {
	Invocations int
	Records     int
	Time        time.Duration
}

// Since returns the invocations after before.
func (b BatchStats) Since(before BatchStats) BatchStats {
	return BatchStats{b.Invocations - before.Invocations, b.Records - before.Records, b.Time - before.Time}
}

// Batches returns the invocations so far.
func (h *Harness) Batches() BatchStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.batches
}

func (h *Harness) timed(handle sqstrigger.Handler) sqstrigger.Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		start := time.Now()
		resp, err := handle(ctx, ev)
		took := time.Since(start)
		h.mu.Lock()
		h.batches.Invocations++
		h.batches.Records += len(ev.Records)
		h.batches.Time += took
		h.mu.Unlock()
		return resp, err
	}
}

// StopWorker kills the worker as a crashed instance dies: jobs in flight
// are neither finished nor acknowledged.
func (h *Harness) StopWorker() {
	h.mu.Lock()
	stop, done := h.stopWorker, h.workerDone
	h.stopWorker, h.workerDone = nil, nil
	h.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// RestartDynamo stops dynalite and starts it again on the same port from
// the same data directory. The harness's clients keep their endpoint.
func (h *Harness) RestartDynamo(ctx context.Context) error {
	if !h.opts.Persist {
		return errors.New("dynalite keeps no data on disk: start the harness with Persist")
	}
	if err := h.db.Close(); err != nil {
		return fmt.Errorf("stop dynalite: %w", err)
	}
	db, err := emulators.Start(ctx, emulators.Options{DataDir: h.dataDir, DynamoPort: h.dbPorts[0], SQSPort: h.dbPorts[1]})
	if err != nil {
		return fmt.Errorf("restart dynalite: %w", err)
	}
	h.db = db
	return nil
}

// DynamoEndpoint is the URL of the harness's dynalite.
func (h *Harness) DynamoEndpoint() string { return h.db.DynamoEndpoint() }

// Close stops everything the harness started.
func (h *Harness) Close() error {
	h.StopWorker()
	var errs []error
	if h.db != nil {
		errs = append(errs, h.db.Close())
	}
	if h.Stack != nil {
		errs = append(errs, h.Stack.Close())
	}
	if h.dataDir != "" {
		errs = append(errs, os.RemoveAll(h.dataDir))
	}
	return errors.Join(errs...)
}

// Enqueue puts one job per customer on the sync queue.
func (h *Harness) Enqueue(ctx context.Context, reason jobs.Reason, customers ...string) error {
	batch := make([]jobs.Job, 0, len(customers))
	for _, id := range customers {
		batch = append(batch, jobs.Job{SourceID: h.SourceID, CustomerID: id, Reason: reason})
	}
	return h.Jobs.Send(ctx, batch...)
}

// Change sets a customer's first name through Contacthub's API and returns
// when Contacthub had it.
func (h *Harness) Change(ctx context.Context, customerID, firstName string) (time.Time, error) {
	if _, err := h.Hub.PatchCustomer(ctx, customerID, map[string]any{"base": map[string]any{"firstName": firstName}}); err != nil {
		return time.Time{}, fmt.Errorf("patch customer %s: %w", customerID, err)
	}
	return time.Now(), nil
}

// Subscriber returns the Contactsend subscriber the ledger links to the
// customer, or 0.
func (h *Harness) Subscriber(ctx context.Context, customerID string) (int64, error) {
	e, err := h.plain.Get(ctx, h.SourceID, customerID)
	if err != nil {
		return 0, err
	}
	return e.SubscriberID, nil
}

// Calls is a snapshot of every counter the harness has.
type Calls struct {
	Contactsend, Contacthub, DynamoDB, SQS map[string]int
}

// Snapshot reads every counter.
func (h *Harness) Snapshot() Calls {
	return Calls{
		Contactsend: h.Stack.Send.Calls().Counts(),
		Contacthub:  h.Stack.Hub.Calls().Counts(),
		DynamoDB:    h.Dynamo.Counts(),
		SQS:         h.SQS.Counts(),
	}
}

// Since returns the calls made between before and c.
func (c Calls) Since(before Calls) Calls {
	return Calls{
		Contactsend: Delta(before.Contactsend, c.Contactsend),
		Contacthub:  Delta(before.Contacthub, c.Contacthub),
		DynamoDB:    Delta(before.DynamoDB, c.DynamoDB),
		SQS:         Delta(before.SQS, c.SQS),
	}
}

// Eventually polls check until it reports no problem or within passes, and
// returns the last problems.
func Eventually(ctx context.Context, within time.Duration, check func(context.Context) []string) []string {
	return EventuallyEvery(ctx, within, 100*time.Millisecond, check)
}

// EventuallyEvery is Eventually polling every interval: a check that
// reads only this process's memory may poll often without loading what
// it watches.
func EventuallyEvery(ctx context.Context, within, interval time.Duration, check func(context.Context) []string) []string {
	deadline := time.Now().Add(within)
	for {
		problems := check(ctx)
		if len(problems) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return problems
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// Check compares both simulators, the ledger and the queues, and returns
// every broken invariant (at most a few per kind, with a count):
//   - every customer of the node is linked in the ledger to a subscriber
//     whose EMAIL and FIRST_NAME are the customer's current ones (no lost
//     change);
//   - no two subscribers hold one email, and no two customers share one
//     subscriber (nothing synced twice);
//   - no failed records, and both queues are empty (DLQ empty).
func (h *Harness) Check(ctx context.Context) []string {
	return h.check(ctx, true)
}

// CheckAllowingDeadLetters is Check without the dead-letter queue, for
// runs whose dead letters are then explained one by one (DeadLetters).
func (h *Harness) CheckAllowingDeadLetters(ctx context.Context) []string {
	return h.check(ctx, false)
}

// DeadLetter is a job that ended in the dead-letter queue.
type DeadLetter struct {
	Job      jobs.Job
	Receives string // ApproximateReceiveCount
}

// DeadLetters reads (without deleting) every message of the dead-letter
// queue.
func (h *Harness) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	for {
		resp, err := h.SQS.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(h.Queues.DeadLetterURL), MaxNumberOfMessages: 10, VisibilityTimeout: 300,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return out, fmt.Errorf("read the dead-letter queue: %w", err)
		}
		if len(resp.Messages) == 0 {
			return out, nil
		}
		for _, m := range resp.Messages {
			job, err := jobs.Decode(aws.ToString(m.Body))
			if err != nil {
				return out, err
			}
			out = append(out, DeadLetter{Job: job, Receives: m.Attributes["ApproximateReceiveCount"]})
		}
	}
}

func (h *Harness) check(ctx context.Context, deadLetters bool) []string {
	if err := h.db.Exited(); err != nil {
		// Every read would be "connection refused": say why instead.
		return []string{"the harness's DynamoDB emulator stopped: " + err.Error()}
	}
	var problems []string
	report := func(kind string, items []string) {
		if len(items) == 0 {
			return
		}
		sort.Strings(items)
		shown := items[:min(len(items), 3)]
		problems = append(problems, fmt.Sprintf("%s: %d (%s)", kind, len(items), strings.Join(shown, "; ")))
	}
	subs, err := h.Stack.Send.Subscribers(devstack.DemoUserDB)
	if err != nil {
		return []string{"read Contactsend: " + err.Error()}
	}
	byID := make(map[int64]map[string]any, len(subs))
	emails := make(map[string]int, len(subs))
	var duplicates []string
	for _, s := range subs {
		byID[s.ID] = s.Attributes
		email := strings.ToLower(fmt.Sprint(s.Attributes["EMAIL"]))
		if emails[email]++; emails[email] == 2 {
			duplicates = append(duplicates, email)
		}
	}
	report("duplicate subscribers", duplicates)

	var unlinked, stale, failed []string
	owners := make(map[int64]string)
	var shared []string
	for _, id := range h.Customers {
		c, ok := h.Stack.Hub.Customer(devstack.DemoHubWorkspace, id)
		if !ok {
			continue
		}
		e, err := h.plain.Get(ctx, h.SourceID, id)
		if err != nil {
			return []string{"read the ledger: " + err.Error()}
		}
		if e.Failed {
			failed = append(failed, id)
		}
		if e.SubscriberID == 0 {
			unlinked = append(unlinked, id)
			continue
		}
		if other, dup := owners[e.SubscriberID]; dup {
			shared = append(shared, other+"+"+id)
		}
		owners[e.SubscriberID] = id
		attrs := byID[e.SubscriberID]
		base, _ := c["base"].(map[string]any)
		contacts, _ := base["contacts"].(map[string]any)
		if attrs == nil || !strings.EqualFold(fmt.Sprint(attrs["EMAIL"]), fmt.Sprint(contacts["email"])) ||
			fmt.Sprint(attrs["FIRST_NAME"]) != fmt.Sprint(base["firstName"]) {
			stale = append(stale, id)
		}
	}
	report("customers without a subscriber", unlinked)
	report("subscribers not holding the customer's current values", stale)
	report("customers sharing a subscriber", shared)
	report("failed ledger entries", failed)
	page, err := h.plain.Failures(ctx, h.SourceID, 10, "")
	if err != nil {
		return append(problems, "read failed records: "+err.Error())
	}
	if n := len(page.Failures); n > 0 {
		problems = append(problems, fmt.Sprintf("%d failed records, first: %s", n, page.Failures[0].Reason))
	}
	queues := map[string]string{"sync queue": h.Queues.SyncURL}
	if deadLetters {
		queues["dead-letter queue"] = h.Queues.DeadLetterURL
	}
	for name, url := range queues {
		n, err := h.queueDepth(ctx, url)
		if err != nil {
			return append(problems, err.Error())
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%s holds %d messages", name, n))
		}
	}
	return problems
}

func (h *Harness) queueDepth(ctx context.Context, url string) (int, error) {
	out, err := h.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		return 0, fmt.Errorf("queue attributes: %w", err)
	}
	total := 0
	for _, v := range out.Attributes {
		n, _ := strconv.Atoi(v)
		total += n
	}
	return total, nil
}
