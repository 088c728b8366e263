package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkHandle measures the handler in-process, request in and job handed
// to the sender, with in-memory dependencies: what the intake itself costs,
// excluding the network and AWS. It logs as in production, to io.Discard.
//
//	go test -run '^$' -bench BenchmarkHandle -benchmem ./internal/webhook/
func BenchmarkHandle(b *testing.B) {
	sources, _, _ := memoryDeps()
	h := New(Config{
		Sources: sources,
		Dedupe:  forgetfulDedupe{},
		Jobs:    discardSender{},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	// Distinct events, signed ahead so the sender's work is not measured.
	const ring = 256
	signedReqs := make([]eventsRequest, ring)
	tokenReqs := make([]eventsRequest, ring)
	for i := range ring {
		body := testBody("event-" + strconv.Itoa(i))
		signedReqs[i] = signed(testSourceID, testSecret, body)
		tokenReqs[i] = withToken(testSourceID, testSecret, body)
	}
	for _, bm := range []struct {
		name string
		reqs []eventsRequest
	}{{"signature", signedReqs}, {"token", tokenReqs}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := b.Context()
			i := 0
			for b.Loop() {
				resp, _ := h.Handle(ctx, bm.reqs[i%ring])
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
				}
				i++
			}
		})
	}
}
