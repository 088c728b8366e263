// Package bulk is hubsend's bulk lane: the first load or resync of a
// source, a range of its node's customers at a time, at a few Contactsend
// calls per thousand customers instead of two per customer.
//
// A bulk job (jobs.BulkJob) names a range of Contacthub customer pages. The
// loader reads them (the largest page Contacthub allows, several in
// flight), maps every customer straight from the page, reads the ledger
// entries of the range in batches, and asks Contactsend once per range
// which subscribers hold the range's match values (findSubscribersBy with
// an IN on the first match field, projected on the mapped fields). Then:
//
//   - a customer whose ledger hash is current costs nothing;
//   - a subscriber found with the customer's values is linked (ledger only);
//     one found with other values gets one updateSubscriber;
//   - the rest are created with addSubscribers, a page of
//     contactsend.BulkPageSize at a time, and linked by reading them back by
//     their match values: addSubscribers returns a count, not identifiers.
//
// No duplicates. Before adding, the loader writes an add claim on every
// customer of the page (the per-customer lane then waits, as it does for
// its own claims) and reads the userdb again: a subscriber that appeared
// since the load read it (a per-customer job's add, or a late add of an
// earlier, interrupted run of the same job) is found, not added twice, and
// its customer handed to the per-customer lane, which writes it from a
// fresh read; what an interrupted run added before the load is linked by
// the load. The claims name
// the job, so that its next run takes them over; one run of a job adds at
// a time, under the job's lease (checkpoint.Store.AcquireJobLease), because SQS may
// deliver a job twice at once. After an add whose outcome is unknown it
// reads again before trying the rest. A customer some per-customer worker
// is adding (its claim holds) is handed to the per-customer lane instead.
// If the per-customer lane claimed a customer between the loader's read of
// the ledger (at the job's start) and its batch of claims, which
// overwrites that claim, both may add: the loader's read-back after its add sees two
// new subscribers if the other add landed first, and otherwise the
// per-customer worker, whose ledger write then fails on the bulk lane's
// version, reads back and sees both. Each keeps the lowest id (the
// per-customer lane's rule) and removes the other.
//
// No customer skipped. Pages are offsets in registration order, so
// customers deleted while a load runs move later customers onto earlier
// pages. A job reads one page past its range (customers it adds only if
// the next range's job has not), which covers up to a page of deletions
// between two neighbouring jobs' reads; a job that finds the node smaller
// than when it was made (jobs.BulkJob.Total) by more than that also reads
// the pages before its range that the shrink covers, and hands those of
// their customers nobody has linked to the per-customer lane, which adds
// under a claim it checks, rather than racing the previous job with a bulk
// add. Between ticks, the same holds: the first job the scheduler makes
// after the node shrank carries the count of when it made the previous
// jobs. Customers created meanwhile sort last, so they shift nothing, but
// they hide as many deletions from the count: the guarantee is about net
// shrink.
//
// Everything the bulk lane does not decide itself goes to the per-customer
// lane as an ordinary sync job on the bulk queue (so the live queue never
// waits behind it): customers whose mapping fails (the per-customer lane
// writes their failed records), customers with a failed record to clear,
// customers claimed by another worker, and, for sources with subscription
// rows, every customer, for its subscriptions: registration fields are
// userdb columns that addSubscribers would accept, but consent is recorded
// through the subscription system's web form (modifySubscriberSubscription-
// Status with its web form code), which is what the per-customer lane does;
// the bulk lane never writes a registration column itself.
//
// The bulk lane writes no entry of the sync history (package history) for
// the subscribers it adds or updates: one per customer would cost a write
// per customer, ten times the lane's DynamoDB budget. The subscription
// decisions handed to the per-customer lane are recorded as usual.
//
// Ledger writes are batched and unconditional (BatchWriteItem): each write
// raises the entry's version by VersionJump, so a per-customer worker that
// read the entry before fails its conditional write and decides again.
// That is not enough where the bulk lane writes a subscriber's values (a
// stale one, or one found with other values): a live change written by
// the per-customer lane between the bulk read and the bulk write would be
// overwritten by older values, and the ledger would then agree with them.
// So such a subscriber is first claimed with a conditional write on the
// version the bulk lane read (ledger.Bulk.Claim, one request per written
// subscriber): if the entry moved, the customer goes to the per-customer
// lane; while the claim holds, per-customer workers do not write it.
// Dropping or prolonging add claims (rare: a page Contactsend refused, an
// add of unknown outcome) takes a conditional write per customer too
// (ledger.Bulk.PutEach), so that a claim another worker took since, once
// the run's lapsed, stays that worker's.
package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/source"
)

