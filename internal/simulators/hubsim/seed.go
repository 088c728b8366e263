package hubsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// Seed is the simulator's whole world: its workspaces and what they hold.
// It loads from JSON (LoadSeed) and is also what Snapshot returns, so a
// state file is a seed.
type Seed struct {
	Workspaces []WorkspaceSeed `json:"workspaces"`
}

// WorkspaceSeed is one Contacthub workspace.
type WorkspaceSeed struct {
	ID string `json:"id"`
	// Tokens are the bearer tokens (source tokens) accepted for it.
	Tokens         []string            `json:"tokens"`
	EntryNodes     []NodeSeed          `json:"entryNodes"`
	AggregateNodes []AggregateNodeSeed `json:"aggregateNodes,omitempty"`
	// BaseSchema is the JSON Schema of customer.base; empty means
	// StandardBaseSchema.
	BaseSchema json.RawMessage `json:"baseSchema,omitempty"`
	// BaseProperties enable or disable base properties by name
	// (GET /configuration/properties/base); unlisted ones are enabled.
	BaseProperties []BaseProperty `json:"baseProperties,omitempty"`
	// ExtendedSchema is the JSON Schema of customer.extended; empty means
	// no extended properties.
	ExtendedSchema json.RawMessage `json:"extendedSchema,omitempty"`
	// Customers in the service's JSON shape; id, registeredAt and updatedAt
	// are filled in when absent.
	Customers []json.RawMessage `json:"customers,omitempty"`
	// Updates is the change feed; seeds usually leave it empty, state files
	// carry it so offsets survive a restart.
	Updates []UpdateRecord `json:"updates,omitempty"`
}

// NodeSeed is an entry node.
type NodeSeed struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// AggregateNodeSeed is an aggregate node and the entry nodes it unifies.
type AggregateNodeSeed struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	EntryNodes  []string `json:"entryNodes"`
}

// BaseProperty is one entry of GET /configuration/properties/base.
type BaseProperty struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Enabled     bool   `json:"enabled"`
}

// UpdateRecord is one entry of the change feed.
type UpdateRecord struct {
	Offset    int64          `json:"offset"`
	At        time.Time      `json:"at"`
	Operation string         `json:"operation"`
	Entity    string         `json:"entity"`
	NodeID    string         `json:"nodeId"`
	Data      map[string]any `json:"data"`
}

// LoadSeed reads a seed file and checks that a simulator can load it.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("hubsim: reading seed: %w", err)
	}
	seed, err := ParseSeed(data)
	if err != nil {
		return Seed{}, fmt.Errorf("hubsim: seed %s: %w", path, err)
	}
	return seed, nil
}

// ParseSeed decodes a seed and checks that a simulator can load it.
func ParseSeed(data []byte) (Seed, error) {
	var seed Seed
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&seed); err != nil {
		return Seed{}, err
	}
	if err := seed.Validate(); err != nil {
		return Seed{}, err
	}
	return seed, nil
}

// Validate loads the seed into a scratch simulator and reports the first
// problem: duplicate ids, unknown nodes, customers that break the schemas
// or the uniqueness rules.
func (s Seed) Validate() error {
	_, err := build(s, rand.New(rand.NewPCG(1, 2)), time.Now)
	return err
}

// DemoOptions shapes a generated demo seed.
type DemoOptions struct {
	WorkspaceID string // default "demo"
	Token       string // default "demo-token"
	Customers   int    // default 100
	RandomSeed  uint64
	// Now anchors registration dates; zero means 2024-01-01.
	Now time.Time
}

