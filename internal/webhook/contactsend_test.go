package webhook

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
