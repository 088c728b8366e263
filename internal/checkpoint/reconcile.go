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
	NextPage int `json:"nextPage"`
	// Passes counts the walks completed.
	Passes int64 `json:"passes"`
	// PassStartedAt is when the current walk read its first page.
	PassStartedAt time.Time `json:"passStartedAt,omitzero"`
	// LastPassFinishedAt and LastPassSeconds describe the latest complete walk.
	LastPassFinishedAt time.Time `json:"lastPassFinishedAt,omitzero"`
	LastPassSeconds    int64     `json:"lastPassSeconds"`
	// Scanned and Enqueued count the subscribers compared and the jobs
	// enqueued by the current walk.
	Scanned     int64     `json:"scanned"`
	Enqueued    int64     `json:"enqueued"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
	UpdatedBy   string    `json:"updatedBy,omitempty"`
	Version     int64     `json:"version"`
}

const reconcileSK = "RECONCILE"

type reconcileItem struct {
	PK                 string    `dynamodbav:"pk"`
	SK                 string    `dynamodbav:"sk"`
	Type               string    `dynamodbav:"type"`
	SourceID           string    `dynamodbav:"sourceId"`
	NextPage           int       `dynamodbav:"nextPage"`
	Passes             int64     `dynamodbav:"passes"`
	PassStartedAt      time.Time `dynamodbav:"passStartedAt,omitempty"`
	LastPassFinishedAt time.Time `dynamodbav:"lastPassFinishedAt,omitempty"`
	LastPassSeconds    int64     `dynamodbav:"lastPassSeconds"`
	Scanned            int64     `dynamodbav:"scanned"`
	Enqueued           int64     `dynamodbav:"enqueued"`
	LastError          string    `dynamodbav:"lastError,omitempty"`
	LastErrorAt        time.Time `dynamodbav:"lastErrorAt,omitempty"`
	UpdatedAt          time.Time `dynamodbav:"updatedAt,omitempty"`
	UpdatedBy          string    `dynamodbav:"updatedBy,omitempty"`
	Version            int64     `dynamodbav:"version"`
}

// Reconcile returns the source's reconciliation checkpoint and whether one
// exists.
func (s *Store) Reconcile(ctx context.Context, sourceID string) (Reconcile, bool, error) {
	var item reconcileItem
	found, err := s.get(ctx, sourceID, reconcileSK, &item)
	if err != nil || !found {
		return Reconcile{}, found, err
	}
	return Reconcile{
		NextPage: item.NextPage, Passes: item.Passes, PassStartedAt: item.PassStartedAt,
		LastPassFinishedAt: item.LastPassFinishedAt, LastPassSeconds: item.LastPassSeconds,
		Scanned: item.Scanned, Enqueued: item.Enqueued, LastError: item.LastError, LastErrorAt: item.LastErrorAt,
		UpdatedAt: item.UpdatedAt, UpdatedBy: item.UpdatedBy, Version: item.Version,
	}, true, nil
}

// SaveReconcile stores r if the stored checkpoint still has r.Version
// (zero: none stored yet) and returns it with its new version; otherwise
// it returns ErrConflict.
func (s *Store) SaveReconcile(ctx context.Context, sourceID string, r Reconcile) (Reconcile, error) {
	item := reconcileItem{
		PK: partition(sourceID), SK: reconcileSK, Type: "checkpoint-reconcile", SourceID: sourceID,
		NextPage: r.NextPage, Passes: r.Passes, PassStartedAt: r.PassStartedAt.UTC(),
		LastPassFinishedAt: r.LastPassFinishedAt.UTC(), LastPassSeconds: r.LastPassSeconds,
		Scanned: r.Scanned, Enqueued: r.Enqueued, LastError: r.LastError, LastErrorAt: r.LastErrorAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy, Version: r.Version + 1,
	}
	if err := s.put(ctx, sourceID, reconcileSK, item, r.Version); err != nil {
		return r, err
	}
	r.Version++
	return r, nil
}
