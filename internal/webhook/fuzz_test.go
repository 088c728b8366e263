package webhook

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzHandle throws arbitrary bodies and headers at the handler: it must
// never panic, never answer a client's mistake with a 5xx (its dependencies
// here never fail), always answer JSON, and enqueue or remember nothing for
// a delivery it refused.
//
//	go test -run '^$' -fuzz FuzzHandle -fuzztime 30s ./internal/webhook/
func FuzzHandle(f *testing.F) {
	f.Add([]byte(testBody(testEventID)), true, "", "", "", false)
	f.Add([]byte(testBody(testEventID)), false, "", testSecret, "", false)
	f.Add([]byte(testBody(testEventID)), true, "", "", "", true)
	f.Add([]byte(`{"customerId":42}`), true, "", "", "", false)
	f.Add([]byte(`{"customerId":"c","eventDate":"2026-13-40T99:00:00+0000"}`), true, "", "", "", false)
	f.Add([]byte(`{"customerId":"c"}{"customerId":"d"}`), true, "", "", "17", false)
	f.Add([]byte(`[]`), false, "sha256=zz", "", "999999999", false)
	f.Add([]byte(`<xml/>`), false, "", "whsec_guess", "-1", false)
	f.Fuzz(func(t *testing.T, body []byte, sign bool, signature, token, contentLength string, encode bool) {
		sources, dedupe, sender := memoryDeps()
		h := New(Config{Sources: sources, Dedupe: dedupe, Jobs: sender})
		req := request(testSourceID, string(body))
		req.Headers["content-length"] = contentLength
		if sign {
			signature = Sign(testSecret, body)
		}
		if signature != "" {
			req.Headers["x-hubsend-signature"] = signature
		}
		if token != "" {
			req.QueryStringParameters = map[string]string{TokenParameter: token}
		}
		if encode {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		resp, err := h.Handle(t.Context(), req)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("answer %d %s to a client's request", resp.StatusCode, resp.Body)
		}
		if !json.Valid([]byte(resp.Body)) {
			t.Fatalf("answer is not JSON: %q", resp.Body)
		}
		sent := len(sender.sent())
		if resp.StatusCode != http.StatusAccepted {
			if sent != 0 || dedupe.len() != 0 {
				t.Fatalf("refused with %d but %d jobs queued and %d events remembered", resp.StatusCode, sent, dedupe.len())
			}
			return
		}
		if sent != 1 || sender.sent()[0].CustomerID == "" {
			t.Fatalf("accepted with jobs %+v", sender.sent())
		}
	})
}