// Sources reads configuration.
type Sources interface {
	GetByID(ctx context.Context, id string) (source.Source, error)
	Connection(ctx context.Context, workspace string) (configstore.Connection, error)
}

// Hub is the part of a Contacthub client the loader uses.
type Hub interface {
	Customers(ctx context.Context, q contacthub.ListQuery) (contacthub.CustomerPage, error)
}

// HubFactory makes a Contacthub client for a workspace connection.
type HubFactory func(configstore.Connection) (Hub, error)

// Send is the part of the Contactsend client the loader uses.
type Send interface {
	SubscriberSource(ctx context.Context, cred contactsend.Credentials, userDBID int64) (contactsend.SubscriberSource, error)
	FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, userDBID int64, q contactsend.Query) (contactsend.SubscriberPage, error)
	AddSubscribers(ctx context.Context, cred contactsend.Credentials, userDBID int64, subs []contactsend.Subscriber) (int, error)
	UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, s contactsend.Subscriber) (contactsend.Subscriber, error)
	RemoveSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID, id int64) error
}

// Ledger reads and writes ledger entries in batches (*ledger.Bulk).
type Ledger interface {
	GetMany(ctx context.Context, sourceID string, customerIDs []string) (map[string]ledger.BulkEntry, error)
	PutMany(ctx context.Context, entries []ledger.BulkEntry, jump int64) error
	PutEach(ctx context.Context, entries []ledger.BulkEntry, jump int64) []error
	Claim(ctx context.Context, e ledger.BulkEntry, run string, until time.Time, jump int64) (ledger.BulkEntry, error)
}

// Leases keeps the bulk jobs' leases (*checkpoint.Store): one run of a job
// works at a time.
type Leases interface {
	AcquireJobLease(ctx context.Context, sourceID, job, owner string, now, until time.Time) (checkpoint.Lease, error)
	HeldJobLease(ctx context.Context, sourceID, job string, now time.Time) (checkpoint.Lease, bool, error)
	ReleaseLease(ctx context.Context, l checkpoint.Lease) error
}

// Handoff queues customers for the per-customer lane.
type Handoff interface {
	Send(ctx context.Context, jobs ...jobs.Job) error
}

// Stats adds a job's counts to the source's sync status (*ledger.Store).
type Stats interface {
	AddStats(ctx context.Context, sourceID string, b ledger.Batch) error
}

// Defaults of Config.
const (
	// DefaultHubPagesInFlight is how many Contacthub pages are read at once.
	DefaultHubPagesInFlight = 4
	// DefaultAddClaim is how long the loader's add claims hold off other
	// workers: longer than a bulk job can run, so a killed run's claims
	// outlast its redelivery's start.
	DefaultAddClaim = 15 * time.Minute
	// DefaultDeadlineMargin leaves a ledger write of a job's 1,000
	// entries (40 BatchWriteItem requests), the counters and the handover
	// the time they need at DynamoDB's slowest.
	DefaultDeadlineMargin = 20 * time.Second
	// VersionJump is what a bulk write adds to an entry's version.
	VersionJump = 1000
	// findPageSize is the page of the read-back searches.
	findPageSize = 1000
	// maxAddAttempts bounds the add → read back rounds of one page.
	maxAddAttempts = 4
)

// Config holds what a Loader uses; all but Clock, Logger and the sizes
// are required.
type Config struct {
	Sources Sources
	Hub     HubFactory
	Send    Send
	Ledger  Ledger
	Leases  Leases
	Handoff Handoff
	// Stats, when set, receives each job's counts (synced, unchanged), as
	// the per-customer worker's batches do, for the status endpoint.
	Stats  Stats
	Clock  func() time.Time
	Logger *slog.Logger
	// AddPageSize is how many subscribers one addSubscribers call carries;
	// default contactsend.BulkPageSize.
	AddPageSize      int
	HubPagesInFlight int
	AddClaim         time.Duration
	// DeadlineMargin is kept free before the invocation's deadline: no
	// step starts in it, and it is left to record what is done and hand
	// the rest over, so that a job cut short by the timeout loses no work
	// it did. Default DefaultDeadlineMargin.
	DeadlineMargin time.Duration
}

