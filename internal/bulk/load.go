package bulk

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/source"
)

// PageSort is the order of the customer pages: registration time, so that
// customers created during a load sort last instead of shifting pages.
const PageSort = "registeredAt,asc"

// customer is one customer of the range, mapped.
type customer struct {
	id        string
	updatedAt time.Time
	attrs     mapping.Attributes
	hash      string
	wire      []contactsend.Attribute
	key       string // the match values, as Contactsend compares them
	entry     ledger.BulkEntry
	// place says whose customer it is: a customer read only on the page
	// past the range belongs to the next range's job, so this one adds it
	// only when that job has not; one read before the range, to the
	// previous job, and this one never adds it itself (see load).
	place place
}

// place is where a customer was read, relative to the job's range.
type place int

const (
	inRange     place = iota
	pastRange         // the page of overlap after the range
	beforeRange       // the pages read back after the node shrank
)

// run is one bulk job's work.
type run struct {
	l      *Loader
	src    source.Source
	cred   contactsend.Credentials
	db     int64
	match  []string                    // match fields
	types  map[string]mapping.SendType // every userdb field's type
	mapped []string                    // mapped fields, for the searches' projection
	// owner names the job in its runs' claims; token names this run in
	// the job's lease, jobLease (see lease); unsure says the run leaves
	// adds of unknown outcome behind it (see addPage).
	owner, token string
	jobLease     checkpoint.Lease
	unsure       bool
	deadline     time.Time // the invocation's, if any
	rep          Report
	// final bounds the writes that record the run's work (see finish):
	// it outlives the work's context by most of the deadline margin.
	final context.Context
}

// Load runs one bulk job. An error wrapping ErrRetry asks for the job to
// come back; a job of a missing or disabled source does nothing.
func (l *Loader) Load(ctx context.Context, job jobs.BulkJob) (Report, error) {
	if err := job.Validate(); err != nil {
		return Report{}, err
	}
	// Customers handed to the per-customer lane count in the same run,
	// whichever context hands them over.
	ctx = jobs.WithRun(ctx, job.Pass)
	deadline, _ := ctx.Deadline()
	final, cancelFinal := l.finalContext(ctx)
	defer cancelFinal()
	ctx, cancel := l.workContext(ctx)
	defer cancel()
	if ctx.Err() != nil {
		return Report{}, retryable("start the job", fmt.Errorf("invocation deadline near: %w", ctx.Err()))
	}
	src, err := l.cfg.Sources.GetByID(ctx, job.SourceID)
	if errors.Is(err, configstore.ErrNotFound) {
		return Report{}, nil
	}
	if err != nil {
		return Report{}, retryable("read source", err)
	}
	if !src.Enabled {
		return Report{}, nil
	}
	conn, err := l.cfg.Sources.Connection(ctx, src.WorkspaceID)
	if err != nil {
		return Report{}, retryable("read workspace connection", err)
	}
	hub, err := l.cfg.Hub(conn)
	if err != nil {
		return Report{}, fmt.Errorf("contacthub client: %w", err)
	}
	r := &run{l: l, src: src, db: src.Properties.UserDBID, owner: claimOwner(job), token: rand.Text(), deadline: deadline, final: final,
		cred: contactsend.Credentials{APIKey: src.Properties.APIKey, UserKey: src.Properties.UserKey}}
	// One run of a job works at a time, from its first read: a copy SQS
	// delivered meanwhile is given back before it reads or writes anything.
	if err := r.lease(ctx, l.cfg.Clock().Add(l.cfg.AddClaim)); err != nil {
		return Report{}, err
	}
	defer r.leaveLease()
	desc, err := l.cfg.Send.SubscriberSource(ctx, r.cred, r.db)
	if err != nil {
		return Report{}, retryable("read userdb fields", err)
	}
	fields := make([]mapping.SendField, 0, len(desc.Fields))
	r.types = make(map[string]mapping.SendType, len(desc.Fields))
	for _, f := range desc.Fields {
		fields = append(fields, mapping.SendField{Name: f.Name, Type: mapping.SendType(f.Type), EmailField: f.EmailField})
		r.types[f.Name] = mapping.SendType(f.Type)
	}
	for _, m := range src.Properties.FieldMapping {
		r.mapped = append(r.mapped, m.SendField)
		if m.Match {
			r.match = append(r.match, m.SendField)
		}
	}
	if len(r.match) == 0 {
		return Report{}, fmt.Errorf("source %s has no match field", src.ID)
	}
	page, places, err := r.read(ctx, hub, job)
	if err != nil {
		return r.rep, err
	}
	err = r.load(ctx, mapping.NewMapper(rules(src), fields), page, places)
	return r.rep, err
}

