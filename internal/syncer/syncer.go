// Package syncer is hubsend's sync worker: it runs the sync jobs of the SQS
// queue, each bringing one Contacthub customer up to date in its source's
// Contactsend userdb (level-triggered: the job reads current state, so
// duplicates and redeliveries are harmless), and records what it wrote in
// the ledger so that unchanged customers cost no Contactsend call.
//
// Concurrency towards Contactsend is capped per source and per instance by
// source.Properties.InFlight(). Across instances the bound is the event
// source mapping's MaximumConcurrency times that cap, so a deployment that
// must hold a source to N calls in flight sets MaximumConcurrency to 1 and
// the cap to N (or divides N between them).
//
// Time: jobs run on a context that ends Config.DeadlineMargin before the
// invocation's deadline, and every retry inside them stops at it; what a
// job cut off by it leaves (an add claim after an add of unknown outcome)
// keeps the next run from repeating an add. The margin is spent giving the
// unfinished jobs back, writing the counters and answering, so the partial
// batch response always beats Lambda's timeout.
//
// Redelivery: a job given back after a transient failure is postponed with
// ChangeMessageVisibility by RedeliveryDelay (seconds, growing with its
// receive count, at least a server's Retry-After), not left for the queue's
// visibility timeout; the ledger keeps a mark per waiting job, which the
// status endpoint counts.
package syncer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/source"
)

// Sources reads configuration: sources (with decrypted keys) and the
// workspace connections to Contacthub.
type Sources interface {
	GetByID(ctx context.Context, id string) (source.Source, error)
	Connection(ctx context.Context, workspace string) (configstore.Connection, error)
}

// Hub is the part of a Contacthub client the worker uses.
type Hub interface {
	Customer(ctx context.Context, id string) (contacthub.Customer, error)
	Node(ctx context.Context, id string) (contacthub.Node, error)
}

// HubFactory makes a Contacthub client for a workspace connection. The
// worker caches one client per connection.
type HubFactory func(configstore.Connection) (Hub, error)

// Send is the part of the Contactsend client the worker uses.
type Send interface {
	SubscriberSource(ctx context.Context, cred contactsend.Credentials, userDBID int64) (contactsend.SubscriberSource, error)
	GetSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID, id int64) (contactsend.Subscriber, error)
	FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, userDBID int64, q contactsend.Query) (contactsend.SubscriberPage, error)
	AddSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, s contactsend.Subscriber) (contactsend.Subscriber, error)
	UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, s contactsend.Subscriber) (contactsend.Subscriber, error)
	RemoveSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID, id int64) error
}

// Ledger is the part of the ledger store the worker uses.
type Ledger interface {
	Get(ctx context.Context, sourceID, customerID string) (ledger.Entry, error)
	Put(ctx context.Context, e ledger.Entry) (ledger.Entry, error)
	BySubscriber(ctx context.Context, sourceID string, subscriberID int64) (ledger.Entry, error)
	RecordFailure(ctx context.Context, f ledger.Failure) error
	ClearFailure(ctx context.Context, sourceID, customerID string) error
	AddStats(ctx context.Context, sourceID string, b ledger.Batch) error
	MarkWaiting(ctx context.Context, sourceID string, jobs []ledger.WaitingJob) error
	ClearWaiting(ctx context.Context, sourceID string, keys []string) error
}

// Defaults of Config's durations.
const (
	// DefaultDeadlineMargin is kept back at the end of an invocation: jobs
	// run on a context that ends this long before the invocation's
	// deadline, leaving the time to give back what they did not finish,
	// write the counters and answer; and a job is not started with less
	// than this left of the jobs' time.
	DefaultDeadlineMargin = 5 * time.Second
	// DefaultAddClaim is how long a claim to add a subscriber holds off
	// other workers; it outlasts any job.
	DefaultAddClaim = 2 * time.Minute
	// DefaultFieldsTTL is how long a userdb's field types are cached.
	DefaultFieldsTTL = 5 * time.Minute
	// DefaultJobsPerSource bounds the goroutines of one source in a batch.
	DefaultJobsPerSource = 2 * source.DefaultMaxInFlight
	// DefaultEventWait is how long after it was enqueued a job without an
	// event time may wait (through SQS redelivery) for the event of a
	// Contactsend change it cannot order against a Contacthub change: a
	// webhook's event normally arrives well within it, and a job redelivered
	// later decides by when it saw the change.
	DefaultEventWait = 2 * time.Minute
)

