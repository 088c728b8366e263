package checkpoint

import (
	"context"
	"time"
)

// Reconcile is a source's position in the walk of its userdb that finds
// Contactsend subscription changes (Contactsend has no change feed): the
// walk reads the subscribers page by page, sorted by id, and starts over
// when it reaches the end.
type Reconcile struct {
	// NextPage is the first page of the walk not yet compared (1-based);
	// zero reads as 1.
	NextPage int `json:"nextPage" dynamodbav:"nextPage"`
	// Passes counts the walks completed.
	Passes int64 `json:"passes" dynamodbav:"passes"`
	// PassStartedAt is when the current walk read its first page.
	PassStartedAt time.Time `json:"passStartedAt,omitzero" dynamodbav:"passStartedAt,omitempty"`
	// LastPassFinishedAt and LastPassSeconds describe the latest complete walk.
	LastPassFinishedAt time.Time `json:"lastPassFinishedAt,omitzero" dynamodbav:"lastPassFinishedAt,omitempty"`
	LastPassSeconds    int64     `json:"lastPassSeconds" dynamodbav:"lastPassSeconds"`
	// Scanned and Enqueued count the subscribers compared and the jobs
	// enqueued by the current walk.
	Scanned  int64 `json:"scanned" dynamodbav:"scanned"`
	Enqueued int64 `json:"enqueued" dynamodbav:"enqueued"`
	// LedgerIndexed says every ledger entry of the source is in the
	// ledger's subscriber range index, so a page of subscribers is
	// compared with one range read; until then the reconciliation adds
	// the entries written before the index existed (IndexCursor is how
	// far it got) and looks up what the range did not find one by one.
	// Stored under a second name since the bulk lane's entries, which the
	// first release of the bulk lane wrote without the index keys, must
	// be indexed too: checkpoints of before read as not indexed, once.
	LedgerIndexed bool      `json:"ledgerIndexed" dynamodbav:"ledgerIndexed2"`
	IndexCursor   string    `json:"-" dynamodbav:"indexCursor,omitempty"`
	LastError     string    `json:"lastError,omitempty" dynamodbav:"lastError,omitempty"`
	LastErrorAt   time.Time `json:"lastErrorAt,omitzero" dynamodbav:"lastErrorAt,omitempty"`
	UpdatedAt     time.Time `json:"updatedAt,omitzero" dynamodbav:"updatedAt,omitempty"`
	UpdatedBy     string    `json:"updatedBy,omitempty" dynamodbav:"updatedBy,omitempty"`
	Version       int64     `json:"version" dynamodbav:"version"`
}

const reconcileSK = "RECONCILE"

// Reconcile returns the source's reconciliation checkpoint and whether one
// exists.
func (s *Store) Reconcile(ctx context.Context, sourceID string) (Reconcile, bool, error) {
	return load[Reconcile](ctx, s, sourceID, reconcileSK)
}

// SaveReconcile stores r if the stored checkpoint still has r.Version
// (zero: none stored yet) and returns it with its new version; otherwise
// it returns ErrConflict.
func (s *Store) SaveReconcile(ctx context.Context, sourceID string, r Reconcile) (Reconcile, error) {
	next := r
	next.Version++
	if err := s.put(ctx, sourceID, reconcileSK, "checkpoint-reconcile", next, r.Version); err != nil {
		return r, err
	}
	return next, nil
}