// workContext ends DeadlineMargin before the invocation does.
func (l *Loader) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-l.cfg.DeadlineMargin))
}

// finalContext is not cancelled with the work: it ends a quarter of the
// margin before the invocation, leaving that to answer; without a
// deadline, it has none either.
func (l *Loader) finalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	deadline, ok := ctx.Deadline()
	if !ok {
		return detached, func() {}
	}
	return context.WithDeadline(detached, deadline.Add(-l.cfg.DeadlineMargin/4))
}

// claimOwner names a job in its claims, and nothing secret: a run takes
// over the claims an earlier run of the job left (on adds whose outcome it
// did not know), reading the userdb before it adds. The job's lease makes
// that safe: one run of a job works at a time.
func claimOwner(job jobs.BulkJob) string {
	return fmt.Sprintf("bulk:%s:%d+%d", job.RunID, job.FirstPage, job.Pages)
}

// mayTake reports whether the run may claim e at now: nobody holds it, or
// a run of the job does (an earlier one, given the lease).
func (r *run) mayTake(e ledger.BulkEntry, now time.Time) bool {
	return !e.Adding(now) || e.ClaimedBy(r.owner, now)
}

// leaveLease gives the job's lease up as the run ends, so that a run of
// the job that comes after need not wait for it to lapse; a few tries, as
// DynamoDB may be what failed the run. A run that leaves adds of unknown
// outcome keeps the lease while it keeps their claims (see prolong), to
// its invocation's deadline at most: the job's next run takes those claims
// over, and must not read the userdb before a cut-off add lands.
func (r *run) leaveLease() {
	if r.unsure {
		if err := r.lease(r.final, r.l.cfg.Clock().Add(r.l.cfg.AddClaim)); err != nil {
			r.l.cfg.Logger.WarnContext(r.final, "keep bulk job lease", "source_id", r.src.ID, "error", err)
		}
		return
	}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			t := time.NewTimer(100 * time.Millisecond << attempt)
			select {
			case <-r.final.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if err = r.l.cfg.Leases.ReleaseLease(r.final, r.jobLease); err == nil {
			return
		}
	}
	r.l.cfg.Logger.WarnContext(r.final, "end bulk job lease", "source_id", r.src.ID, "error", err)
}

// leaseHeld gives a job back until another run's lease on it ends.
type leaseHeld struct {
	wait time.Duration
	err  error
}

func (e *leaseHeld) Error() string { return e.err.Error() }
func (e *leaseHeld) Unwrap() error { return e.err }

// RetryAfter is how long the lease holds.
func (e *leaseHeld) RetryAfter() time.Duration { return e.wait }

// lease takes or extends the job's lease until until. SQS may deliver a job
// twice at once, and two runs of a job, both holding the claims that name
// the job, would both add its customers (and write the same subscribers
// from different reads); so a run works only while it holds the lease, and
// extends it over each add page's claims before taking them.
//
// The lease ends with the invocation at the latest: a run does nothing
// after it (its work stops a deadline margin earlier), so a job whose run
// was killed, or could not give the lease up, waits for it no longer.
func (r *run) lease(ctx context.Context, until time.Time) error {
	if !r.deadline.IsZero() && r.deadline.Before(until) {
		until = r.deadline
	}
	now := r.l.cfg.Clock()
	held, err := r.l.cfg.Leases.AcquireJobLease(ctx, r.src.ID, r.owner, r.token, now, until)
	if errors.Is(err, checkpoint.ErrLeaseHeld) {
		// When it ends, the job comes back; unknown, the redelivery
		// schedule brings it.
		var wait time.Duration
		if other, found, gerr := r.l.cfg.Leases.HeldJobLease(ctx, r.src.ID, r.owner, now); gerr == nil && found {
			wait = max(other.ExpiresAt.Sub(now), 0)
		}
		return retryable("lease the job", &leaseHeld{wait: wait, err: err})
	}
	if err != nil {
		return retryable("lease the job", err)
	}
	r.jobLease = held
	return nil
}

