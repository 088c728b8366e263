// Package alerts tells a source's admins about trouble before their
// customers do. Per source, thresholds on failed records per hour, the
// change feed's lag and a stopped backfill define a bad state; an alert is
// sent once when the source enters it and once when it recovers, never once
// per record, to an SNS topic (the deployment's) and to an HTTPS webhook
// signed with HMAC-SHA256.
//
// The scheduler checks every enabled source on each tick (Monitor.Check).
// The source's alert state is stored beside its settings and changed with
// a conditional write, so two ticks that see the same transition send one
// alert: the transition is recorded first, then delivered (at most once; a
// delivery that fails is logged, and the state still flips, so a flapping
// endpoint cannot turn into an alert per tick).
package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Settings are a source's thresholds and where its alerts go. A zero
// threshold is off.
type Settings struct {
	// FailedPerHour: failed records in the last hour at or above it.
	FailedPerHour int64 `json:"failedPerHour"`
	// FeedLagSeconds: the change feed's lag at or above it.
	FeedLagSeconds int64 `json:"feedLagSeconds"`
	// BackfillStalledMinutes: a running backfill that has not advanced
	// for this long.
	BackfillStalledMinutes int64 `json:"backfillStalledMinutes"`
	// SNS sends alerts to the deployment's alert topic.
	SNS bool `json:"sns"`
	// WebhookURL (https) receives alerts signed with WebhookSecret.
	WebhookURL    string `json:"webhookUrl,omitempty"`
	WebhookSecret string `json:"-"`
	// Version is the stored settings' (zero when none are stored), for
	// ReplaceSettings.
	Version int64 `json:"-"`
}

// Observation is what the scheduler sees of a source at a tick.
type Observation struct {
	Now               time.Time
	FailedLastHour    int64
	FeedLagSeconds    int64
	BackfillRunning   bool
	BackfillUpdatedAt time.Time
}

// Condition is one threshold crossed.
type Condition struct {
	Name      string `json:"name"` // failed-per-hour, feed-lag, backfill-stalled
	Value     int64  `json:"value"`
	Threshold int64  `json:"threshold"`
}

// Evaluate returns the thresholds the observation crosses.
func Evaluate(s Settings, o Observation) []Condition {
	var out []Condition
	if s.FailedPerHour > 0 && o.FailedLastHour >= s.FailedPerHour {
		out = append(out, Condition{Name: "failed-per-hour", Value: o.FailedLastHour, Threshold: s.FailedPerHour})
	}
	if s.FeedLagSeconds > 0 && o.FeedLagSeconds >= s.FeedLagSeconds {
		out = append(out, Condition{Name: "feed-lag", Value: o.FeedLagSeconds, Threshold: s.FeedLagSeconds})
	}
	if s.BackfillStalledMinutes > 0 && o.BackfillRunning && !o.BackfillUpdatedAt.IsZero() {
		if stalled := int64(o.Now.Sub(o.BackfillUpdatedAt).Minutes()); stalled >= s.BackfillStalledMinutes {
			out = append(out, Condition{Name: "backfill-stalled", Value: stalled, Threshold: s.BackfillStalledMinutes})
		}
	}
	return out
}

// States of a notification.
const (
	Firing   = "firing"
	Resolved = "resolved"
	Test     = "test"
)

// Notification is one alert.
type Notification struct {
	SourceID   string      `json:"sourceId"`
	SourceName string      `json:"sourceName"`
	State      string      `json:"state"`
	At         time.Time   `json:"at"`
	Conditions []Condition `json:"conditions"`
}

// State is a source's alert state.
type State struct {
	Bad   bool
	Since time.Time
	// Version is the stored state's; zero when none is stored.
	Version int64
	// Pending is the alert of the last transition until it is delivered;
	// Attempts counts its deliveries begun, and RetryAt is when another
	// check may deliver it (a failed delivery's backoff, or the time the
	// check delivering it has).
	Pending  *Notification
	Attempts int64
	RetryAt  time.Time
	// Delivered names the destinations that have taken the pending
	// alert (ToSNS; ToWebhook and the webhook's URL): a retry goes only
	// to the others.
	Delivered []string
}

// The destinations of an alert.
const (
	ToSNS     = "sns"
	ToWebhook = "webhook"
)

// Delivery timing: alerts are delivered at least once.
const (
	// deliveryWindow is how long a check that took a pending alert has
	// to deliver it before another check may.
	deliveryWindow = 2 * time.Minute
	// maxRetryDelay caps the backoff between failed deliveries.
	maxRetryDelay = time.Hour
	// GiveUpAfter is how long after its transition an undelivered alert
	// is still retried; then it is logged as an error and dropped.
	GiveUpAfter = 24 * time.Hour
)

// retryDelay is the wait after the attempts-th failed delivery: a
// minute, doubling, at most an hour.
func retryDelay(attempts int64) time.Duration {
	if attempts < 1 || attempts > 7 {
		return maxRetryDelay
	}
	return min(time.Minute<<(attempts-1), maxRetryDelay)
}

// Store keeps settings and states.
type Store interface {
	Settings(ctx context.Context, sourceID string) (Settings, bool, error)
	State(ctx context.Context, sourceID string) (State, error)
	// PutState stores next if the stored state is still at next.Version
	// (none stored for 0); ErrConflict otherwise.
	PutState(ctx context.Context, sourceID string, next State) error
}

// ErrConflict says another check changed the state first.
var ErrConflict = errors.New("alert state changed since it was read")

// ErrSettingsChanged says the settings were written since they were read.
var ErrSettingsChanged = errors.New("alert settings changed since they were read")

// Publisher publishes to the SNS alert topic.
type Publisher interface {
	Publish(ctx context.Context, subject, message string) error
}

