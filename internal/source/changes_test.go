package source

import (
	"errors"
	"slices"
	"testing"
)

// TestModificationTableRows pins every row of the seed's table, so a change to
// the data is a deliberate change to the product's rules.
func TestModificationTableRows(t *testing.T) {
	tests := []struct {
		row     string
		changes []Change
		want    []Requirement
	}{
		{"nodo", []Change{ChangeNode}, []Requirement{SourceDisabled, CurrentNodeEmpty}},
		{"apikey", []Change{ChangeAPIKey}, []Requirement{SourceDisabled, CurrentNodeEmpty}},
		{"nodo e apikey", []Change{ChangeNode, ChangeAPIKey}, []Requirement{SourceDisabled, CurrentNodeEmpty}},
		{"userdbID", []Change{ChangeUserDB}, []Requirement{SourceDisabled, CurrentNodeEmpty, NewNodeEmpty}},
		{"nodo e userdbID", []Change{ChangeNode, ChangeUserDB}, []Requirement{SourceDisabled, CurrentNodeEmpty, NewNodeEmpty}},
		{"subscription", []Change{ChangeSubscriptions}, []Requirement{SourceDisabled}},
		{"mappatura", []Change{ChangeFieldMapping}, []Requirement{SourceDisabled}},
		{"name, description, userKey, enable", nil, nil},
		{"apikey and userdbID (not in the table)", []Change{ChangeAPIKey, ChangeUserDB}, []Requirement{SourceDisabled, CurrentNodeEmpty, NewNodeEmpty}},
	}
	for _, tt := range tests {
		t.Run(tt.row, func(t *testing.T) {
			if got := Requirements(tt.changes); !slices.Equal(got, tt.want) {
				t.Errorf("Requirements(%v) = %v, want %v", tt.changes, got, tt.want)
			}
		})
	}
	if n := len(modificationTable); n != 7 {
		t.Errorf("table has %d rows, the seed has 7", n)
	}
}

func TestAllowNamesEveryUnmetRequirement(t *testing.T) {
	err := Allow([]Change{ChangeNode, ChangeUserDB}, Facts{CurrentNodeEmpty: true})
	var unmet *Unmet
	if !errors.As(err, &unmet) {
		t.Fatalf("Allow = %v, want *Unmet", err)
	}
	if want := []Requirement{SourceDisabled, NewNodeEmpty}; !slices.Equal(unmet.Missing, want) {
		t.Fatalf("missing = %v, want %v", unmet.Missing, want)
	}
	if msg := err.Error(); msg != "changing node and userDbId requires: the source must be disabled; the new node must have no customers" {
		t.Errorf("message = %q", msg)
	}
	if err := Allow([]Change{ChangeFieldMapping}, Facts{SourceDisabled: true}); err != nil {
		t.Errorf("mapping change on a disabled source refused: %v", err)
	}
	if err := Allow(nil, Facts{}); err != nil {
		t.Errorf("a rename on an enabled source refused: %v", err)
	}
}

func TestDiff(t *testing.T) {
	base := validSource()
	tests := []struct {
		name   string
		modify func(*Source)
		want   []Change
	}{
		{"rename", func(s *Source) { s.Name = "other"; s.Description = "x" }, nil},
		{"userKey rotation", func(s *Source) { s.Properties.UserKey = "new-user-key" }, nil},
		{"enable", func(s *Source) { s.Enabled = !s.Enabled }, nil},
		{"node", func(s *Source) { s.Nodes = []string{"n2"} }, []Change{ChangeNode}},
		{"apiKey", func(s *Source) { s.Properties.APIKey = "k2" }, []Change{ChangeAPIKey}},
		{"userdb", func(s *Source) { s.Properties.UserDBID = 9 }, []Change{ChangeUserDB}},
		{"mapping match flag", func(s *Source) { s.Properties.FieldMapping[1].Match = true }, []Change{ChangeFieldMapping}},
		{"subscription row added", func(s *Source) {
			s.Properties.Subscriptions = append(s.Properties.Subscriptions, Subscription{"promo", 2, "wf2"})
		}, []Change{ChangeSubscriptions}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			updated := clone(base)
			tt.modify(&updated)
			if got := Diff(base, updated); !slices.Equal(got, tt.want) {
				t.Errorf("Diff = %v, want %v", got, tt.want)
			}
		})
	}
}

func clone(s Source) Source {
	s.Nodes = slices.Clone(s.Nodes)
	s.Properties.FieldMapping = slices.Clone(s.Properties.FieldMapping)
	s.Properties.Subscriptions = slices.Clone(s.Properties.Subscriptions)
	return s
}
