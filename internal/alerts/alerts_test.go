package alerts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/alerts"
	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/testkit"
)

// received is one webhook delivery.
type received struct {
	signature string
	body      []byte
}

// receiver is an HTTPS endpoint that keeps what it receives.
type receiver struct {
	mu  sync.Mutex
	got []received
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{signature: req.Header.Get(alerts.SignatureHeader), body: body})
	r.mu.Unlock()
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// topic keeps what is published to the SNS topic.
type topic struct {
	mu       sync.Mutex
	messages []string
}

func (t *topic) Publish(_ context.Context, _, message string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.messages = append(t.messages, message)
	return nil
}

const webhookSecret = "alert-secret-0123456789"

// TestThresholdCrossedAndLeftSendsTwoSignedAlerts drives a source over its
// failed-records threshold and back under it, ticking many times on each
// side (and checking twice at once at each transition): exactly two alerts
// go to each destination, firing then resolved, and each webhook delivery
// carries a valid signature.
func TestThresholdCrossedAndLeftSendsTwoSignedAlerts(t *testing.T) {
	ctx := context.Background()
	table := testkit.Table(t)
	c := testkit.NewClock(time.Date(2026, 11, 30, 10, 5, 0, 0, time.UTC))
	keys, err := secret.NewLocalKeys(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	store := alerts.NewStore(testkit.Emulators(t).DynamoDB(), table, secret.NewBox(keys))
	led := ledger.New(testkit.Emulators(t).DynamoDB(), table, ledger.WithClock(c.Now))
	rcv := &receiver{}
	server := httptest.NewTLSServer(rcv)
	t.Cleanup(server.Close)
	sns := &topic{}
	monitor := alerts.NewMonitor(store, sns, server.Client(), nil)
	cps := checkpoint.New(testkit.Emulators(t).DynamoDB(), table)
	checker := alerts.Checker{
		Monitor: monitor,
		Now:     c.Now,
		FailedSince: func(ctx context.Context, sourceID string, since time.Time) (int64, error) {
			st, err := led.Stats(ctx, sourceID, since)
			return st.Failed, err
		},
		Backfill: func(ctx context.Context, sourceID string) (bool, time.Time, error) {
			b, found, err := cps.Backfill(ctx, sourceID)
			return found && b.Status == checkpoint.BackfillRunning, b.UpdatedAt, err
		},
	}

	if err := store.PutSettings(ctx, "src1", alerts.Settings{FailedPerHour: 5, SNS: true, WebhookURL: server.URL + "/hook", WebhookSecret: webhookSecret}); err != nil {
		t.Fatal(err)
	}
	tick := func(times int) {
		t.Helper()
		for range times {
			var wg sync.WaitGroup
			for range 2 { // two scheduler instances at once
				wg.Go(func() {
					if err := checker.CheckSource(ctx, "src1", "Newsletter", 0); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			c.Advance(time.Minute)
		}
	}
	tick(3) // healthy: nothing
	if got := len(rcv.all()); got != 0 {
		t.Fatalf("%d alerts for a healthy source", got)
	}
	for range 3 {
		if err := led.AddStats(ctx, "src1", ledger.Batch{Counts: ledger.Counts{Failed: 2}, ProcessedAt: c.Now()}); err != nil {
			t.Fatal(err)
		}
		tick(2) // 2, 4 failed: under; then 6: over, and stays over
	}
	tick(5)
	c.Advance(2 * time.Hour) // the failures age out of the last hour
	tick(5)

	got := rcv.all()
	if len(got) != 2 {
		t.Fatalf("%d webhook deliveries, want 2 (firing, resolved)", len(got))
	}
	for i, want := range []string{alerts.Firing, alerts.Resolved} {
		var n alerts.Notification
		if err := json.Unmarshal(got[i].body, &n); err != nil {
			t.Fatal(err)
		}
		if n.State != want || n.SourceID != "src1" {
			t.Fatalf("delivery %d: %+v, want %s", i, n, want)
		}
		if want == alerts.Firing && (len(n.Conditions) != 1 || n.Conditions[0].Name != "failed-per-hour" || n.Conditions[0].Value != 6) {
			t.Fatalf("firing alert conditions %+v", n.Conditions)
		}
		if sig := alerts.Sign(webhookSecret, got[i].body, n.At); got[i].signature != sig {
			t.Fatalf("delivery %d signature %q, want %q", i, got[i].signature, sig)
		}
		if alerts.Sign("another secret", got[i].body, n.At) == got[i].signature {
			t.Fatal("the signature does not depend on the secret")
		}
	}
	if len(sns.messages) != 2 || !strings.Contains(sns.messages[0], `"firing"`) || !strings.Contains(sns.messages[1], `"resolved"`) {
		t.Fatalf("SNS messages %v, want firing then resolved", sns.messages)
	}
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	s := alerts.Settings{FailedPerHour: 10, FeedLagSeconds: 300, BackfillStalledMinutes: 30}
	for _, tc := range []struct {
		name string
		o    alerts.Observation
		want []string
	}{
		{"healthy", alerts.Observation{Now: now, FailedLastHour: 9, FeedLagSeconds: 299}, nil},
		{"failed records", alerts.Observation{Now: now, FailedLastHour: 10}, []string{"failed-per-hour"}},
		{"feed lag", alerts.Observation{Now: now, FeedLagSeconds: 300}, []string{"feed-lag"}},
		{"backfill stalled", alerts.Observation{Now: now, BackfillRunning: true, BackfillUpdatedAt: now.Add(-31 * time.Minute)}, []string{"backfill-stalled"}},
		{"backfill moving", alerts.Observation{Now: now, BackfillRunning: true, BackfillUpdatedAt: now.Add(-time.Minute)}, nil},
		{"backfill done long ago", alerts.Observation{Now: now, BackfillUpdatedAt: now.Add(-time.Hour)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range alerts.Evaluate(s, tc.o) {
				got = append(got, c.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("conditions %v, want %v", got, tc.want)
			}
		})
	}
	if got := alerts.Evaluate(alerts.Settings{}, alerts.Observation{Now: now, FailedLastHour: 1e6, FeedLagSeconds: 1e6}); len(got) != 0 {
		t.Fatalf("zero thresholds fired: %v", got)
	}
}

// TestWebhookFollowsNoRedirect: a webhook answering with a redirect is a
// failed delivery, and the place it points to is never called.
func TestWebhookFollowsNoRedirect(t *testing.T) {
	var hits atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(elsewhere.Close)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	monitor := alerts.NewMonitor(nil, nil, nil, nil)
	err := monitor.Deliver(context.Background(), alerts.Settings{WebhookURL: redirect.URL, WebhookSecret: webhookSecret},
		alerts.Notification{SourceID: "src1", State: alerts.Test, At: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Fatalf("delivery to a redirect: %v, want the 307 as an error", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect's target was called %d times", n)
	}
}
