package source

import (
	"slices"
	"strings"
)

// Change is one kind of edit to a source that the integrity rules care about.
type Change string

// The changes named by the modification table.
const (
	ChangeNode          Change = "node"
	ChangeAPIKey        Change = "apiKey"
	ChangeUserDB        Change = "userDbId"
	ChangeSubscriptions Change = "subscriptions"
	ChangeFieldMapping  Change = "fieldMapping"
)

// Requirement is a live condition a change must meet.
type Requirement string

// The requirement columns of the modification table.
const (
	SourceDisabled   Requirement = "sourceDisabled"
	CurrentNodeEmpty Requirement = "currentNodeEmpty"
	NewNodeEmpty     Requirement = "newNodeEmpty"
	UserDBEmpty      Requirement = "userDbEmpty"
)

// Rule is one row of the modification table.
type Rule struct {
	Changes  []Change
	Requires []Requirement
}

// modificationTable is the seed's table "SOURCE CONTACTSEND — Modifica /
// Requisiti", row for row. It is the only place these rules live. Name,
// description, userKey and enable/disable appear in no row and need nothing.
var modificationTable = []Rule{
	{Changes: []Change{ChangeNode}, Requires: []Requirement{SourceDisabled, CurrentNodeEmpty}},
	{Changes: []Change{ChangeAPIKey}, Requires: []Requirement{SourceDisabled, CurrentNodeEmpty}},
	{Changes: []Change{ChangeNode, ChangeAPIKey}, Requires: []Requirement{SourceDisabled, CurrentNodeEmpty}},
	{Changes: []Change{ChangeUserDB}, Requires: []Requirement{SourceDisabled, CurrentNodeEmpty, NewNodeEmpty}},
	{Changes: []Change{ChangeNode, ChangeUserDB}, Requires: []Requirement{SourceDisabled, CurrentNodeEmpty, NewNodeEmpty}},
	{Changes: []Change{ChangeSubscriptions}, Requires: []Requirement{SourceDisabled}},
	{Changes: []Change{ChangeFieldMapping}, Requires: []Requirement{SourceDisabled}},
}

// Diff lists the table's changes that turn old into updated. The delete
// policy counts as part of the mapping: it decides what the sync writes.
// MaxInFlight is operational tuning and needs nothing.
func Diff(old, updated Source) []Change {
	var changes []Change
	if !slices.Equal(old.Nodes, updated.Nodes) {
		changes = append(changes, ChangeNode)
	}
	if old.Properties.APIKey != updated.Properties.APIKey {
		changes = append(changes, ChangeAPIKey)
	}
	if old.Properties.UserDBID != updated.Properties.UserDBID {
		changes = append(changes, ChangeUserDB)
	}
	if !slices.Equal(old.Properties.Subscriptions, updated.Properties.Subscriptions) {
		changes = append(changes, ChangeSubscriptions)
	}
	if !slices.Equal(old.Properties.FieldMapping, updated.Properties.FieldMapping) ||
		old.Properties.DeletePolicy() != updated.Properties.DeletePolicy() {
		changes = append(changes, ChangeFieldMapping)
	}
	return changes
}

// Requirements returns what a set of changes needs: the union of every row
// of the table whose changes are all among them. Combinations the table does
// not list (apiKey and userDbId together, say) need what each part needs.
func Requirements(changes []Change) []Requirement {
	var reqs []Requirement
	for _, row := range modificationTable {
		if !containsAll(changes, row.Changes) {
			continue
		}
		for _, r := range row.Requires {
			if !slices.Contains(reqs, r) {
				reqs = append(reqs, r)
			}
		}
	}
	slices.SortFunc(reqs, func(a, b Requirement) int { return requirementOrder(a) - requirementOrder(b) })
	return reqs
}

func containsAll(have, want []Change) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func requirementOrder(r Requirement) int {
	return slices.Index([]Requirement{SourceDisabled, CurrentNodeEmpty, NewNodeEmpty, UserDBEmpty}, r)
}

// Facts are the live answers to the table's questions about one change.
type Facts struct {
	SourceDisabled   bool
	CurrentNodeEmpty bool
	NewNodeEmpty     bool
	UserDBEmpty      bool
}

func (f Facts) holds(r Requirement) bool {
	switch r {
	case SourceDisabled:
		return f.SourceDisabled
	case CurrentNodeEmpty:
		return f.CurrentNodeEmpty
	case NewNodeEmpty:
		return f.NewNodeEmpty
	case UserDBEmpty:
		return f.UserDBEmpty
	}
	return false
}

// Unmet is a refused change: the changes asked for and every requirement
// they miss.
type Unmet struct {
	Changes []Change
	Missing []Requirement
}

func (u *Unmet) Error() string {
	changes := make([]string, len(u.Changes))
	for i, c := range u.Changes {
		changes[i] = string(c)
	}
	missing := make([]string, len(u.Missing))
	for i, r := range u.Missing {
		missing[i] = r.Describe()
	}
	return "changing " + strings.Join(changes, " and ") + " requires: " + strings.Join(missing, "; ")
}

// Describe says in plain words what a requirement asks for.
func (r Requirement) Describe() string {
	switch r {
	case SourceDisabled:
		return "the source must be disabled"
	case CurrentNodeEmpty:
		return "the current node must have no customers"
	case NewNodeEmpty:
		return "the new node must have no customers"
	case UserDBEmpty:
		return "the userdb must have no subscribers"
	}
	return string(r)
}

// Allow decides a change with the facts looked up for its requirements. It
// returns nil, or an *Unmet naming every requirement that does not hold.
func Allow(changes []Change, facts Facts) error {
	var missing []Requirement
	for _, r := range Requirements(changes) {
		if !facts.holds(r) {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &Unmet{Changes: changes, Missing: missing}
}
