package webhook

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
)

const testWebform = "230004001355"

// emailBook is a SubscriberFinder over a fixed map.
type emailBook map[string][]int64

func (b emailBook) SubscriberIDs(_ context.Context, _ source.Source, email string) ([]int64, error) {
	return b[email], nil
}

func sendFixture(t *testing.T, finder SubscriberFinder) (*Handler, *memorySender) {
	t.Helper()
	sources, dedupe, sender := memoryDeps()
	src := sources.sources[testSourceID]
	src.Properties.Subscriptions = []source.Subscription{{HubSubscriptionID: "newsletter", SendSubscriptionID: 11, WebformCode: testWebform}}
	sources.sources[testSourceID] = src
	return New(Config{Sources: sources, Dedupe: dedupe, Jobs: sender, Subscribers: finder}), sender
}

func sendRequest(body string) eventsRequest {
	req := signed(testSourceID, testSecret, body)
	req.RouteKey, req.RequestContext.RouteKey = SendRouteKey, SendRouteKey
	req.RawPath = SendPathPrefix + testSourceID
	req.RequestContext.HTTP.Path = req.RawPath
	return req
}

func subscriberIDs(js []jobs.Job) []int64 {
	var out []int64
	for _, j := range js {
		if j.Reason != jobs.FromSendWebhook || j.CustomerID != "" {
			return nil
		}
		out = append(out, j.SubscriberID)
	}
	return out
}

func TestContactsendEvents(t *testing.T) {
	t.Parallel()
	export, err := os.ReadFile(filepath.Join("testdata", "event_export.xml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   string
		finder SubscriberFinder
		status int
		want   []int64
	}{
		{"JSON unsubscribe by id", `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":42,"eventDate":"2026-11-27T09:31:11Z","eventId":"e1"}`, nil, http.StatusAccepted, []int64{42}},
		{"JSON id as a string", `{"eventCode":"subscribe","webformCode":"230004001355","subscriberId":"4294967299","eventId":"e1"}`, nil, http.StatusAccepted, []int64{4294967299}},
		{"JSON array, one subscriber twice", `[{"eventCode":"subscribe","webformCode":"230004001355","subscriberId":7,"eventId":"a"},{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":7,"eventId":"b"}]`, nil, http.StatusAccepted, []int64{7}},
		{"JSON by email", `{"eventCode":"unsubscribe","webformCode":"230004001355","email":"anna@example.com","eventId":"e1"}`, emailBook{"anna@example.com": {5}}, http.StatusAccepted, []int64{5}},
		{"email without a finder", `{"eventCode":"unsubscribe","webformCode":"230004001355","email":"anna@example.com"}`, nil, http.StatusUnprocessableEntity, nil},
		{"XML export: only the mapped opt-out", string(export), emailBook{"anna@example.com": {5}, "bruno@example.com": {6}}, http.StatusAccepted, []int64{5}},
		{"unmapped web form is not touched", `{"eventCode":"unsubscribe","webformCode":"999","subscriberId":42}`, nil, http.StatusAccepted, nil},
		{"other event codes are ignored", `{"eventCode":"click","webformCode":"230004001355","subscriberId":42}`, nil, http.StatusAccepted, nil},
		{"no web form code", `{"eventCode":"unsubscribe","subscriberId":42}`, nil, http.StatusUnprocessableEntity, nil},
		{"no subscriber", `{"eventCode":"unsubscribe","webformCode":"230004001355"}`, nil, http.StatusUnprocessableEntity, nil},
		{"bad subscriber id", `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":-3}`, nil, http.StatusUnprocessableEntity, nil},
		{"malformed XML", `<DATASET><RECORDELEMENT>`, nil, http.StatusBadRequest, nil},
		{"empty export", `<DATASET></DATASET>`, nil, http.StatusUnprocessableEntity, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, sender := sendFixture(t, tt.finder)
			resp := handle(t, h, sendRequest(tt.body))
			if resp.StatusCode != tt.status {
				t.Fatalf("answer %d %s, want %d", resp.StatusCode, resp.Body, tt.status)
			}
			if got := subscriberIDs(sender.sent()); !slices.Equal(got, tt.want) {
				t.Fatalf("jobs for subscribers %v, want %v (%+v)", got, tt.want, sender.sent())
			}
		})
	}
}

