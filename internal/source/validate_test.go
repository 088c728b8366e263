package source

import (
	"slices"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/mapping"
)

func validSource() Source {
	return Source{
		Name:  "Newsletter Italia",
		Nodes: []string{"n1"},
		Properties: Properties{
			UserKey:  "user-key-123456",
			APIKey:   "api-key-abcdef",
			UserDBID: 6,
			FieldMapping: []FieldMapping{
				{HubField: "base.contacts.email", SendField: "EMAIL", Match: true},
				{HubField: "base.firstName", SendField: "NAME"},
			},
			Subscriptions: []Subscription{{HubSubscriptionID: "newsletter", SendSubscriptionID: 1, WebformCode: "wf1"}},
		},
	}
}

func paths(p Problems) []string {
	out := make([]string, len(p))
	for i, pr := range p {
		out[i] = pr.Path
	}
	return out
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Source)
		want   []string
	}{
		{"valid", func(*Source) {}, nil},
		{"no name", func(s *Source) { s.Name = "  " }, []string{"name"}},
		{"control character in name", func(s *Source) { s.Name = "a\x00b" }, []string{"name"}},
		{"long description", func(s *Source) { s.Description = strings.Repeat("é", MaxDescriptionLength+1) }, []string{"description"}},
		{"no node", func(s *Source) { s.Nodes = nil }, []string{"nodes"}},
		{"two nodes", func(s *Source) { s.Nodes = []string{"a", "b"} }, []string{"nodes"}},
		{"missing keys and userdb", func(s *Source) { s.Properties.APIKey, s.Properties.UserKey, s.Properties.UserDBID = "", "", 0 },
			[]string{"properties.userKey", "properties.apiKey", "properties.userDbId"}},
		{"no mapping", func(s *Source) { s.Properties.FieldMapping = nil }, []string{"properties.fieldMapping"}},
		{"no match field", func(s *Source) { s.Properties.FieldMapping[0].Match = false }, []string{"properties.fieldMapping"}},
		{"Contactsend field twice", func(s *Source) { s.Properties.FieldMapping[1].SendField = "EMAIL" }, []string{"properties.fieldMapping[1].sendField"}},
		{"registration field mapped", func(s *Source) { s.Properties.FieldMapping[1].SendField = "__cls1" }, []string{"properties.fieldMapping[1].sendField"}},
		{"incomplete subscription row", func(s *Source) {
			s.Properties.Subscriptions = append(s.Properties.Subscriptions, Subscription{})
		}, []string{"properties.subscriptions[1].hubSubscriptionId", "properties.subscriptions[1].sendSubscriptionId", "properties.subscriptions[1].webformCode"}},
		{"control character in a subscription id", func(s *Source) { s.Properties.Subscriptions[0].HubSubscriptionID = "news\x1bletter" },
			[]string{"properties.subscriptions[0].hubSubscriptionId"}},
		{"bidi override in name", func(s *Source) { s.Name = "Newsletter \u202eailatI" }, []string{"name"}},
		{"bidi isolate in description", func(s *Source) { s.Description = "a\u2067b" }, []string{"description"}},
		{"line separator in a node id", func(s *Source) { s.Nodes = []string{"n\u20281"} }, []string{"nodes[0]"}},
		{"apiKey with a trailing space", func(s *Source) { s.Properties.APIKey += " " }, []string{"properties.apiKey"}},
		{"userKey with a leading tab", func(s *Source) { s.Properties.UserKey = "\t" + s.Properties.UserKey }, []string{"properties.userKey"}},
		{"apiKey with a trailing newline", func(s *Source) { s.Properties.APIKey += "\n" }, []string{"properties.apiKey"}},
		{"invalid UTF-8 in a Contactsend field", func(s *Source) { s.Properties.FieldMapping[1].SendField = "NA\xffME" }, []string{"properties.fieldMapping[1].sendField"}},
		{"spaces around a Contacthub field", func(s *Source) { s.Properties.FieldMapping[1].HubField = " base.firstName" }, []string{"properties.fieldMapping[1].hubField"}},
		{"userdb id beyond Contactsend's int", func(s *Source) { s.Properties.UserDBID = 1 << 31 }, []string{"properties.userDbId"}},
		{"subscription system id beyond Contactsend's int", func(s *Source) { s.Properties.Subscriptions[0].SendSubscriptionID = 1 << 40 },
			[]string{"properties.subscriptions[0].sendSubscriptionId"}},
		{"node id that climbs out of its path", func(s *Source) { s.Nodes = []string{".."} }, []string{"nodes[0]"}},
		{"credential password mapped", func(s *Source) { s.Properties.FieldMapping[1].HubField = "base.credential.password" }, []string{"properties.fieldMapping[1].hubField"}},
		{"credential username mapped", func(s *Source) { s.Properties.FieldMapping[1].HubField = "base.credential.username" }, []string{"properties.fieldMapping[1].hubField"}},
		{"unsubscribe on delete", func(s *Source) { s.Properties.OnCustomerDeleted = UnsubscribeSubscriber }, nil},
		{"unknown delete policy", func(s *Source) { s.Properties.OnCustomerDeleted = "erase" }, []string{"properties.onCustomerDeleted"}},
		{"skip unmatchable customers", func(s *Source) { s.Properties.OnUnmatchable = SkipUnmatchable }, nil},
		{"unknown unmatchable policy", func(s *Source) { s.Properties.OnUnmatchable = "ignore" }, []string{"properties.onUnmatchable"}},
		{"repeated subscription row", func(s *Source) {
			s.Properties.Subscriptions = append(s.Properties.Subscriptions, s.Properties.Subscriptions[0])
		}, []string{"properties.subscriptions[1].hubSubscriptionId", "properties.subscriptions[1].sendSubscriptionId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := clone(validSource())
			tt.modify(&s)
			if got := paths(Check(s)); !slices.Equal(got, tt.want) {
				t.Errorf("problems at %v, want %v (%v)", got, tt.want, Check(s))
			}
		})
	}
}