// DemoSeed generates a realistic workspace: two entry nodes (Italy, United Kingdom)
// and an aggregate over both, a loyalty extended schema, and customers with
// Italian or English names, addresses, unique emails and newsletter
// subscriptions in both states. The same options give the same seed.
func DemoSeed(o DemoOptions) Seed {
	if o.WorkspaceID == "" {
		o.WorkspaceID = "demo"
	}
	if o.Token == "" {
		o.Token = "demo-token"
	}
	if o.Customers == 0 {
		o.Customers = 100
	}
	if o.Now.IsZero() {
		o.Now = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(o.RandomSeed, o.RandomSeed+1))
	nodes := []NodeSeed{
		{ID: newUUID(rng), Name: "Italia", Description: "Clienti italiani"},
		{ID: newUUID(rng), Name: "United Kingdom", Description: "UK customers"},
	}
	ws := WorkspaceSeed{
		ID:         o.WorkspaceID,
		Tokens:     []string{o.Token},
		EntryNodes: nodes,
		AggregateNodes: []AggregateNodeSeed{{
			ID: newUUID(rng), Name: "Europa", Description: "Profili unificati", EntryNodes: []string{nodes[0].ID, nodes[1].ID},
		}},
		ExtendedSchema: mustJSON(demoExtendedSchema()),
	}
	type locale struct {
		first, last, cities   []string
		country, code, prefix string
	}
	locales := []locale{
		{strings.Fields("Giulia Marco Francesca Luca Chiara Matteo Sara Alessandro Elena Davide"),
			strings.Fields("Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco"),
			strings.Fields("Milano Roma Torino Napoli Bologna Firenze"), "Italy", "it_IT", "+39 3"},
		{strings.Fields("Olivia Oliver Amelia George Isla Harry Ava Jack Emily Thomas"),
			strings.Fields("Smith Jones Taylor Brown Williams Wilson Johnson Davies Evans Walker"),
			strings.Fields("London Manchester Birmingham Leeds Bristol Edinburgh"), "United Kingdom", "en_GB", "+44 7"},
	}
	for i := range o.Customers {
		n := i % len(nodes)
		l := locales[n]
		first := l.first[rng.IntN(len(l.first))]
		last := l.last[rng.IntN(len(l.last))]
		registered := o.Now.Add(-time.Duration(rng.IntN(365*24)) * time.Hour)
		email := fmt.Sprintf("%s.%s.%d@example.com", asciiLower(first), asciiLower(last), i)
		c := map[string]any{
			"id":           newUUID(rng),
			"nodeId":       nodes[n].ID,
			"externalId":   fmt.Sprintf("CRM-%06d", i+1),
			"registeredAt": formatTime(registered),
			"updatedAt":    formatTime(registered),
			"base": map[string]any{
				"firstName": first,
				"lastName":  last,
				"gender":    []string{"female", "male"}[rng.IntN(2)],
				"dob":       time.Date(1950+rng.IntN(55), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
				"locale":    l.code,
				"contacts":  map[string]any{"email": email, "mobilePhone": fmt.Sprintf("%s%08d", l.prefix, rng.IntN(1e8))},
				"address":   map[string]any{"city": l.cities[rng.IntN(len(l.cities))], "country": l.country},
				"subscriptions": []any{map[string]any{
					"id": "newsletter", "name": "Newsletter", "type": "Newsletter", "kind": "DIGITAL_MESSAGE",
					"subscribed": rng.IntN(4) != 0, "registeredAt": formatTime(registered), "updatedAt": formatTime(registered),
				}},
			},
			"extended": map[string]any{
				"loyaltyPoints": rng.IntN(5000),
				"vip":           rng.IntN(10) == 0,
				"favouriteShop": l.cities[rng.IntN(len(l.cities))],
			},
			"tags": map[string]any{"auto": []any{}, "manual": []any{}},
		}
		ws.Customers = append(ws.Customers, mustJSON(c))
	}
	return Seed{Workspaces: []WorkspaceSeed{ws}}
}

func demoExtendedSchema() map[string]any {
	return map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"loyaltyPoints": map[string]any{"type": []any{"integer", "null"}, "contactlabProperties": map[string]any{"label": "Loyalty points", "enabled": true}},
			"vip":           map[string]any{"type": []any{"boolean", "null"}, "contactlabProperties": map[string]any{"label": "VIP", "enabled": true}},
			"favouriteShop": map[string]any{"type": []any{"string", "null"}, "contactlabProperties": map[string]any{"label": "Favourite shop", "enabled": true}},
			"lastPurchaseAt": map[string]any{"type": []any{"string", "null"}, "format": "date-time",
				"contactlabProperties": map[string]any{"label": "Last purchase", "enabled": true}},
		},
	}
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case strings.ContainsRune("áà", r):
			b.WriteByte('a')
		case strings.ContainsRune("éè", r):
			b.WriteByte('e')
		case strings.ContainsRune("íì", r):
			b.WriteByte('i')
		case strings.ContainsRune("óò", r):
			b.WriteByte('o')
		case strings.ContainsRune("úù", r):
			b.WriteByte('u')
		case r == 'ñ':
			b.WriteByte('n')
		}
	}
	return b.String()
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with JSON-safe values built in this package
	}
	return data
}

// newUUID returns a random (version 4) UUID drawn from rng, the form of
// Contacthub's customer and node ids.
func newUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
