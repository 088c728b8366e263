// Package scheduler is the work of hubsend's scheduled function: every
// minute, for each enabled source, it reads the Contacthub change feed from
// the stored offset and enqueues one sync job per changed customer, it
// advances a running backfill (every customer of the node, page by page),
// and, for sources with subscription rows, it advances the reconciliation
// walk of the userdb that finds Contactsend subscription changes.
//
// Progress is stored only after the jobs it covers are in the queue, so a
// crash at any point loses nothing; it may enqueue some customers twice,
// which level-triggered jobs make harmless. A per-source lease keeps two
// overlapping runs from doing the same work, and versioned checkpoints keep
// a run that outlived its lease from undoing a newer run's progress.
//
// # Fan-out: every source every minute
//
// One invocation working on every source could serve only as many sources
// as fit in its timeout: at 50 sources some feeds went unread for minutes
// and one slow source held up the rest. So the scheduled tick (Dispatch)
// only lists the enabled sources (a paged Query of the enabled index) and
// sends one "tick source S" message per source to a small SQS FIFO queue
// (package ticks); the queue's event source mapping invokes RunSource for
// one message at a time, each invocation with its own deadline (the
// function timeout, less DeadlineMargin), under the source's existing
// lease. Each source's feed is therefore read once a minute whatever the
// others do, and the mapping's maximum concurrency bounds how many sources
// are worked at once. A slow or failing source holds one invocation, never
// another source's.
//
// Why an SQS FIFO queue rather than the function invoking itself
// asynchronously per source: the message group (the source id) lets SQS
// keep a source to one tick at a time, so a slow source's next tick waits
// for the current run instead of meeting its lease; the deduplication id
// (source and minute) drops a scheduled tick delivered twice; the mapping's
// MaximumConcurrency bounds the fan-out where asynchronous invocations
// would need reserved concurrency and throttled retries lasting hours; and
// a message that cannot be read ends in a dead-letter queue an operator
// can see. Ticks that queued up behind a slow run are Covered: RunSource
// skips a tick whose source's feed was read after the tick was sent, so a
// backlog costs a checkpoint read per tick and never grows.
//
// Tick, which works every source in one invocation, remains for callers
// without a tick queue (tests, tools, a stack configured without one).
//
// An aggregate node's feed is read by the aggregate's own id: Contacthub
// filters the feed by node, and for an aggregate the filter selects the
// changes of its member entry nodes, so one offset covers them all.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/source"
)

// Sources is the part of the configuration store the scheduler reads.
type Sources interface {
	EnabledSources(ctx context.Context) ([]string, error)
	GetByID(ctx context.Context, id string) (source.Source, error)
	Connection(ctx context.Context, workspace string) (configstore.Connection, error)
}

// Hub is the part of the Contacthub client the scheduler uses.
type Hub interface {
	Updates(ctx context.Context, q contacthub.UpdatesQuery) (contacthub.Updates, error)
	LastOffset(ctx context.Context, nodeID, entity string) (int64, error)
	Customers(ctx context.Context, q contacthub.ListQuery) (contacthub.CustomerPage, error)
	// Node tells entry nodes from aggregates, whose subscriptions are
	// never reconciled.
	Node(ctx context.Context, id string) (contacthub.Node, error)
}

// HubFactory makes a Contacthub client for a workspace connection.
type HubFactory func(conn configstore.Connection) (Hub, error)

// Checkpoints stores feed, backfill and reconciliation progress and
// per-source leases (*checkpoint.Store).
type Checkpoints interface {
	AcquireLease(ctx context.Context, sourceID, owner string, now time.Time, d time.Duration) (checkpoint.Lease, error)
	ReleaseLease(ctx context.Context, l checkpoint.Lease) error
	HeldLease(ctx context.Context, sourceID string, now time.Time) (checkpoint.Lease, bool, error)
	Feed(ctx context.Context, sourceID string) (checkpoint.Feed, bool, error)
	SaveFeed(ctx context.Context, sourceID string, f checkpoint.Feed) (checkpoint.Feed, error)
	Backfill(ctx context.Context, sourceID string) (checkpoint.Backfill, bool, error)
	SaveBackfill(ctx context.Context, sourceID string, b checkpoint.Backfill) (checkpoint.Backfill, error)
	StartBackfill(ctx context.Context, sourceID, runID string, now time.Time) (checkpoint.Backfill, error)
	Reconcile(ctx context.Context, sourceID string) (checkpoint.Reconcile, bool, error)
	SaveReconcile(ctx context.Context, sourceID string, r checkpoint.Reconcile) (checkpoint.Reconcile, error)
}

// Sender puts jobs on the sync queue; a nil error means all of them are
// there.
type Sender interface {
	Send(ctx context.Context, jobs ...jobs.Job) error
}

