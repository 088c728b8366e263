package webhook

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestDeliveryValuesFollowTheConfigAPIRules: a signed delivery is the
// sender's word, not a licence to name what the config API refuses. A
// customer id of ".." climbs out of Contacthub's customers collection in
// the worker's URL, control and bidirectional characters forge log lines
// and console rows, and invalid UTF-8 would be turned into U+FFFD, naming
// a customer the sender never named. Each is refused with the field that
// carries it, and nothing is queued.
func TestDeliveryValuesFollowTheConfigAPIRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
		path   string // the errors[].path the answer names, if any
	}{
		{"customerId ..", `{"customerId":".."}`, http.StatusUnprocessableEntity, "customerId"},
		{"customerId .", `{"customerId":"."}`, http.StatusUnprocessableEntity, "customerId"},
		{"customerId with NUL", `{"customerId":"c\u0000d"}`, http.StatusUnprocessableEntity, "customerId"},
		{"customerId with a line break", `{"customerId":"c\nINFO forged"}`, http.StatusUnprocessableEntity, "customerId"},
		{"customerId with a bidi override", `{"customerId":"\u202ec1"}`, http.StatusUnprocessableEntity, "customerId"},
		{"customerId over 256 bytes", `{"customerId":"` + strings.Repeat("c", 257) + `"}`, http.StatusUnprocessableEntity, "customerId"},
		{"customerId invalid UTF-8", "{\"customerId\":\"c\xff\"}", http.StatusBadRequest, ""},
		{"eventId with a control character", `{"customerId":"c1","eventId":"e\u0007"}`, http.StatusUnprocessableEntity, "eventId"},
		{"eventType with a line separator", `{"customerId":"c1","eventType":"a\u2028b"}`, http.StatusUnprocessableEntity, "eventType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sources, dedupe, sender := memoryDeps()
			h := New(Config{Sources: sources, Dedupe: dedupe, Jobs: sender})
			resp := handle(t, h, signed(testSourceID, testSecret, tt.body))
			wantStatus(t, resp, tt.status, "")
			var answer errorBody
			if err := json.Unmarshal([]byte(resp.Body), &answer); err != nil || answer.Message == "" {
				t.Fatalf("answer %q has no message", resp.Body)
			}
			if tt.path != "" && (len(answer.Errors) == 0 || answer.Errors[0].Path != tt.path) {
				t.Errorf("answer %s does not name %s", resp.Body, tt.path)
			}
			if jobs := sender.sent(); len(jobs) != 0 {
				t.Errorf("queued %v", jobs)
			}
		})
	}
}

// TestContactsendEventValuesAreChecked is the same for the Contactsend
// route, whose e-mail goes into a Contactsend search, and whose decoding
// errors must name the sender's fields, not hubsend's Go types.
func TestContactsendEventValuesAreChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
		path   string
	}{
		{"email with NUL", `{"eventCode":"unsubscribe","webformCode":"` + testWebform + `","email":"a\u0000@b.c"}`, http.StatusUnprocessableEntity, "events[0].email"},
		{"webformCode with a bidi override", `{"eventCode":"unsubscribe","webformCode":"\u202e` + testWebform + `","subscriberId":4}`, http.StatusUnprocessableEntity, "events[0].webformCode"},
		{"eventId with a line break", `{"eventCode":"unsubscribe","webformCode":"` + testWebform + `","subscriberId":4,"eventId":"a\nb"}`, http.StatusUnprocessableEntity, "events[0].eventId"},
		{"invalid UTF-8", "{\"eventCode\":\"unsubscribe\",\"webformCode\":\"" + testWebform + "\",\"email\":\"a\xff@b.c\"}", http.StatusBadRequest, ""},
		{"eventCode a number", `{"eventCode":7,"webformCode":"` + testWebform + `","subscriberId":4}`, http.StatusBadRequest, "eventCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, sender := sendFixture(t, emailBook{"a@b.c": {4}})
			resp := handle(t, h, sendRequest(tt.body))
			wantStatus(t, resp, tt.status, "")
			var answer errorBody
			if err := json.Unmarshal([]byte(resp.Body), &answer); err != nil || answer.Message == "" {
				t.Fatalf("answer %q has no message", resp.Body)
			}
			if tt.path != "" && (len(answer.Errors) == 0 || answer.Errors[0].Path != tt.path) {
				t.Errorf("answer %s does not name %s", resp.Body, tt.path)
			}
			if strings.Contains(resp.Body, "sendEvent") || strings.Contains(resp.Body, "Go ") {
				t.Errorf("answer %s names hubsend's Go types", resp.Body)
			}
			if jobs := sender.sent(); len(jobs) != 0 {
				t.Errorf("queued %v", jobs)
			}
		})
	}
}