// read returns the range's customers: pages FirstPage to FirstPage+Pages,
// and one page past the range, so that customers deleted meanwhile, which
// move later customers a page back, do not make the range skip anyone (a
// customer read twice is harmless). When the node holds fewer customers
// than when the job was made (job.Total), more may have moved than a page
// of overlap catches: the pages before the range that cover the shrink
// beyond that page are read too.
func (r *run) read(ctx context.Context, hub Hub, job jobs.BulkJob) ([]contacthub.Customer, map[string]place, error) {
	pages, total, err := r.readPages(ctx, hub, job.FirstPage, job.Pages+1, job.Size)
	if err != nil {
		return nil, nil, err
	}
	lead := 0
	if shrunk := job.Total - total; job.Total > 0 && total >= 0 && shrunk > int64(job.Size) {
		lead = min(job.FirstPage, int((shrunk-1)/int64(job.Size)))
	}
	if lead > 0 {
		before, _, err := r.readPages(ctx, hub, job.FirstPage-lead, lead, job.Size)
		if err != nil {
			return nil, nil, err
		}
		pages = append(before, pages...)
	}
	seen := make(map[string]bool)
	places := make(map[string]place)
	var out []contacthub.Customer
	for i, p := range pages {
		where := inRange
		switch {
		case i < lead:
			where = beforeRange
		case i == lead+job.Pages:
			where = pastRange
		}
		for _, c := range p {
			if c.ID != "" && !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
				places[c.ID] = where
			}
		}
	}
	return out, places, nil
}

// readPages reads n customer pages from first, HubPagesInFlight at a time,
// and returns them with the node's customer count as the first page gave
// it (-1 when n is 0).
func (r *run) readPages(ctx context.Context, hub Hub, first, n, size int) ([][]contacthub.Customer, int64, error) {
	pages := make([][]contacthub.Customer, n)
	totals := make([]int64, n)
	errs := make([]error, n)
	sem := make(chan struct{}, r.l.cfg.HubPagesInFlight)
	var wg sync.WaitGroup
	for i := range pages {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := hub.Customers(ctx, contacthub.ListQuery{NodeID: r.src.Node(), Page: first + i, Size: size, Sort: PageSort})
			pages[i], totals[i], errs[i] = p.Elements, p.Page.TotalElements, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, retryable("read customer pages", err)
	}
	if n == 0 {
		return pages, -1, nil
	}
	return pages, totals[0], nil
}

