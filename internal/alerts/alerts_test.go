package alerts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	store := newAlertStore(t, table)
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

	if err := store.ReplaceSettings(ctx, "src1", alerts.Settings{FailedPerHour: 5, SNS: true, WebhookURL: server.URL + "/hook", WebhookSecret: webhookSecret}, 0); err != nil {
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

// flaky answers 503 to its first failures deliveries, then 200, and
// counts every delivery.
type flaky struct {
	receiver
	failures int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.receiver.ServeHTTP(w, req)
	if len(f.receiver.all()) <= f.failures {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// TestUndeliveredAlertIsRetried: an alert whose webhook is down is not
// lost with the transition that made it: later checks deliver it again,
// backing off (one, two, four minutes…), until the webhook takes it, and
// then never again; two checks at once never both deliver. One still not
// delivered a day after its transition is given up.
func TestUndeliveredAlertIsRetried(t *testing.T) {
	for _, tt := range []struct {
		name      string
		failures  int
		delivered bool
		// most bounds the deliveries attempted.
		most int
	}{
		{"webhook back after three failures", 3, true, 4},
		{"webhook down for good", 1 << 30, false, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := testkit.NewClock(time.Date(2026, 11, 30, 10, 5, 0, 0, time.UTC))
			store := newAlertStore(t, testkit.Table(t))
			hook := &flaky{failures: tt.failures}
			server := httptest.NewTLSServer(hook)
			t.Cleanup(server.Close)
			sns := &topic{}
			monitor := alerts.NewMonitor(store, sns, server.Client(), nil)
			if err := store.ReplaceSettings(ctx, "src1", alerts.Settings{FailedPerHour: 5, SNS: true, WebhookURL: server.URL + "/hook", WebhookSecret: webhookSecret}, 0); err != nil {
				t.Fatal(err)
			}
			firing := alerts.Observation{FailedLastHour: 9}
			at := map[int]time.Time{} // delivery number → clock
			for minute := 0; minute < 26*60; minute++ {
				firing.Now = c.Now()
				before := len(hook.all())
				var wg sync.WaitGroup
				for range 2 { // two scheduler instances at once
					wg.Go(func() {
						if err := monitor.Check(ctx, "src1", "Newsletter", firing); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if n := len(hook.all()); n > before+1 {
					t.Fatalf("minute %d: %d deliveries at once", minute, n-before)
				} else if n > before {
					at[n] = c.Now()
				}
				c.Advance(time.Minute)
			}
			got := hook.all()
			if len(got) > tt.most {
				t.Fatalf("%d deliveries, want at most %d", len(got), tt.most)
			}
			for i := range got {
				if !bytes.Equal(got[i].body, got[0].body) {
					t.Fatalf("delivery %d carries %s, want the alert of the transition, %s", i+1, got[i].body, got[0].body)
				}
				// Signed when sent, so that a receiver that refuses old
				// signatures (replays) takes a late retry.
				if want := alerts.Sign(webhookSecret, got[i].body, at[i+1]); got[i].signature != want {
					t.Fatalf("delivery %d signed %q, want %q (the time it was sent)", i+1, got[i].signature, want)
				}
			}
			// SNS took the alert the first time: the webhook's retries do
			// not send it there again.
			if len(sns.messages) != 1 {
				t.Fatalf("%d SNS messages, want 1", len(sns.messages))
			}
			if tt.delivered {
				if len(got) != tt.failures+1 {
					t.Fatalf("%d deliveries, want %d failed and then one taken", len(got), tt.failures)
				}
				for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
					if gap := at[i+2].Sub(at[i+1]); gap != wait {
						t.Fatalf("delivery %d came %v after the one before, want %v", i+2, gap, wait)
					}
				}
				return
			}
			last := at[len(got)]
			if since := last.Sub(at[1]); since < alerts.GiveUpAfter-time.Hour || since > alerts.GiveUpAfter+time.Hour {
				t.Fatalf("the last delivery came %v after the first, want about %v (then given up)", since, alerts.GiveUpAfter)
			}
			state, err := store.State(ctx, "src1")
			if err != nil || state.Pending != nil || !state.Bad {
				t.Fatalf("state after giving up: %+v, %v; want firing with nothing pending", state, err)
			}
		})
	}
}

// newAlertStore is an alert store on table, its secrets sealed by a local key.
func newAlertStore(t *testing.T, table string) *alerts.DynamoStore {
	t.Helper()
	keys, err := secret.NewLocalKeys(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return alerts.NewStore(testkit.Emulators(t).DynamoDB(), table, secret.NewBox(keys))
}

// TestReplaceSettingsRefusesAWriteInBetween: settings written over those
// read refuse to land when another write came in between: the decision to
// keep the stored webhook secret was made on what was read.
func TestReplaceSettingsRefusesAWriteInBetween(t *testing.T) {
	ctx := context.Background()
	store := newAlertStore(t, testkit.Table(t))
	if err := store.ReplaceSettings(ctx, "src1", alerts.Settings{FailedPerHour: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceSettings(ctx, "src1", alerts.Settings{FailedPerHour: 2}, 0); !errors.Is(err, alerts.ErrSettingsChanged) {
		t.Fatalf("a first write over existing settings = %v, want ErrSettingsChanged", err)
	}
	read, _, err := store.Settings(ctx, "src1")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceSettings(ctx, "src1", alerts.Settings{FailedPerHour: 3, WebhookURL: "https://hooks.example/a", WebhookSecret: webhookSecret}, read.Version); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceSettings(ctx, "src1", alerts.Settings{FailedPerHour: 4}, read.Version); !errors.Is(err, alerts.ErrSettingsChanged) {
		t.Fatalf("a write over settings replaced since = %v, want ErrSettingsChanged", err)
	}
	if got, _, err := store.Settings(ctx, "src1"); err != nil || got.FailedPerHour != 3 || got.WebhookSecret != webhookSecret {
		t.Fatalf("stored %+v, %v; want the later write kept", got, err)
	}
}

// failingTopic refuses its first failures publishes.
type failingTopic struct {
	topic
	failures int
}

func (f *failingTopic) Publish(ctx context.Context, subject, message string) error {
	f.mu.Lock()
	fail := f.failures > 0
	f.failures--
	f.mu.Unlock()
	if fail {
		return errors.New("SNS throttled (test)")
	}
	return f.topic.Publish(ctx, subject, message)
}

// TestRetryGoesToAWebhookChangedSince: a retry skips the destinations that
// took the alert, but a webhook URL changed since is a destination that
// has not had it.
func TestRetryGoesToAWebhookChangedSince(t *testing.T) {
	ctx := context.Background()
	c := testkit.NewClock(time.Date(2026, 11, 30, 10, 5, 0, 0, time.UTC))
	store := newAlertStore(t, testkit.Table(t))
	first, second := &receiver{}, &receiver{}
	serverA, serverB := httptest.NewTLSServer(first), httptest.NewTLSServer(second)
	t.Cleanup(serverA.Close)
	t.Cleanup(serverB.Close)
	sns := &failingTopic{failures: 1}
	monitor := alerts.NewMonitor(store, sns, serverA.Client(), nil)
	settings := alerts.Settings{FailedPerHour: 5, SNS: true, WebhookURL: serverA.URL + "/hook", WebhookSecret: webhookSecret}
	if err := store.ReplaceSettings(ctx, "src1", settings, 0); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		if err := monitor.Check(ctx, "src1", "Newsletter", alerts.Observation{Now: c.Now(), FailedLastHour: 9}); err != nil {
			t.Fatal(err)
		}
	}
	check() // the webhook takes it, SNS refuses it
	settings.WebhookURL = serverB.URL + "/hook"
	if err := store.ReplaceSettings(ctx, "src1", settings, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	// serverB's certificate is another test CA's: trust both.
	monitor = alerts.NewMonitor(store, sns, bothClients(serverA, serverB), nil)
	check()
	c.Advance(time.Hour)
	check()
	if a, b, s := len(first.all()), len(second.all()), len(sns.messages); a != 1 || b != 1 || s != 1 {
		t.Fatalf("deliveries: first webhook %d, second webhook %d, SNS %d; want one each", a, b, s)
	}
}

// bothClients is a client that trusts the test certificates of both servers.
func bothClients(a, b *httptest.Server) *http.Client {
	pool := a.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs.Clone()
	pool.AddCert(b.Certificate())
	transport := a.Client().Transport.(*http.Transport).Clone()
	transport.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: transport}
}