// Monitor checks sources and delivers alerts.
type Monitor struct {
	store Store
	sns   Publisher
	http  *http.Client
	log   *slog.Logger
}

// NewMonitor returns a monitor; sns may be nil (no topic configured), and
// client nil means a client with a 10 s timeout that follows no redirect
// (a redirect could lead the scheduler where the URL's check never looked).
func NewMonitor(store Store, sns Publisher, client *http.Client, log *slog.Logger) *Monitor {
	if client == nil {
		client = WebhookClient(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{store: store, sns: sns, http: client, log: log}
}

// WebhookClient is the client NewMonitor uses by default, over transport
// (nil means http.DefaultTransport): a 10 s timeout, and no redirect
// followed.
func WebhookClient(transport http.RoundTripper) *http.Client {
	return &http.Client{Transport: transport, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Check compares a source's observation with its thresholds and sends an
// alert when the source enters or leaves the bad state.
func (m *Monitor) Check(ctx context.Context, sourceID, sourceName string, o Observation) error {
	settings, found, err := m.store.Settings(ctx, sourceID)
	if err != nil || !found {
		return err
	}
	return m.check(ctx, settings, sourceID, sourceName, o)
}

// check is Check with the source's settings read.
func (m *Monitor) check(ctx context.Context, settings Settings, sourceID, sourceName string, o Observation) error {
	conditions := Evaluate(settings, o)
	bad := len(conditions) > 0
	state, err := m.store.State(ctx, sourceID)
	if err != nil {
		return err
	}
	// Whoever writes the state first delivers: a transition, or a pending
	// alert whose retry time has come. A later transition replaces an
	// alert not yet delivered.
	next := state
	switch {
	case bad != state.Bad:
		n := Notification{SourceID: sourceID, SourceName: sourceName, State: Resolved, At: o.Now, Conditions: []Condition{}}
		if bad {
			n.State, n.Conditions = Firing, conditions
		}
		next = State{Bad: bad, Since: o.Now, Version: state.Version, Pending: &n}
	case state.Pending != nil && !o.Now.Before(state.RetryAt):
	default:
		return nil
	}
	next.Attempts++
	next.RetryAt = o.Now.Add(deliveryWindow)
	if err := m.store.PutState(ctx, sourceID, next); errors.Is(err, ErrConflict) {
		return nil // another check recorded (and delivers) it
	} else if err != nil {
		return err
	}
	next.Version++ // what PutState stored
	n := *next.Pending
	delivered, err := m.deliver(ctx, settings, n, o.Now, next.Delivered)
	after := next
	after.Pending, after.Attempts, after.RetryAt, after.Delivered = nil, 0, time.Time{}, nil
	switch {
	case err == nil:
	case o.Now.Sub(n.At) >= GiveUpAfter:
		m.log.ErrorContext(ctx, "alert not delivered; given up", "source_id", sourceID, "state", n.State, "at", n.At, "attempts", next.Attempts, "error", err)
	default:
		m.log.WarnContext(ctx, "alert not delivered; will retry", "source_id", sourceID, "state", n.State, "attempts", next.Attempts, "error", err)
		after.Pending, after.Attempts, after.RetryAt, after.Delivered = next.Pending, next.Attempts, o.Now.Add(retryDelay(next.Attempts)), delivered
	}
	// On a context of its own: a slow webhook may have spent the check's,
	// and a delivered alert left pending would be sent again.
	writeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateWriteTimeout)
	defer cancel()
	if err := m.store.PutState(writeCtx, sourceID, after); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// stateWriteTimeout bounds the write that records a delivery.
const stateWriteTimeout = 5 * time.Second

// Deliver sends n everywhere settings say, now; it returns every
// delivery's error.
func (m *Monitor) Deliver(ctx context.Context, s Settings, n Notification) error {
	_, err := m.deliver(ctx, s, n, n.At, nil)
	return err
}

// deliver sends n, at sentAt (what the webhook signature dates), to each
// destination of s not in done, and returns done with the ones that took
// it, and every failure.
func (m *Monitor) deliver(ctx context.Context, s Settings, n Notification, sentAt time.Time, done []string) ([]string, error) {
	body, err := json.Marshal(n)
	if err != nil {
		return done, err
	}
	delivered := slices.Clone(done)
	var errs []error
	if s.SNS && m.sns != nil && !slices.Contains(done, ToSNS) {
		subject := "hubsend: source " + n.SourceName + " " + n.State
		if err := m.sns.Publish(ctx, truncate(subject, 100), string(body)); err != nil {
			errs = append(errs, fmt.Errorf("sns: %w", err))
		} else {
			delivered = append(delivered, ToSNS)
		}
	}
	// A webhook is named with its URL: one changed since is another
	// destination, which has not had the alert.
	if hook := ToWebhook + " " + s.WebhookURL; s.WebhookURL != "" && !slices.Contains(done, hook) {
		if err := m.post(ctx, s, body, sentAt); err != nil {
			errs = append(errs, fmt.Errorf("webhook: %w", err))
		} else {
			delivered = append(delivered, hook)
		}
	}
	return delivered, errors.Join(errs...)
}

// SignatureHeader carries the webhook signature: t=<unix seconds>,
// v1=<hex HMAC-SHA256 of "<t>.<body>" under the source's alert secret>.
// The time lets a receiver refuse replays.
const SignatureHeader = "X-Hubsend-Signature"

// Sign returns the SignatureHeader value of body sent at t.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func (m *Monitor) post(ctx context.Context, s Settings, body []byte, at time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hubsend-alerts")
	req.Header.Set(SignatureHeader, Sign(s.WebhookSecret, body, at))
	resp, err := m.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %d", resp.StatusCode)
	}
	return nil
}

func truncate(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return v[:n]
}
