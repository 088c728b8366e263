package bench

import (
	"context"
	"sync"
	"time"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/syncer"
)

// Send is what the worker calls Contactsend for: customer data and
// subscriptions (a Send without the latter fails the jobs of sources with
// subscription rows).
type Send interface {
	syncer.Send
	syncer.SubscriptionSend
}

// Writes wraps the worker's Contactsend client and notes, per subscriber,
// when a write (add or update) last completed. The simulator's call log
// counts the writes; this gives each its subscriber, so latency can be
// measured customer by customer.
type Writes struct {
	Send

	mu sync.Mutex
	at map[int64]time.Time
}

// NewWrites wraps send.
func NewWrites(send Send) *Writes {
	return &Writes{Send: send, at: make(map[int64]time.Time)}
}

func (w *Writes) note(id int64) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at[id] = now
}

// Reset forgets every write noted so far.
func (w *Writes) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.at)
}

// At returns when the subscriber was last written since the last Reset.
func (w *Writes) At(id int64) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.at[id]
	return t, ok
}

// Len is the number of subscribers written since the last Reset.
func (w *Writes) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.at)
}

func (w *Writes) AddSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	added, err := w.Send.AddSubscriber(ctx, cred, userDBID, s)
	if err == nil {
		w.note(added.ID)
	}
	return added, err
}

func (w *Writes) UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, userDBID int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	updated, err := w.Send.UpdateSubscriber(ctx, cred, userDBID, s)
	if err == nil {
		w.note(s.ID)
	}
	return updated, err
}
