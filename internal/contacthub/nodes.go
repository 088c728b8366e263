package contacthub

import (
	"context"
	"errors"
	"net/http"
)

// NodeKind says whether customers are written to a node or assembled in it.
type NodeKind string

const (
	// EntryNode receives customers and events directly.
	EntryNode NodeKind = "entry"
	// AggregateNode unifies the customers of several entry nodes; it is
	// read-only and Contactsend subscription sync is not available on it.
	AggregateNode NodeKind = "aggregate"
)

// Node is a node of the workspace.
type Node struct {
	ID          string
	Name        string
	Description string
	Kind        NodeKind
	// EntryNodeIDs are an aggregate node's member nodes, when the service
	// reports them.
	EntryNodeIDs []string
}

// wireNode is the shape of both node resources: EntryNodeConfiguration
// {id, name, description, imageUrl, sourcePriority, mandatoryProperties}, and
// for aggregates the same plus their member entry nodes.
type wireNode struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	EntryNodes  []string `json:"entryNodes"`
}

// Node finds a node by id: first among entry nodes
// (GET /configuration/nodes/entries/{id}), then among aggregate nodes
// (GET /configuration/nodes/aggregates/{id}). Swagger 1.51 has no aggregate
// resource (aggregates came later, replacing view nodes); the path follows
// the entries/views pattern of the configuration API. A node found in
// neither is ErrNotFound.
func (c *Client) Node(ctx context.Context, id string) (Node, error) {
	if id == "" {
		return Node{}, errors.New("contacthub: node id is required")
	}
	var w wireNode
	err := c.call(ctx, request{method: http.MethodGet, path: "/configuration/nodes/entries/" + escape(id)}, &w)
	if err == nil {
		return Node{ID: w.ID, Name: w.Name, Description: w.Description, Kind: EntryNode}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Node{}, err
	}
	w = wireNode{}
	err = c.call(ctx, request{method: http.MethodGet, path: "/configuration/nodes/aggregates/" + escape(id)}, &w)
	if err != nil {
		return Node{}, err
	}
	return Node{ID: w.ID, Name: w.Name, Description: w.Description, Kind: AggregateNode, EntryNodeIDs: w.EntryNodes}, nil
}

// Nodes lists the workspace's entry nodes and then its aggregate nodes. A
// service without the aggregate resource (404) yields entry nodes only.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var entries struct {
		Elements []wireNode `json:"elements"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/configuration/nodes/entries"}, &entries); err != nil {
		return nil, err
	}
	nodes := make([]Node, 0, len(entries.Elements))
	for _, w := range entries.Elements {
		nodes = append(nodes, Node{ID: w.ID, Name: w.Name, Description: w.Description, Kind: EntryNode})
	}
	var aggregates struct {
		Elements []wireNode `json:"elements"`
	}
	err := c.call(ctx, request{method: http.MethodGet, path: "/configuration/nodes/aggregates"}, &aggregates)
	if errors.Is(err, ErrNotFound) {
		return nodes, nil
	}
	if err != nil {
		return nil, err
	}
	for _, w := range aggregates.Elements {
		nodes = append(nodes, Node{ID: w.ID, Name: w.Name, Description: w.Description, Kind: AggregateNode, EntryNodeIDs: w.EntryNodes})
	}
	return nodes, nil
}