func TestPolicyDefaults(t *testing.T) {
	var p Properties
	if got := p.DeletePolicy(); got != UnsubscribeSubscriber {
		t.Errorf("default delete policy = %q, want %q", got, UnsubscribeSubscriber)
	}
	if got := p.UnmatchablePolicy(); got != FailUnmatchable {
		t.Errorf("default unmatchable policy = %q, want %q", got, FailUnmatchable)
	}
}

func TestCheckAgainst(t *testing.T) {
	catalog := Catalog{
		NodeFound: true,
		NodeKind:  EntryNode,
		HubFields: []mapping.HubField{
			{Path: "base.contacts.email", Type: mapping.HubEmail},
			{Path: "base.firstName", Type: mapping.HubString},
			{Path: "base.dob", Type: mapping.HubDate},
		},
		SendFields: []mapping.SendField{
			{Name: "EMAIL", Type: mapping.SendString, EmailField: true},
			{Name: "NAME", Type: mapping.SendString},
			{Name: "PRIVACY", Type: mapping.SendFlag},
		},
		Subscriptions: []SendSubscriptionSystem{{ID: 1, Name: "Newsletter", RegistrationField: "__cls1", WebformCode: "wf1"}},
	}
	tests := []struct {
		name    string
		modify  func(*Source, *Catalog)
		want    []string
		message string
	}{
		{"valid", func(*Source, *Catalog) {}, nil, ""},
		{"node missing", func(_ *Source, c *Catalog) { c.NodeFound = false }, []string{"nodes[0]"}, "node n1 not found"},
		{"unknown hub field", func(s *Source, _ *Catalog) { s.Properties.FieldMapping[1].HubField = "base.nope" }, []string{"properties.fieldMapping[1].hubField"}, "does not exist"},
		{"unknown send field", func(s *Source, _ *Catalog) { s.Properties.FieldMapping[1].SendField = "NOPE" }, []string{"properties.fieldMapping[1].sendField"}, "does not exist in userdb 6"},
		{"incompatible types", func(s *Source, _ *Catalog) {
			s.Properties.FieldMapping[1] = FieldMapping{HubField: "base.dob", SendField: "PRIVACY"}
		},
			[]string{"properties.fieldMapping[1].sendField"}, "is FLAG and cannot hold Contacthub date values"},
		{"aggregate node with subscriptions", func(_ *Source, c *Catalog) { c.NodeKind = AggregateNode }, []string{"properties.subscriptions"}, "aggregate"},
		{"aggregate node without subscriptions", func(s *Source, c *Catalog) { c.NodeKind = AggregateNode; s.Properties.Subscriptions = nil }, nil, ""},
		{"unknown subscription system", func(s *Source, _ *Catalog) { s.Properties.Subscriptions[0].SendSubscriptionID = 7 }, []string{"properties.subscriptions[0].sendSubscriptionId"}, "does not exist"},
		{"webform of another system", func(s *Source, _ *Catalog) { s.Properties.Subscriptions[0].WebformCode = "wf9" }, []string{"properties.subscriptions[0].webformCode"}, "does not belong"},
		{"registration column not named __clsN mapped as data", func(s *Source, c *Catalog) {
			c.Subscriptions = append(slices.Clone(c.Subscriptions), SendSubscriptionSystem{ID: 2, Name: "Privacy", RegistrationField: "NAME", WebformCode: "wf2"})
		}, []string{"properties.fieldMapping[1].sendField"}, "holds a subscription status"},
		{"userdb not looked up", func(s *Source, c *Catalog) {
			c.SendFields, c.Subscriptions = nil, nil
			s.Properties.FieldMapping[1].SendField = "NOPE"
		}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := clone(validSource()), catalog
			tt.modify(&s, &c)
			got := CheckAgainst(s, c)
			if !slices.Equal(paths(got), tt.want) {
				t.Fatalf("problems at %v, want %v (%v)", paths(got), tt.want, got)
			}
			if tt.message != "" && !strings.Contains(got[0].Message, tt.message) {
				t.Errorf("message %q does not say %q", got[0].Message, tt.message)
			}
		})
	}
}