// Loader runs bulk jobs. It is safe for concurrent use.
type Loader struct {
	cfg Config
}

// New returns a Loader.
func New(cfg Config) (*Loader, error) {
	if cfg.Sources == nil || cfg.Hub == nil || cfg.Send == nil || cfg.Ledger == nil || cfg.Leases == nil || cfg.Handoff == nil {
		return nil, errors.New("bulk: Sources, Hub, Send, Ledger, Leases and Handoff are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AddPageSize <= 0 {
		cfg.AddPageSize = contactsend.BulkPageSize
	}
	if cfg.HubPagesInFlight <= 0 {
		cfg.HubPagesInFlight = DefaultHubPagesInFlight
	}
	if cfg.AddClaim <= 0 {
		cfg.AddClaim = DefaultAddClaim
	}
	if cfg.DeadlineMargin <= 0 {
		cfg.DeadlineMargin = DefaultDeadlineMargin
	}
	return &Loader{cfg: cfg}, nil
}

// Report counts what a bulk job did with its customers.
type Report struct {
	Customers int // distinct customers read
	Unchanged int // ledger current: nothing written
	Linked    int // found in the userdb with the same values: ledger only
	Updated   int // found with other values: one updateSubscriber each
	Added     int // created by addSubscribers (linked after)
	HandedOff int // queued for the per-customer lane
	Removed   int // duplicates of a race with the per-customer lane, removed
	Deferred  int // overlap customers left to the job of their own range
}

// Add adds o's counts to r.
func (r *Report) Add(o Report) {
	r.Customers += o.Customers
	r.Unchanged += o.Unchanged
	r.Linked += o.Linked
	r.Updated += o.Updated
	r.Added += o.Added
	r.HandedOff += o.HandedOff
	r.Removed += o.Removed
	r.Deferred += o.Deferred
}

// ErrRetry wraps the failures after which the whole job should come back
// (SQS redelivery): transient errors and adds whose outcome is still
// unknown. Anything else is a bug or a configuration the job cannot use.
var ErrRetry = errors.New("bulk: retry the job")

// transient sorts failures as the per-customer lane does: throttling, 5xx,
// timeouts, unknown outcomes and a service blaming itself come back.
func transient(err error) bool {
	if f, ok := errors.AsType[*contactsend.Fault](err); ok && f.Unwrap() == nil {
		return f.Code == "Receiver" || f.Code == "Server"
	}
	return retry.Temporary(err) || errors.Is(err, contactsend.ErrOutcomeUnknown) ||
		errors.Is(err, contactsend.ErrTokenExpired) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

// retryable marks a failure that ends the job for SQS to bring it back:
// the job is level-triggered, so a failure that persists (a source
// misconfigured) costs its receives and ends in the DLQ, where the alarm
// names it; one that passes (DynamoDB restarting, a connection reset the
// client could not classify) costs nothing.
func retryable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, ErrRetry, err)
}

// customerLookup answers paths from a customer's JSON tree, with numbers
// kept as json.Number: the same view the per-customer lane maps from.
func customerLookup(c contacthub.Customer) (func(string) (any, bool), error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode customer: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode customer: %w", err)
	}
	return func(path string) (any, bool) {
		var cur any = doc
		for part := range strings.SplitSeq(path, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = obj[part]; !ok {
				return nil, false
			}
		}
		return cur, true
	}, nil
}

// rules converts the source's field mapping for package mapping.
func rules(src source.Source) []mapping.Rule {
	out := make([]mapping.Rule, len(src.Properties.FieldMapping))
	for i, m := range src.Properties.FieldMapping {
		out[i] = mapping.Rule{HubField: m.HubField, SendField: m.SendField, Match: m.Match, ClearOnNull: m.ClearOnNull}
	}
	return out
}
