package checkpoint

import (
	"context"
	"time"
)

// Feed is a source's position in the Contacthub change feed.
type Feed struct {
	// NodeID is the node the offset belongs to; offsets of a filtered feed
	// mean nothing for another node.
	NodeID string `json:"nodeId" dynamodbav:"nodeId"`
	// Offset is the greatest feed offset whose changes are all in the sync
	// queue; the next read starts after it.
	Offset int64 `json:"offset" dynamodbav:"offset"`
	// Started is false until a first offset is stored.
	Started      bool      `json:"started" dynamodbav:"started"`
	LastPolledAt time.Time `json:"lastPolledAt,omitzero" dynamodbav:"lastPolledAt,omitempty"`
	// LastEnqueued counts the jobs the latest successful tick enqueued.
	LastEnqueued int `json:"lastEnqueued" dynamodbav:"lastEnqueued"`
	// LagSeconds is how old the oldest change not yet read was at the latest
	// poll; zero when the feed was read to its end.
	LagSeconds  int64     `json:"lagSeconds" dynamodbav:"lagSeconds"`
	LastError   string    `json:"lastError,omitempty" dynamodbav:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero" dynamodbav:"lastErrorAt,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero" dynamodbav:"updatedAt,omitempty"`
	// UpdatedBy is the lease owner of the run that wrote the checkpoint.
	UpdatedBy string `json:"updatedBy,omitempty" dynamodbav:"updatedBy,omitempty"`
	// Version counts saves; Save fails with ErrConflict unless it is still
	// the stored one.
	Version int64 `json:"version" dynamodbav:"version"`
}

// Feed returns the source's feed checkpoint and whether it exists.
func (s *Store) Feed(ctx context.Context, sourceID string) (Feed, bool, error) {
	return load[Feed](ctx, s, sourceID, feedSK)
}

// SaveFeed stores f if the stored checkpoint still has f.Version (zero: none
// stored yet) and returns it with its new version. Otherwise it stores
// nothing and returns ErrConflict.
func (s *Store) SaveFeed(ctx context.Context, sourceID string, f Feed) (Feed, error) {
	next := f
	next.Version++
	if err := s.put(ctx, sourceID, feedSK, "checkpoint-feed", next, f.Version); err != nil {
		return f, err
	}
	return next, nil
}