// Config holds what a Worker uses. Sources, Ledger, Hub and Send are
// required.
type Config struct {
	Sources Sources
	Ledger  Ledger
	Hub     HubFactory
	Send    Send
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger     // default discards
	// DeadlineMargin, AddClaim and FieldsTTL default to the constants above.
	DeadlineMargin time.Duration
	AddClaim       time.Duration
	FieldsTTL      time.Duration
	// SubscriptionClaim defaults to DefaultSubscriptionClaim.
	SubscriptionClaim time.Duration
	// Queue and QueueURL (the sync queue) let the worker postpone a job it
	// gives back by RedeliveryDelay instead of the queue's visibility
	// timeout. Without them jobs come back after the visibility timeout.
	Queue    Queue
	QueueURL string
	// EventWait defaults to DefaultEventWait.
	EventWait time.Duration
	// History, when set, receives the consent trail: an entry per
	// subscription decision that changes something and per data write.
	// HistoryRetention, when set, overrides every workspace's retention
	// (History.Retention, by default history.DefaultRetention).
	History          History
	HistoryRetention time.Duration
	// Runs, when set, receives what each batch made of the jobs of each
	// scheduler run (package runs).
	Runs RunOutcomes
}

// RunOutcomes adds a batch's outcomes to a scheduler run.
type RunOutcomes interface {
	AddOutcomes(ctx context.Context, sourceID, runID string, o runs.Outcomes) error
}

// Worker runs sync jobs. It is safe for concurrent use; one Lambda
// instance holds one Worker, whose caches outlive a batch.
type Worker struct {
	sources Sources
	ledger  Ledger
	newHub  HubFactory
	send    Send
	now     func() time.Time
	log     *slog.Logger
	margin  time.Duration
	claim   time.Duration
	ttl     time.Duration
	// subClaim is how long a subscription write claim holds.
	subClaim time.Duration
	queue    Queue
	queueURL string
	// eventWait is how long an undated job may wait for an event's time.
	eventWait time.Duration
	// history and historyRetention: see Config.
	history          History
	historyRetention time.Duration
	runs             RunOutcomes
	// retentions caches each workspace's history retention.
	retentions ttlCache[time.Duration]

	mu     sync.Mutex // guards hubs and limits
	hubs   map[string]Hub
	limits map[string]*limit
	fields ttlCache[[]mapping.SendField]
	// systems caches each source's userdb subscription systems.
	systems ttlCache[[]contactsend.Subscription]
	// connections caches workspace connections for ConnectionTTL: they
	// change rarely, and a changed token is picked up that much later.
	connections ttlCache[configstore.Connection]
}

// ConnectionTTL is how long a workspace's Contacthub connection is reused
// without reading it again. Sources themselves are read on every batch, so
// disabling one takes effect at once.
const ConnectionTTL = 30 * time.Second

// connection returns the workspace's Contacthub connection, from the cache
// while it is fresh.
func (w *Worker) connection(ctx context.Context, workspace string) (configstore.Connection, error) {
	return w.connections.get(workspace, w.now(), ConnectionTTL, func() (configstore.Connection, error) {
		return w.sources.Connection(ctx, workspace)
	})
}

// limit is a source's semaphore on Contactsend calls.
type limit struct {
	capacity int
	slots    chan struct{}
}

