package webhook

import (
	"net/http"
	"testing"
)

// Gateways other than API Gateway (the local one, a proxy) may keep header
// case or fill only the raw query string.
func TestAuthenticationAcrossGatewayShapes(t *testing.T) {
	t.Parallel()
	body := testBody(testEventID)
	tests := []struct {
		name string
		req  eventsRequest
		want int
	}{
		{"header in original case", func() eventsRequest {
			r := request(testSourceID, body)
			r.Headers[SignatureHeader] = Sign(testSecret, []byte(body))
			return r
		}(), http.StatusAccepted},
		{"upper-case hex digits", func() eventsRequest {
			r := request(testSourceID, body)
			r.Headers["x-hubsend-signature"] = "sha256=" + upper(Sign(testSecret, []byte(body))[len("sha256="):])
			return r
		}(), http.StatusAccepted},
		{"token only in the raw query", func() eventsRequest {
			r := request(testSourceID, body)
			r.RawQueryString = "utm=x&token=" + testSecret
			return r
		}(), http.StatusAccepted},
		{"a bad signature is not rescued by a good token", func() eventsRequest {
			r := withToken(testSourceID, testSecret, body)
			r.Headers["x-hubsend-signature"] = Sign("whsec_wrong", []byte(body))
			return r
		}(), http.StatusUnauthorized},
		{"empty token", withToken(testSourceID, "", body), http.StatusUnauthorized},
		{"token with the secret's prefix only", withToken(testSourceID, testSecret[:10], body), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sources, dedupe, sender := memoryDeps()
			h := New(Config{Sources: sources, Dedupe: dedupe, Jobs: sender})
			resp, _ := h.Handle(t.Context(), tt.req)
			if resp.StatusCode != tt.want {
				t.Errorf("answer %d %s, want %d", resp.StatusCode, resp.Body, tt.want)
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
