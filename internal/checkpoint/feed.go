package checkpoint

import (
	"context"
	"time"
)

// Feed is a source's position in the Contacthub change feed.
type Feed struct {
	// NodeID is the node the offset belongs to; offsets of a filtered feed
	// mean nothing for another node.
	NodeID string `json:"nodeId"`
	// Offset is the greatest feed offset whose changes are all in the sync
	// queue; the next read starts after it.
	Offset int64 `json:"offset"`
	// Started is false until a first offset is stored.
	Started      bool      `json:"started"`
	LastPolledAt time.Time `json:"lastPolledAt,omitzero"`
	// LastEnqueued counts the jobs the latest successful tick enqueued.
	LastEnqueued int `json:"lastEnqueued"`
	// LagSeconds is how old the oldest change not yet read was at the latest
	// poll; zero when the feed was read to its end.
	LagSeconds  int64     `json:"lagSeconds"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
	// UpdatedBy is the lease owner of the run that wrote the checkpoint.
	UpdatedBy string `json:"updatedBy,omitempty"`
	// Version counts saves; Save fails with ErrConflict unless it is still
	// the stored one.
	Version int64 `json:"version"`
}

type feedItem struct {
	PK           string    `dynamodbav:"pk"`
	SK           string    `dynamodbav:"sk"`
	Type         string    `dynamodbav:"type"`
	SourceID     string    `dynamodbav:"sourceId"`
	NodeID       string    `dynamodbav:"nodeId"`
	Offset       int64     `dynamodbav:"offset"`
	Started      bool      `dynamodbav:"started"`
	LastPolledAt time.Time `dynamodbav:"lastPolledAt,omitempty"`
	LastEnqueued int       `dynamodbav:"lastEnqueued"`
	LagSeconds   int64     `dynamodbav:"lagSeconds"`
	LastError    string    `dynamodbav:"lastError,omitempty"`
	LastErrorAt  time.Time `dynamodbav:"lastErrorAt,omitempty"`
	UpdatedAt    time.Time `dynamodbav:"updatedAt,omitempty"`
	UpdatedBy    string    `dynamodbav:"updatedBy,omitempty"`
	Version      int64     `dynamodbav:"version"`
}

// Feed returns the source's feed checkpoint and whether it exists.
func (s *Store) Feed(ctx context.Context, sourceID string) (Feed, bool, error) {
	var item feedItem
	found, err := s.get(ctx, sourceID, feedSK, &item)
	if err != nil || !found {
		return Feed{}, found, err
	}
	return Feed{
		NodeID: item.NodeID, Offset: item.Offset, Started: item.Started, LastPolledAt: item.LastPolledAt,
		LastEnqueued: item.LastEnqueued, LagSeconds: item.LagSeconds, LastError: item.LastError,
		LastErrorAt: item.LastErrorAt, UpdatedAt: item.UpdatedAt, UpdatedBy: item.UpdatedBy, Version: item.Version,
	}, true, nil
}

// SaveFeed stores f if the stored checkpoint still has f.Version (zero: none
// stored yet) and returns it with its new version. Otherwise it stores
// nothing and returns ErrConflict.
func (s *Store) SaveFeed(ctx context.Context, sourceID string, f Feed) (Feed, error) {
	item := feedItem{
		PK: partition(sourceID), SK: feedSK, Type: "checkpoint-feed", SourceID: sourceID,
		NodeID: f.NodeID, Offset: f.Offset, Started: f.Started, LastPolledAt: f.LastPolledAt.UTC(),
		LastEnqueued: f.LastEnqueued, LagSeconds: f.LagSeconds, LastError: f.LastError,
		LastErrorAt: f.LastErrorAt.UTC(), UpdatedAt: f.UpdatedAt.UTC(), UpdatedBy: f.UpdatedBy, Version: f.Version + 1,
	}
	if err := s.put(ctx, sourceID, feedSK, item, f.Version); err != nil {
		return f, err
	}
	f.Version++
	return f, nil
}