func TestContactsendEventsAreDeduplicatedAndAuthenticated(t *testing.T) {
	t.Parallel()
	h, sender := sendFixture(t, nil)
	body := `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":42,"eventId":"e1"}`
	wantStatus(t, handle(t, h, sendRequest(body)), http.StatusAccepted, accepted)
	wantStatus(t, handle(t, h, sendRequest(body)), http.StatusAccepted, duplicate)
	if n := len(sender.sent()); n != 1 {
		t.Fatalf("%d jobs for a redelivered event, want 1", n)
	}
	unsigned := sendRequest(body)
	delete(unsigned.Headers, "x-hubsend-signature")
	wantStatus(t, handle(t, h, unsigned), http.StatusUnauthorized, "")
	forged := sendRequest(body)
	forged.Headers["x-hubsend-signature"] = Sign("not-the-secret", []byte(body))
	wantStatus(t, handle(t, h, forged), http.StatusUnauthorized, "")
	big := sendRequest(body)
	big.Body = string(make([]byte, MaxBodyBytes+1))
	wantStatus(t, handle(t, h, big), http.StatusRequestEntityTooLarge, "")
}

func TestContactsendCatchAllRoute(t *testing.T) {
	t.Parallel()
	h, sender := sendFixture(t, nil)
	req := sendRequest(`{"eventCode":"o","webformCode":"230004001355","subscriberId":9}`)
	req.RouteKey, req.PathParameters = "$default", nil
	wantStatus(t, handle(t, h, req), http.StatusAccepted, accepted)
	if got := subscriberIDs(sender.sent()); !slices.Equal(got, []int64{9}) {
		t.Fatalf("jobs %v", got)
	}
}

// TestContactsendEventTimeReachesTheJob checks that each job carries the
// latest own date of its subscriber's events, from both forms, and that a
// date that cannot be read is refused by name.
func TestContactsendEventTimeReachesTheJob(t *testing.T) {
	t.Parallel()
	export, err := os.ReadFile(filepath.Join("testdata", "event_export.xml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   string
		finder SubscriberFinder
		status int
		want   map[int64]time.Time
	}{
		{"JSON RFC 3339", `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":42,"eventDate":"2026-11-27T10:31:11+01:00","eventId":"e1"}`, nil, http.StatusAccepted,
			map[int64]time.Time{42: time.Date(2026, 11, 27, 9, 31, 11, 0, time.UTC)}},
		{"JSON Contacthub form", `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":42,"eventDate":"2026-11-27T09:31:11.482+0000"}`, nil, http.StatusAccepted,
			map[int64]time.Time{42: time.Date(2026, 11, 27, 9, 31, 11, 482e6, time.UTC)}},
		{"JSON array: the latest date of a subscriber", `[{"eventCode":"subscribe","webformCode":"230004001355","subscriberId":7,"eventDate":"2026-11-27T09:40:00Z","eventId":"a"},{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":7,"eventDate":"2026-11-27T09:30:00Z","eventId":"b"}]`, nil, http.StatusAccepted,
			map[int64]time.Time{7: time.Date(2026, 11, 27, 9, 40, 0, 0, time.UTC)}},
		{"JSON without a date", `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":42,"eventId":"e1"}`, nil, http.StatusAccepted,
			map[int64]time.Time{42: {}}},
		{"XML export, read as UTC", string(export), emailBook{"anna@example.com": {5}, "bruno@example.com": {6}}, http.StatusAccepted,
			map[int64]time.Time{5: time.Date(2026, 11, 27, 9, 31, 11, 0, time.UTC)}},
		{"unreadable date", `{"eventCode":"unsubscribe","webformCode":"230004001355","subscriberId":42,"eventDate":"yesterday"}`, nil, http.StatusUnprocessableEntity, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, sender := sendFixture(t, tt.finder)
			resp := handle(t, h, sendRequest(tt.body))
			if resp.StatusCode != tt.status {
				t.Fatalf("answer %d %s, want %d", resp.StatusCode, resp.Body, tt.status)
			}
			if tt.status != http.StatusAccepted {
				if !strings.Contains(resp.Body, "eventDate") {
					t.Fatalf("the refusal does not name eventDate: %s", resp.Body)
				}
				return
			}
			got := map[int64]time.Time{}
			for _, j := range sender.sent() {
				got[j.SubscriberID] = j.EventAt
			}
			if len(got) != len(tt.want) {
				t.Fatalf("jobs %+v, want event times %v", sender.sent(), tt.want)
			}
			for id, at := range tt.want {
				if !got[id].Equal(at) {
					t.Errorf("subscriber %d: job event time %v, want %v", id, got[id], at)
				}
			}
		})
	}
}

