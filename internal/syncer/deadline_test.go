package syncer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/simulators/faults"
)

// TestBatchAnswersBeforeTheInvocationDeadline runs the handler under a
// runtime deadline while a simulator is far slower than the invocation:
// the partial batch response must come before the deadline (later, Lambda
// counts a timeout and gives back the whole batch), every job cut off must
// be given back, the counters must be written, and what the cut-off jobs
// left must not break the next run: each customer ends with exactly one
// subscriber.
func TestBatchAnswersBeforeTheInvocationDeadline(t *testing.T) {
	t.Parallel()
	const (
		timeout = 4 * time.Second // the invocation's
		margin  = time.Second
		slow    = 20 * time.Second
	)
	tests := []struct {
		name   string
		synced bool // the customers have a subscriber before the slow run
		slowOn func(h *harness) *faults.Injector
		op     string
	}{
		{"contacthub read", false, func(h *harness) *faults.Injector { return h.hub.Faults() }, "customers.get"},
		{"contactsend add", false, func(h *harness) *faults.Injector { return h.send.Faults() }, "addSubscriber"},
		{"contactsend update", true, func(h *harness) *faults.Injector { return h.send.Faults() }, "updateSubscriber"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := h.newWorker(func(c *Config) { c.DeadlineMargin = margin })
			var ids, emails []string
			for i := range 3 {
				email := fmt.Sprintf("slow%d@example.com", i)
				ids = append(ids, h.put(h.customer(email, "Slow", nil)))
				emails = append(emails, email)
			}
			if tt.synced {
				if failed := h.sync(ids...); failed != nil {
					t.Fatalf("first sync gave back %v", failed)
				}
				for _, id := range ids {
					c, _ := h.hub.Customer(hubWorkspace, id)
					c["base"].(map[string]any)["firstName"] = "Changed"
					h.put(c)
				}
			}
			if _, err := tt.slowOn(h).Add(faults.Rule{Operation: tt.op, Kind: faults.Latency, Latency: slow, Rate: 1}); err != nil {
				t.Fatal(err)
			}
			var js []jobs.Job
			for _, id := range ids {
				js = append(js, jobs.Job{CustomerID: id})
			}
			ev := h.event(js...)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			deadline, _ := ctx.Deadline()
			resp, err := w.HandleSQS(ctx, ev)
			answered := time.Now()
			if err != nil {
				t.Fatalf("HandleSQS: %v", err)
			}
			if !answered.Before(deadline) {
				t.Fatalf("answered %v after the deadline", answered.Sub(deadline))
			}
			if len(resp.BatchItemFailures) != len(ev.Records) {
				t.Fatalf("gave back %d of %d jobs cut off by the deadline", len(resp.BatchItemFailures), len(ev.Records))
			}
			stats, err := h.ledger.Stats(context.Background(), h.src.ID, h.now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if stats.Retried != int64(len(ids)) {
				t.Errorf("counters say %d retried, want %d (the stats write was cut off?)", stats.Retried, len(ids))
			}
			if tt.op == "addSubscriber" {
				// The adds may still land: the claims must hold off a second add.
				for _, id := range ids {
					if e := h.entry(id); !e.Adding(h.now()) {
						t.Errorf("customer %s: add claim released after an add of unknown outcome", id)
					}
				}
			}

			tt.slowOn(h).Reset()
			h.skip(DefaultAddClaim + time.Second) // past any claim left behind
			if failed := h.sync(ids...); failed != nil {
				t.Fatalf("the run after the slow one gave back %v", failed)
			}
			for i, email := range emails {
				sub := h.only(email)
				if e := h.entry(ids[i]); e.SubscriberID != sub.ID {
					t.Errorf("%s: ledger links subscriber %d, Contactsend has %d", email, e.SubscriberID, sub.ID)
				}
			}
		})
	}
}

// stubbornHub is a Contacthub client that ignores its context, as a
// dependency stuck below it could: it answers only when released.
type stubbornHub struct{ release chan struct{} }

func (s stubbornHub) Customer(context.Context, string) (contacthub.Customer, error) {
	<-s.release
	return contacthub.Customer{}, errors.New("released")
}

func (s stubbornHub) Node(context.Context, string) (contacthub.Node, error) {
	<-s.release
	return contacthub.Node{}, errors.New("released")
}

// TestBatchAnswersWhenAJobIgnoresItsDeadline: even a job that does not
// end with its context cannot hold the answer past the invocation's
// deadline; its messages are given back.
func TestBatchAnswersWhenAJobIgnoresItsDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hub := stubbornHub{release: make(chan struct{})}
	t.Cleanup(func() { close(hub.release) })
	w := h.newWorker(func(c *Config) {
		c.DeadlineMargin = time.Second
		c.Hub = func(configstore.Connection) (Hub, error) { return hub, nil }
	})
	ev := h.event(jobs.Job{CustomerID: h.put(h.customer("stuck1@example.com", "Stuck", nil))},
		jobs.Job{CustomerID: h.put(h.customer("stuck2@example.com", "Stuck", nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	resp, err := w.HandleSQS(ctx, ev)
	if now := time.Now(); !now.Before(deadline) {
		t.Fatalf("answered %v after the deadline", now.Sub(deadline))
	}
	if err != nil || len(resp.BatchItemFailures) != len(ev.Records) {
		t.Fatalf("HandleSQS = %+v, %v; want every message given back", resp, err)
	}
}
