package webhook

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/source"
)

// TestContactsendFinderOverTheWire: the lookup by email (an IN of two
// spellings for a mixed-case address), with the client the function
// deploys, works against the simulator: it finds a subscriber stored with
// capitals from an event that spells the address either way, and nobody
// for another. (The simulator compares text case-insensitively, so which
// spelling matters is TestLookupByEmailKeepsTheSpellingGiven's to show.)
func TestContactsendFinderOverTheWire(t *testing.T) {
	t.Parallel()
	sim := sendsim.New(sendsim.Options{Seed: sendsim.Seed{
		Accounts: []sendsim.Account{{APIKey: "api", UserKey: "user", UserDBs: []int64{3}}},
		UserDBs:  []sendsim.UserDB{{ID: 3, Name: "news", Fields: []sendsim.Field{{Name: "EMAIL", Type: "STRING", EmailField: true}}}},
	}})
	server := httptest.NewServer(sim)
	t.Cleanup(server.Close)
	id, err := sim.AddSubscriber(3, map[string]string{"EMAIL": "Mario.Rossi@Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := contactsend.New(contactsend.Config{Endpoint: server.URL + sendsim.ServicePath})
	if err != nil {
		t.Fatal(err)
	}
	src := source.Source{Properties: source.Properties{UserKey: "user", APIKey: "api", UserDBID: 3,
		FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}}}}
	finder := ContactsendFinder{Client: client}
	for email, want := range map[string][]int64{
		"Mario.Rossi@Example.com": {id},
		"mario.rossi@example.com": {id},
		"luca@example.com":        {},
	} {
		got, err := finder.SubscriberIDs(t.Context(), src, email)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s finds %v, want %v", email, got, want)
		}
	}
}