// Defaults of Config's budgets.
const (
	DefaultMaxUpdates       = contacthub.MaxUpdatesSize
	DefaultMaxBackfillPages = 40
	DefaultConcurrency      = 4
	// DefaultLease outlasts the source tick function's 60 s timeout (and
	// any run of Tick within a 120 s invocation), so a live run never loses
	// its lease; a crashed run's lease frees the source within a few ticks.
	DefaultLease          = 3 * time.Minute
	DefaultDeadlineMargin = 10 * time.Second
)

// BackfillPageSize is the size of a backfill page: Contacthub's maximum.
const BackfillPageSize = contacthub.MaxPageSize

// backfillSort keeps pages stable while a backfill runs: customers created
// meanwhile sort last instead of shifting pages already enqueued.
const backfillSort = "registeredAt,asc"

// Config holds the scheduler's dependencies and budgets. Sources, Hub,
// Checkpoints, Jobs, Send and Ledger are required; zero budgets take the
// defaults above.
type Config struct {
	Sources     Sources
	Hub         HubFactory
	Checkpoints Checkpoints
	Jobs        Sender
	// Now is the clock of leases and checkpoints; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	// MaxUpdates bounds the feed entries read per source per tick.
	MaxUpdates int
	// MaxBackfillPages bounds the backfill pages read per source per tick.
	MaxBackfillPages int
	// Send and Ledger let the reconciliation compare Contactsend's
	// subscription statuses with the ledger.
	Send   Send
	Ledger Ledger
	// MaxReconcilePages bounds the userdb pages compared per source per tick.
	MaxReconcilePages int
	// Concurrency is how many sources are worked on at once.
	Concurrency int
	// Lease is how long a run claims a source.
	Lease time.Duration
	// DeadlineMargin is kept free before the context's deadline: no new
	// Contacthub read starts within it, so what was read can still be sent
	// and checkpointed.
	DeadlineMargin time.Duration
	// Bulk, when set, makes backfills feed the bulk lane instead of
	// enqueueing a sync job per customer (see BulkLane).
	Bulk *BulkLane
	// Ticks is the fan-out queue Dispatch sends one tick per source to;
	// nil for a scheduler that only works sources itself (Tick, RunSource).
	Ticks TickSender
	// Runs, when set, records each pass that enqueued jobs (or failed) in
	// the run history, and its jobs carry the run's id.
	Runs RunRecorder
	// Alerts, when set, checks each source's alert thresholds after its
	// tick (package alerts).
	Alerts AlertChecker
}

// AlertChecker checks a source's alert thresholds, given the feed lag the
// tick measured.
type AlertChecker interface {
	CheckSource(ctx context.Context, sourceID, sourceName string, feedLagSeconds int64) error
}

// RunRecorder stores the run history (package runs).
type RunRecorder interface {
	Record(ctx context.Context, r runs.Run) error
}

// Scheduler runs ticks. It is safe for concurrent use.
type Scheduler struct {
	cfg Config
	log *slog.Logger
}

