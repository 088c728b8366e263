package contacthub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// MaxUpdatesSize is the largest page GET /updates serves.
const MaxUpdatesSize = 4000

// Operations and entity types of the change feed.
const (
	OperationCreate = "CREATE"
	OperationUpdate = "UPDATE"
	OperationDelete = "DELETE"

	EntityCustomer = "CUSTOMER"
	EntityEvent    = "EVENT"
)

// UpdatesQuery selects a page of the change feed.
type UpdatesQuery struct {
	// Offset is the greatest offset already seen; the page starts after it.
	Offset *int64
	// Timestamp (Unix milliseconds) starts the feed at a time; the service
	// ignores it when Offset is set.
	Timestamp *int64
	Size      int // 1..MaxUpdatesSize; 0 leaves the service default (50)
	NodeID    string
	Entity    string // EntityCustomer, EntityEvent or "" for both
}

// Updates is one page of the change feed.
type Updates struct {
	// NextOffset is the offset to pass as UpdatesQuery.Offset next time.
	NextOffset int64    `json:"nextOffset"`
	Updates    []Update `json:"updates"`
}

// Update is one change: what happened to which entity.
type Update struct {
	Operation string       `json:"operation"`
	Entity    UpdateEntity `json:"entity"`
}

// UpdateEntity is the changed entity; Data is the customer or event JSON.
type UpdateEntity struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Customer decodes the entity as a customer.
func (u Update) Customer() (Customer, error) {
	if u.Entity.Type != EntityCustomer {
		return Customer{}, fmt.Errorf("contacthub: update entity is %s, not %s", u.Entity.Type, EntityCustomer)
	}
	return DecodeCustomer(u.Entity.Data)
}

// Updates reads one page of the change feed.
func (c *Client) Updates(ctx context.Context, q UpdatesQuery) (Updates, error) {
	if q.Size < 0 || q.Size > MaxUpdatesSize {
		return Updates{}, fmt.Errorf("contacthub: updates size %d is not within 1..%d", q.Size, MaxUpdatesSize)
	}
	v := url.Values{}
	if q.Offset != nil {
		v.Set("offset", strconv.FormatInt(*q.Offset, 10))
	}
	if q.Timestamp != nil {
		v.Set("timestamp", strconv.FormatInt(*q.Timestamp, 10))
	}
	if q.Size > 0 {
		v.Set("size", strconv.Itoa(q.Size))
	}
	if q.NodeID != "" {
		v.Set("nodeId", q.NodeID)
	}
	if q.Entity != "" {
		v.Set("entity", q.Entity)
	}
	var out Updates
	err := c.call(ctx, request{method: http.MethodGet, path: "/updates", query: v}, &out)
	return out, err
}

// LastOffset returns the offset of the latest change, optionally filtered by
// node and entity type ("" for all), so a new reader can start from now.
func (c *Client) LastOffset(ctx context.Context, nodeID, entity string) (int64, error) {
	v := url.Values{}
	if nodeID != "" {
		v.Set("nodeId", nodeID)
	}
	if entity != "" {
		v.Set("entity", entity)
	}
	var out struct {
		LastOffset int64 `json:"lastOffset"`
	}
	err := c.call(ctx, request{method: http.MethodGet, path: "/updates/last-offset", query: v}, &out)
	return out.LastOffset, err
}