// load decides and writes for the customers of a range.
func (r *run) load(ctx context.Context, mapper *mapping.Mapper, customers []contacthub.Customer, places map[string]place) error {
	r.rep.Customers = len(customers)
	var handoff []string
	mapped := make([]*customer, 0, len(customers))
	for _, c := range customers {
		m, ok := r.mapCustomer(mapper, c)
		if !ok {
			handoff = append(handoff, c.ID)
			continue
		}
		m.place = places[c.ID]
		mapped = append(mapped, m)
	}
	ids := make([]string, len(mapped))
	for i, c := range mapped {
		ids[i] = c.id
	}
	entries, err := r.l.cfg.Ledger.GetMany(ctx, r.src.ID, ids)
	if err != nil {
		return retryable("read ledger", err)
	}
	now := r.l.cfg.Clock()
	var unknown []*customer // no current ledger link: ask Contactsend
	var stale []*customer   // linked, values changed
	for _, c := range mapped {
		c.entry = entries[c.id]
		e := c.entry
		switch {
		case c.place != inRange && (!r.mayTake(e, now) || now.Before(e.SubscriptionClaimUntil)):
			r.rep.Deferred++ // the job of its own range is at it
		case e.Failed || !r.mayTake(e, now) || now.Before(e.SubscriptionClaimUntil):
			// A failed record to clear, or another worker at work: the
			// per-customer lane knows how to wait and to clear.
			handoff = append(handoff, c.id)
		case e.Deleted:
			// A per-customer job found the customer gone: this page may be
			// older than that (Contacthub's list lags its writes), and a
			// deletion is final. That lane reads the customer again first.
			handoff = append(handoff, c.id)
		case e.Stored() && e.SubscriberID != 0 && e.Hash == c.hash:
			r.rep.Unchanged++
		case e.SubscriberID != 0 && c.updatedAt.Before(e.CustomerUpdatedAt):
			// Contacthub's list lags its writes: the per-customer lane has
			// synced a newer state than this page shows. Never go back.
			r.rep.Unchanged++
		case e.SubscriberID != 0:
			stale = append(stale, c)
		case c.place == beforeRange:
			// Not linked yet: the previous range's job may be adding it
			// right now, and a second bulk add would race it. The
			// per-customer lane adds under a claim it checks, and finds
			// it linked if that job got there first.
			handoff = append(handoff, c.id)
		default:
			unknown = append(unknown, c)
		}
	}
	var done []*customer // linked to a subscriber holding their values
	for _, c := range stale {
		err := r.held(ctx, c, func() error { return r.update(ctx, c.entry.SubscriberID, c) })
		switch {
		case err == nil:
			r.rep.Updated++
			done = append(done, c)
		case errors.Is(err, ledger.ErrConflict):
			handoff = append(handoff, c.id) // written meanwhile: the per-customer lane knows what
		case errors.Is(err, ErrRetry):
			return r.finish(done, handoff, err)
		case errors.Is(err, contactsend.ErrUnknownSubscriber):
			unknown = append(unknown, c) // removed in Contactsend: find or add again
		case transient(err):
			return r.finish(done, handoff, retryable("update subscriber", err))
		default:
			handoff = append(handoff, c.id) // the per-customer lane records the refusal
		}
	}
	found, err := r.find(ctx, unknown)
	if err != nil {
		return r.finish(done, handoff, err)
	}
	var missing []*customer
	for _, c := range unknown {
		subs := found[c.key]
		if len(subs) == 0 {
			missing = append(missing, c)
			continue
		}
		linked, err := r.link(ctx, c, lowest(subs))
		switch {
		case err == nil:
		case errors.Is(err, ErrRetry):
			return r.finish(done, handoff, err)
		case transient(err):
			return r.finish(done, handoff, retryable("update subscriber", err))
		default: // refused, or the entry written meanwhile
			handoff = append(handoff, c.id)
			continue
		}
		done = append(done, linked)
	}
	// Customers of the overlap page wait until this range's own adds are
	// done: by then the next range's job, if it runs alongside, has claimed
	// or linked them, and adding them here too would only make duplicates
	// for the read-back to remove.
	own, late := splitOverlap(missing)
	for round := range 2 {
		if round == 1 {
			if own, err = r.stillMissing(ctx, late); err != nil {
				return r.finish(done, handoff, err)
			}
		}
		for start := 0; start < len(own); start += r.l.cfg.AddPageSize {
			page := own[start:min(start+r.l.cfg.AddPageSize, len(own))]
			added, handover, err := r.addPage(ctx, page)
			done = append(done, added...)
			handoff = append(handoff, handover...)
			if err != nil {
				return r.finish(done, handoff, err)
			}
		}
	}
	if len(r.src.Properties.Subscriptions) > 0 {
		// Consent travels through web forms, customer by customer.
		for _, c := range done {
			handoff = append(handoff, c.id)
		}
	}
	return r.finish(done, handoff, nil)
}

func splitOverlap(cs []*customer) (own, overlap []*customer) {
	for _, c := range cs {
		if c.place == pastRange {
			overlap = append(overlap, c)
		} else {
			own = append(own, c)
		}
	}
	return own, overlap
}