// New returns a scheduler for cfg, or an error naming every missing
// dependency: a scheduler without one would silently skip part of its work
// (the reconciliation, without Send or Ledger) or fail on every tick.
func New(cfg Config) (*Scheduler, error) {
	var missing []string
	for _, dep := range []struct {
		name string
		set  bool
	}{
		{"Sources", cfg.Sources != nil}, {"Hub", cfg.Hub != nil}, {"Checkpoints", cfg.Checkpoints != nil},
		{"Jobs", cfg.Jobs != nil}, {"Send", cfg.Send != nil}, {"Ledger", cfg.Ledger != nil},
	} {
		if !dep.set {
			missing = append(missing, dep.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("scheduler: missing dependencies in Config: %s", strings.Join(missing, ", "))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxUpdates <= 0 {
		cfg.MaxUpdates = DefaultMaxUpdates
	}
	if cfg.MaxBackfillPages <= 0 {
		cfg.MaxBackfillPages = DefaultMaxBackfillPages
	}
	if cfg.MaxReconcilePages <= 0 {
		cfg.MaxReconcilePages = DefaultMaxReconcilePages
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.DeadlineMargin <= 0 {
		cfg.DeadlineMargin = DefaultDeadlineMargin
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger}, nil
}

// Outcome says what a tick did with one source.
type Outcome string

// Outcomes of a source in a tick.
const (
	Worked   Outcome = "worked"   // feed read (and backfill advanced) as far as the budget allowed
	Busy     Outcome = "busy"     // another run holds the source's lease
	Deferred Outcome = "deferred" // no time left before the deadline
	Skipped  Outcome = "skipped"  // disabled or deleted since it was listed
	// Superseded: the run outlived its lease and a newer run stored
	// progress first; what this run enqueued is a harmless duplicate.
	Superseded Outcome = "superseded"
	Failed     Outcome = "failed" // see Err; recorded in the checkpoint
	// Partial: some parts of the tick (feed, backfill, reconciliation)
	// worked and others failed; the report says which.
	Partial Outcome = "partial"
	// Covered: a run that read the feed after this tick was sent did the
	// tick's work (RunSource).
	Covered Outcome = "covered"
)

// SourceReport is what one tick did for one source.
type SourceReport struct {
	SourceID string
	// Outcome sums up the parts: Worked when every part that ran worked,
	// Failed when none did, Partial in between.
	Outcome Outcome
	// Feed, Backfill and Reconcile are each part's own outcome: Worked,
	// Failed or Superseded; empty when the part had nothing to do.
	Feed, Backfill, Reconcile Outcome
	FeedEnqueued              int
	BackfillEnqueued          int
	// ReconcileEnqueued counts the jobs of Contactsend-side differences.
	ReconcileEnqueued int
	// Offset is the feed offset stored at the end of the tick.
	Offset     int64
	LagSeconds int64
	Err        error
}

// Report is what one tick did.
type Report struct {
	Sources []SourceReport
}

// Enqueued counts every job the tick enqueued.
func (r Report) Enqueued() int {
	n := 0
	for _, s := range r.Sources {
		n += s.FeedEnqueued + s.BackfillEnqueued + s.ReconcileEnqueued
	}
	return n
}

// Source returns the report of one source.
func (r Report) Source(id string) (SourceReport, bool) {
	for _, s := range r.Sources {
		if s.SourceID == id {
			return s, true
		}
	}
	return SourceReport{}, false
}

// Tick works on every enabled source once. Problems with one source are
// recorded in its checkpoint and report and never stop the others; the
// error is for failing to list the sources at all.
func (s *Scheduler) Tick(ctx context.Context) (Report, error) {
	ids, err := s.cfg.Sources.EnabledSources(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("scheduler: list enabled sources: %w", err)
	}
	r := &run{s: s, owner: "tick-" + randomID(), hubs: map[string]*hubEntry{}}
	report := Report{Sources: make([]SourceReport, len(ids))}
	limit := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			report.Sources[i] = r.source(ctx, id)
		})
	}
	wg.Wait()
	return report, nil
}

// StartBackfill starts enumerating the source's node from page 0, replacing
// a running or finished backfill. The next ticks carry it out.
func (s *Scheduler) StartBackfill(ctx context.Context, sourceID string) error {
	b, err := s.cfg.Checkpoints.StartBackfill(ctx, sourceID, randomID(), s.cfg.Now())
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.log.InfoContext(ctx, "backfill started", "source", sourceID, "run", b.RunID)
	return nil
}

// HasBackfilled reports whether a backfill was ever started for the
// source, so enabling it for the first time knows to start one.
func (s *Scheduler) HasBackfilled(ctx context.Context, sourceID string) (bool, error) {
	_, found, err := s.cfg.Checkpoints.Backfill(ctx, sourceID)
	if err != nil {
		return false, fmt.Errorf("scheduler: %w", err)
	}
	return found, nil
}

// Status is a source's intake progress. Feed and Backfill are nil when the
// source never had one.
type Status struct {
	Feed     *checkpoint.Feed     `json:"feed"`
	Backfill *checkpoint.Backfill `json:"backfill"`
	// Running says a scheduler run holds the source's lease right now.
	Running bool `json:"running"`
}

// Status returns the source's feed and backfill checkpoints.
func (s *Scheduler) Status(ctx context.Context, sourceID string) (Status, error) {
	var st Status
	feed, found, err := s.cfg.Checkpoints.Feed(ctx, sourceID)
	if err != nil {
		return Status{}, fmt.Errorf("scheduler: %w", err)
	}
	if found {
		st.Feed = &feed
	}
	backfill, found, err := s.cfg.Checkpoints.Backfill(ctx, sourceID)
	if err != nil {
		return Status{}, fmt.Errorf("scheduler: %w", err)
	}
	if found {
		st.Backfill = &backfill
	}
	_, st.Running, err = s.cfg.Checkpoints.HeldLease(ctx, sourceID, s.cfg.Now())
	if err != nil {
		return Status{}, fmt.Errorf("scheduler: %w", err)
	}
	return st, nil
}

// errTokenRefused is Contacthub refusing the workspace's token (401/403).
// Retrying in the same tick would only repeat the refusal.
var errTokenRefused = errors.New("token refused")

// describe turns a source's error into the checkpoint's lastError text.
func describe(err error) string {
	if errors.Is(err, errTokenRefused) {
		return errTokenRefused.Error()
	}
	return err.Error()
}

// refused wraps a Contacthub 401 or 403 as errTokenRefused.
func refused(err error) error {
	if errors.Is(err, contacthub.ErrUnauthorized) || errors.Is(err, contacthub.ErrForbidden) {
		return fmt.Errorf("%w: %w", errTokenRefused, err)
	}
	return err
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