// TestEventForAnUnknownEmailIsSaidNotDropped: an unsubscribe for an email
// no subscriber of the userdb holds cannot be applied; the answer says so
// (never "duplicate", which would hide it), and the event is not marked
// done: sent again once the userdb holds the address (its search may lag
// an add), it is applied.
func TestEventForAnUnknownEmailIsSaidNotDropped(t *testing.T) {
	t.Parallel()
	book := emailBook{"anna@example.com": {5}}
	h, sender := sendFixture(t, book)
	body := `{"eventCode":"unsubscribe","webformCode":"230004001355","email":"late@example.com","eventId":"e9"}`
	for range 2 {
		resp := handle(t, h, sendRequest(body))
		if resp.StatusCode != http.StatusAccepted || !strings.Contains(resp.Body, `"status":"no-subscriber"`) {
			t.Fatalf("answer %d %s, want 202 no-subscriber", resp.StatusCode, resp.Body)
		}
	}
	if n := len(sender.sent()); n != 0 {
		t.Fatalf("%d jobs for an email nobody holds", n)
	}
	book["late@example.com"] = []int64{8}
	wantStatus(t, handle(t, h, sendRequest(body)), http.StatusAccepted, accepted)
	if got := subscriberIDs(sender.sent()); !slices.Equal(got, []int64{8}) {
		t.Fatalf("jobs for subscribers %v after the address arrived, want [8]", got)
	}
	wantStatus(t, handle(t, h, sendRequest(body)), http.StatusAccepted, duplicate)
}

// recordingFinder keeps the query of a lookup by email.
type recordingFinder struct{ queries []contactsend.Query }

func (r *recordingFinder) FindSubscribersBy(_ context.Context, _ contactsend.Credentials, _ int64, q contactsend.Query) (contactsend.SubscriberPage, error) {
	r.queries = append(r.queries, q)
	return contactsend.SubscriberPage{}, nil
}

// TestLookupByEmailKeepsTheSpellingGiven: whether a userdb compares emails
// case-sensitively is not documented, so the lookup asks for the address
// as the event spells it, and in lower case, never only a changed spelling.
func TestLookupByEmailKeepsTheSpellingGiven(t *testing.T) {
	t.Parallel()
	src := source.Source{Properties: source.Properties{UserDBID: 3, FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}}}}
	for _, tt := range []struct {
		email string
		want  []string
	}{
		{"anna@example.com", []string{"anna@example.com"}},
		{"Mario.Rossi@Example.com", []string{"Mario.Rossi@Example.com", "mario.rossi@example.com"}},
	} {
		t.Run(tt.email, func(t *testing.T) {
			client := &recordingFinder{}
			if _, err := (ContactsendFinder{Client: client}).SubscriberIDs(t.Context(), src, tt.email); err != nil {
				t.Fatal(err)
			}
			if len(client.queries) != 1 || len(client.queries[0].Where) != 1 {
				t.Fatalf("queries %+v, want one with one filter", client.queries)
			}
			f := client.queries[0].Where[0]
			var got []string
			if f.Mode == contactsend.Equals {
				got = append(got, f.Value.String())
			}
			for _, v := range f.Values {
				got = append(got, v.String())
			}
			if f.Attribute != "EMAIL" || !slices.Equal(got, tt.want) {
				t.Fatalf("filter %+v asks for %v, want %v on EMAIL", f, got, tt.want)
			}
		})
	}
}