// New returns a Worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Sources == nil || cfg.Ledger == nil || cfg.Hub == nil || cfg.Send == nil {
		return nil, errors.New("syncer: Sources, Ledger, Hub and Send are required")
	}
	w := &Worker{
		sources: cfg.Sources, ledger: cfg.Ledger, newHub: cfg.Hub, send: cfg.Send,
		now: cfg.Clock, log: cfg.Logger,
		margin: cfg.DeadlineMargin, claim: cfg.AddClaim, ttl: cfg.FieldsTTL, subClaim: cfg.SubscriptionClaim, eventWait: cfg.EventWait,
		queue: cfg.Queue, queueURL: cfg.QueueURL, history: cfg.History, historyRetention: cfg.HistoryRetention, runs: cfg.Runs,
		hubs: make(map[string]Hub), limits: make(map[string]*limit),
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.margin <= 0 {
		w.margin = DefaultDeadlineMargin
	}
	if w.claim <= 0 {
		w.claim = DefaultAddClaim
	}
	if w.ttl <= 0 {
		w.ttl = DefaultFieldsTTL
	}
	if w.subClaim <= 0 {
		w.subClaim = DefaultSubscriptionClaim
	}
	if w.eventWait <= 0 {
		w.eventWait = DefaultEventWait
	}
	return w, nil
}

// hub returns the cached client of a connection, making it on first use.
// The key covers everything the client is built from, so a rotated token
// or moved base URL gets a new client.
func (w *Worker) hub(conn configstore.Connection) (Hub, error) {
	sum := sha256.Sum256([]byte(conn.Workspace + "\x00" + conn.ContacthubBaseURL + "\x00" + conn.ContacthubWorkspaceID + "\x00" + conn.ContacthubToken))
	key := hex.EncodeToString(sum[:])
	w.mu.Lock()
	defer w.mu.Unlock()
	if h, ok := w.hubs[key]; ok {
		return h, nil
	}
	h, err := w.newHub(conn)
	if err != nil {
		return nil, fmt.Errorf("contacthub client for workspace %s: %w", conn.Workspace, err)
	}
	w.hubs[key] = h
	return h, nil
}

// limiter returns the source's semaphore, replacing it when the source's
// cap changed.
func (w *Worker) limiter(src source.Source) *limit {
	capacity := src.Properties.InFlight()
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.limits[src.ID]
	if l == nil || l.capacity != capacity {
		l = &limit{capacity: capacity, slots: make(chan struct{}, capacity)}
		w.limits[src.ID] = l
	}
	return l
}

// claimOwner names one run in a ledger claim.
func claimOwner() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func credentials(src source.Source) contactsend.Credentials {
	return contactsend.Credentials{APIKey: src.Properties.APIKey, UserKey: src.Properties.UserKey}
}

// userDBKey keys what the caches hold about a source's userdb. It includes
// the keys (hashed: no secret in memory maps beyond the source itself), so
// a changed key reloads, and a preview of an unsaved draft, which has no
// source id, never meets what another account's userdb of the same number
// left in the cache.
func userDBKey(src source.Source) string {
	sum := sha256.Sum256([]byte(src.Properties.APIKey + "\x00" + src.Properties.UserKey))
	return src.ID + "#" + strconv.FormatInt(src.Properties.UserDBID, 10) + "#" + hex.EncodeToString(sum[:8])
}

// userDBFields returns the field types of the source's userdb, from the
// cache when fresh.
func (w *Worker) userDBFields(ctx context.Context, src source.Source, send Send) ([]mapping.SendField, error) {
	key := userDBKey(src)
	return w.fields.get(key, w.now(), w.ttl, func() ([]mapping.SendField, error) {
		desc, err := send.SubscriberSource(ctx, credentials(src), src.Properties.UserDBID)
		if err != nil {
			return nil, fmt.Errorf("read the fields of userdb %d: %w", src.Properties.UserDBID, err)
		}
		return desc.MappingFields(), nil
	})
}

// rules converts the source's field mapping for package mapping.
func rules(src source.Source) []mapping.Rule {
	out := make([]mapping.Rule, len(src.Properties.FieldMapping))
	for i, m := range src.Properties.FieldMapping {
		out[i] = mapping.Rule{HubField: m.HubField, SendField: m.SendField, Match: m.Match, ClearOnNull: m.ClearOnNull}
	}
	return out
}