// stillMissing reads the ledger again for overlap customers and keeps
// those nobody has linked or claimed meanwhile.
func (r *run) stillMissing(ctx context.Context, cs []*customer) ([]*customer, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.id
	}
	entries, err := r.l.cfg.Ledger.GetMany(ctx, r.src.ID, ids)
	if err != nil {
		return nil, retryable("read ledger", err)
	}
	now := r.l.cfg.Clock()
	var out []*customer
	for _, c := range cs {
		e := entries[c.id]
		if e.Version != c.entry.Version || !r.mayTake(e, now) {
			r.rep.Deferred++
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// finish records the linked customers and hands the rest over, even when
// the job is to come back: what is done stays done, even when the work's
// time ran out (it writes on the run's final context).
func (r *run) finish(done []*customer, handoff []string, cause error) error {
	ctx := r.final
	now := r.l.cfg.Clock()
	entries := make([]ledger.BulkEntry, 0, len(done))
	for _, c := range done {
		e := c.entry
		e.Hash, e.CustomerUpdatedAt, e.SyncedAt = c.hash, c.updatedAt, now
		e.Deleted, e.AddingUntil, e.BulkClaimBy, e.BulkClaimUntil = false, time.Time{}, "", time.Time{}
		entries = append(entries, e)
	}
	if err := r.l.cfg.Ledger.PutMany(ctx, entries, VersionJump); err != nil {
		return errors.Join(cause, retryable("write ledger", err))
	}
	if st := r.l.cfg.Stats; st != nil && len(entries)+r.rep.Unchanged > 0 {
		b := ledger.Batch{Counts: ledger.Counts{Synced: int64(len(entries)), Unchanged: int64(r.rep.Unchanged)}, ProcessedAt: now}
		if err := st.AddStats(ctx, r.src.ID, b); err != nil {
			// Counters only: the work is recorded in the ledger.
			r.l.cfg.Logger.WarnContext(ctx, "bulk stats not written", "source_id", r.src.ID, "error", err)
		}
	}
	if len(handoff) > 0 {
		slices.Sort(handoff)
		handoff = slices.Compact(handoff)
		batch := make([]jobs.Job, len(handoff))
		for i, id := range handoff {
			batch[i] = jobs.Job{SourceID: r.src.ID, CustomerID: id, Reason: jobs.FromBackfill, EnqueuedAt: now}
		}
		if err := r.l.cfg.Handoff.Send(ctx, batch...); err != nil {
			return errors.Join(cause, retryable("hand customers to the per-customer lane", err))
		}
		r.rep.HandedOff += len(handoff)
	}
	return cause
}

// mapCustomer maps one customer; false sends it to the per-customer lane
// (which writes the failed record for a mapping problem or a missing
// match value).
func (r *run) mapCustomer(mapper *mapping.Mapper, c contacthub.Customer) (*customer, bool) {
	if c.NodeID != "" && c.NodeID != r.src.Node() {
		// An aggregate node's member: the per-customer lane decides
		// membership with the node description.
		return nil, false
	}
	lookup, err := customerLookup(c)
	if err != nil {
		return nil, false
	}
	attrs, problems := mapper.Map(lookup)
	if len(problems) > 0 {
		return nil, false
	}
	wire, err := contactsend.WireAttributes(attrs)
	if err != nil {
		return nil, false
	}
	m := &customer{id: c.ID, updatedAt: c.UpdatedAt.Time, attrs: attrs, hash: attrs.Hash(), wire: wire}
	parts := make([]string, len(r.match))
	for i, name := range r.match {
		a, ok := attrs.Get(name)
		if !ok || a.Clear || a.Text == "" {
			return nil, false
		}
		parts[i] = comparable(a.Type, a.Text)
	}
	m.key = strings.Join(parts, "\x00")
	return m, true
}

// comparable is a value as the userdb compares it: text case-insensitively
// (MySQL's _ci collations), the rest by its canonical text.
func comparable(t mapping.SendType, text string) string {
	if t.IsText() {
		return strings.ToLower(text)
	}
	return text
}

// keyOf is the match key of a subscriber read back; false when it lacks a
// match value.
func (r *run) keyOf(s contactsend.Subscriber) (string, bool) {
	parts := make([]string, len(r.match))
	for i, name := range r.match {
		v, ok := s.Get(name)
		if !ok || v.IsNull() {
			return "", false
		}
		t := r.types[name]
		typed, err := v.As(contactsend.FieldType(t))
		if err != nil {
			return "", false
		}
		parts[i] = comparable(t, typed.String())
	}
	return strings.Join(parts, "\x00"), true
}

// find reads, in pages, the subscribers holding the customers' match
// values, projected on the mapped fields, grouped by match key.
func (r *run) find(ctx context.Context, cs []*customer) (map[string][]contactsend.Subscriber, error) {
	out := make(map[string][]contactsend.Subscriber)
	first := r.match[0]
	t := contactsend.FieldType(r.types[first])
	for start := 0; start < len(cs); start += contactsend.BulkPageSize {
		values := make([]contactsend.Value, 0, contactsend.BulkPageSize)
		for _, c := range cs[start:min(start+contactsend.BulkPageSize, len(cs))] {
			a, _ := c.attrs.Get(first)
			v, err := contactsend.ParseValue(t, a.Text)
			if err != nil {
				return nil, fmt.Errorf("match value of %s: %w", first, err)
			}
			values = append(values, v)
		}
		q := contactsend.Query{
			Select:   r.mapped,
			Where:    []contactsend.Filter{{Attribute: first, Mode: contactsend.In, Values: values}},
			Sort:     []contactsend.Sort{{Field: "identifier"}},
			PageSize: findPageSize,
		}
		for q.Page = 1; ; q.Page++ {
			page, err := r.l.cfg.Send.FindSubscribersBy(ctx, r.cred, r.db, q)
			if err != nil {
				return nil, retryable("read the userdb", err)
			}
			for _, s := range page.Subscribers {
				if k, ok := r.keyOf(s); ok {
					out[k] = append(out[k], s)
				}
			}
			if len(page.Subscribers) < q.PageSize || page.PageNumber >= page.MaxPageNumber {
				break
			}
		}
	}
	return out, nil
}

func lowest(subs []contactsend.Subscriber) contactsend.Subscriber {
	return slices.MinFunc(subs, func(a, b contactsend.Subscriber) int { return cmp.Compare(a.ID, b.ID) })
}

// link points a customer at a subscriber found by its match values,
// updating the subscriber when its values differ.
func (r *run) link(ctx context.Context, c *customer, sub contactsend.Subscriber) (*customer, error) {
	if len(sub.Differences(c.attrs)) > 0 {
		if err := r.held(ctx, c, func() error { return r.update(ctx, sub.ID, c) }); err != nil {
			return nil, err
		}
		r.rep.Updated++
	} else {
		r.rep.Linked++
	}
	c.entry.SubscriberID = sub.ID
	return c, nil
}

// held runs write, a Contactsend write of c's values, under a claim on
// c's entry written on the condition that nobody wrote the entry since
// this run read it: ledger.ErrConflict when somebody did, and write does
// not run. Per-customer workers wait while the claim holds, so none can
// write newer values that this run's older ones would then overwrite;
// finish records c and drops the claim, and a failed write drops it at
// once.
func (r *run) held(ctx context.Context, c *customer, write func() error) error {
	claimed, err := r.l.cfg.Ledger.Claim(ctx, c.entry, r.owner, r.l.cfg.Clock().Add(r.l.cfg.AddClaim), VersionJump)
	if errors.Is(err, ledger.ErrConflict) {
		return err
	}
	if err != nil {
		return retryable("claim a subscriber to write", err)
	}
	c.entry = claimed
	if err := write(); err != nil {
		r.release([]*customer{c})
		return err
	}
	return nil
}

func (r *run) update(ctx context.Context, id int64, c *customer) error {
	if len(c.wire) == 0 {
		return nil
	}
	_, err := r.l.cfg.Send.UpdateSubscriber(ctx, r.cred, r.db, contactsend.Subscriber{ID: id, Attributes: c.wire})
	return err
}

// addPage creates the subscribers of customers the userdb does not hold,
// under add claims, reading back before every add and after it. It returns
// the customers linked, those to hand over (refused by Contactsend, or
// found added by someone else since the load), and an error that brings
// the job back while some outcome is unknown.
func (r *run) addPage(ctx context.Context, page []*customer) (linked []*customer, handover []string, err error) {
	until := r.l.cfg.Clock().Add(r.l.cfg.AddClaim)
	if err := r.claimAdds(ctx, page, until); err != nil {
		return nil, nil, err
	}
	// Read and add only while the claims and the lease hold: once they
	// lapse another worker may add the same customers. (A lease that ends
	// with the invocation needs no bound here: the work's context ends a
	// deadline margin before.) A timeout, not an instant, so that a test
	// clock does not end the context early.
	end := until
	if leaseEnd := r.jobLease.ExpiresAt; leaseEnd.Before(end) && (r.deadline.IsZero() || leaseEnd.Before(r.deadline)) {
		end = leaseEnd
	}
	ctx, cancel := context.WithTimeout(ctx, ledger.ClaimWork(end, r.l.cfg.Clock(), r.l.cfg.AddClaim))
	defer cancel()
	var pending []*customer
	// inDoubt says an add of this page may have happened: one answered,
	// or one whose outcome is unknown.
	inDoubt := false
	defer func() {
		if err == nil || !inDoubt {
			return // nothing in doubt
		}
		// An add of these may still land after the claims' end (a request
		// cut off by it): hold them a whole claim from now, so that whoever
		// adds next reads them back first. Not those linked meanwhile.
		var unsure []*customer
		for _, c := range pending {
			if !slices.Contains(linked, c) {
				unsure = append(unsure, c)
			}
		}
		if len(unsure) > 0 {
			r.prolong(unsure)
		}
	}()
	// seen holds every subscriber id that existed for these customers
	// before this run's adds: a read-back that shows two new subscribers
	// for one customer met a per-customer worker's add.
	seen := make(map[int64]bool)
	pending = page
	var lastErr error
	for attempt := 0; attempt < maxAddAttempts && len(pending) > 0; attempt++ {
		found, err := r.find(ctx, pending)
		if err != nil {
			return linked, handover, err
		}
		var rest, appeared []*customer
		for _, c := range pending {
			subs := found[c.key]
			if len(subs) == 0 {
				rest = append(rest, c)
				continue
			}
			if attempt == 0 {
				// Added since this run's load found no subscriber for the
				// customer: by a per-customer job (or an earlier run's add
				// landing late). That job may have read the customer after
				// this run did, and recorded its values before the blind
				// claim above wrote over its entry: this run's values may
				// be the older ones. The per-customer lane links it from a
				// fresh read. The entry keeps the subscriber meanwhile (its
				// hash cleared, so that lane writes it): a deletion that
				// comes first finds it for its policy.
				c.entry.SubscriberID, c.entry.Hash = lowest(subs).ID, ""
				appeared = append(appeared, c)
				continue
			}
			keep, err := r.settle(ctx, subs, seen)
			if err != nil {
				return linked, handover, retryable("remove a duplicate", err)
			}
			r.rep.Added++
			c.entry.SubscriberID = keep.ID
			linked = append(linked, c)
		}
		if len(appeared) > 0 {
			// Unrecorded, the job comes back rather than leave the
			// entries unlinked.
			if err := r.setClaims(r.final, appeared, "", time.Time{}); err != nil {
				return linked, handover, retryable("record subscribers added meanwhile", err)
			}
			for _, c := range appeared {
				handover = append(handover, c.id)
			}
		}
		if attempt == 0 {
			for _, subs := range found {
				for _, s := range subs {
					seen[s.ID] = true
				}
			}
		}
		pending = rest
		if len(pending) == 0 {
			break
		}
		// One subscriber per match key: customers sharing match values
		// share a subscriber, as in the per-customer lane.
		keys := make(map[string]bool, len(pending))
		subs := make([]contactsend.Subscriber, 0, len(pending))
		for _, c := range pending {
			if !keys[c.key] {
				keys[c.key] = true
				subs = append(subs, contactsend.Subscriber{Attributes: c.wire})
			}
		}
		_, err = r.l.cfg.Send.AddSubscribers(ctx, r.cred, r.db, subs)
		inDoubt = inDoubt || err == nil || errors.Is(err, contactsend.ErrOutcomeUnknown)
		switch {
		case err == nil, transient(err):
			// Added, or perhaps: the next round reads back before adding.
			lastErr = err
		default:
			// Refused as a whole (a value the userdb will not take): the
			// per-customer lane adds them one by one and records the one
			// at fault. Nothing was added, so their claims go.
			for _, c := range pending {
				handover = append(handover, c.id)
			}
			r.release(pending)
			return linked, handover, nil
		}
	}
	if len(pending) > 0 {
		// Claims stay: the job comes back, reads again and links or adds.
		return linked, handover, fmt.Errorf("add %d subscribers: %w: %w", len(pending), ErrRetry, cmp.Or(lastErr, errors.New("not visible after adding")))
	}
	return linked, handover, nil
}

// claimAdds claims the customers of an add page until until, under the
// job's lease, extended first when less than half a claim of it is left
// (the page's work ends with the lease, too). The claims are written in
// batches, without conditions: DynamoDB has no batched conditional write
// short of a transaction, and a request per customer is ten times the
// lane's budget. So a per-customer worker's claim taken since the run read
// the entry is overwritten, and both may add the customer; each reads the
// userdb back after adding (see settle, and the per-customer lane's own),
// and the later of them sees both and removes the extra one. A worker's
// finished record is overwritten too: addPage then finds its subscriber
// before adding, and hands the customer back to the per-customer lane.
func (r *run) claimAdds(ctx context.Context, page []*customer, until time.Time) error {
	if r.jobLease.ExpiresAt.Before(until.Add(-r.l.cfg.AddClaim / 2)) {
		if err := r.lease(ctx, until); err != nil {
			return err
		}
	}
	claims := make([]ledger.BulkEntry, len(page))
	for i, c := range page {
		e := c.entry
		e.AddingUntil, e.BulkClaimBy, e.BulkClaimUntil = until, r.owner, until
		claims[i] = e
		c.entry = e
		c.entry.Version += VersionJump
	}
	if err := r.l.cfg.Ledger.PutMany(ctx, claims, VersionJump); err != nil {
		// Some claims may have been written: they name the job, whose next
		// run takes them over.
		return retryable("claim adds", err)
	}
	return nil
}

// settle picks the subscriber a customer keeps among those holding its
// match values: the lowest id. Subscribers that appeared during this run
// beyond the kept one are duplicates of a race and are removed; ones that
// were there before are left alone, as the per-customer lane leaves them.
func (r *run) settle(ctx context.Context, subs []contactsend.Subscriber, seen map[int64]bool) (contactsend.Subscriber, error) {
	keep := lowest(subs)
	for _, s := range subs {
		if s.ID == keep.ID || seen[s.ID] {
			continue
		}
		if err := r.l.cfg.Send.RemoveSubscriber(ctx, r.cred, r.db, s.ID); err != nil && !errors.Is(err, contactsend.ErrUnknownSubscriber) {
			return keep, err
		}
		r.rep.Removed++
	}
	return keep, nil
}

// release drops the claims of customers nothing was added for.
func (r *run) release(cs []*customer) {
	if len(cs) == 0 {
		return
	}
	// On the run's final context: the claims go even when the work's time
	// ran out.
	if err := r.setClaims(r.final, cs, "", time.Time{}); err != nil {
		// They lapse by themselves; the per-customer lane waits until then.
		r.l.cfg.Logger.WarnContext(r.final, "release bulk add claims", "source_id", r.src.ID, "error", err)
	}
}

// prolong holds the run's claims on cs a whole claim from now. The writes
// are conditional, so they may land after the claims' end: a claim another
// worker took meanwhile stays its own.
func (r *run) prolong(cs []*customer) {
	r.unsure = true
	if err := r.setClaims(r.final, cs, r.owner, r.l.cfg.Clock().Add(r.l.cfg.AddClaim)); err != nil {
		r.l.cfg.Logger.WarnContext(r.final, "prolong bulk add claims", "source_id", r.src.ID, "error", err)
	}
}

// setClaims sets the run's claims on cs to owner until until, or drops
// them when until is zero, each on the condition that nobody wrote the
// entry since the run did: a claim another worker took stays its own.
func (r *run) setClaims(ctx context.Context, cs []*customer, owner string, until time.Time) error {
	if until.IsZero() {
		owner = ""
	}
	entries := make([]ledger.BulkEntry, len(cs))
	for i, c := range cs {
		e := c.entry
		e.AddingUntil, e.BulkClaimBy, e.BulkClaimUntil = until, owner, until
		entries[i] = e
	}
	var failed error
	for i, err := range r.l.cfg.Ledger.PutEach(ctx, entries, VersionJump) {
		switch {
		case err == nil:
			// What the run writes next for it starts from what it just
			// wrote, so that each write still moves the version past what
			// others read.
			cs[i].entry = entries[i]
			cs[i].entry.Version += VersionJump
		case errors.Is(err, ledger.ErrConflict):
			// Taken over: no longer the run's to move.
		default:
			failed = cmp.Or(failed, err)
		}
	}
	return failed
}
