package configapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/alerts"
	"github.com/hubsend/hubsend/internal/publicnet"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/source"
)

// AlertSettings keeps each source's alert settings (package alerts).
type AlertSettings interface {
	Settings(ctx context.Context, sourceID string) (alerts.Settings, bool, error)
	ReplaceSettings(ctx context.Context, sourceID string, s alerts.Settings, read int64) error
}

// AlertSender delivers an alert to a source's destinations.
type AlertSender interface {
	Deliver(ctx context.Context, s alerts.Settings, n alerts.Notification) error
}

type alertSettingsJSON struct {
	FailedPerHour          int64  `json:"failedPerHour"`
	FeedLagSeconds         int64  `json:"feedLagSeconds"`
	BackfillStalledMinutes int64  `json:"backfillStalledMinutes"`
	SNS                    bool   `json:"sns"`
	WebhookURL             string `json:"webhookUrl"`
	// WebhookSecret is write-only: answers carry it masked.
	WebhookSecret string `json:"webhookSecret"`
}

// Bounds of the alert settings.
const (
	maxAlertThreshold   = 1_000_000
	minAlertSecretChars = 16
	maxAlertSecretChars = 256
	maxAlertURLChars    = 2048
)

func alertJSON(s alerts.Settings) alertSettingsJSON {
	return alertSettingsJSON{
		FailedPerHour: s.FailedPerHour, FeedLagSeconds: s.FeedLagSeconds, BackfillStalledMinutes: s.BackfillStalledMinutes,
		SNS: s.SNS, WebhookURL: s.WebhookURL, WebhookSecret: secret.Mask(s.WebhookSecret),
	}
}

func (a *API) getAlerts(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Alerts == nil {
		return problem(http.StatusNotImplemented, "alerts are not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	s, _, err := a.cfg.Alerts.Settings(ctx, src.ID)
	if err != nil {
		return a.internal(ctx, "read alert settings", err)
	}
	resp := jsonResponse(http.StatusOK, alertJSON(s))
	if s.Version > 0 {
		resp.Headers["ETag"] = etag(s.Version)
	}
	return resp
}

// putAlerts replaces a source's alert settings. The webhook secret may be
// left out (or sent masked) only while the webhook URL stays the same: a
// stored secret never follows a change of where it goes.
func (a *API) putAlerts(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Alerts == nil {
		return problem(http.StatusNotImplemented, "alerts are not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	var in alertSettingsJSON
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	stored, _, err := a.cfg.Alerts.Settings(ctx, src.ID)
	if err != nil {
		return a.internal(ctx, "read alert settings", err)
	}
	cond, refused := r.ifMatch()
	if refused != nil {
		return *refused
	}
	if cond.given && (stored.Version == 0 || !cond.any && !cond.matches(stored.Version)) {
		return alertsChanged()
	}
	var problems source.Problems
	for _, f := range []struct {
		path  string
		value int64
	}{{"failedPerHour", in.FailedPerHour}, {"feedLagSeconds", in.FeedLagSeconds}, {"backfillStalledMinutes", in.BackfillStalledMinutes}} {
		if f.value < 0 || f.value > maxAlertThreshold {
			problems = append(problems, source.Problem{Path: f.path, Message: "must be from 0 (off) to 1000000"})
		}
	}
	next := alerts.Settings{FailedPerHour: in.FailedPerHour, FeedLagSeconds: in.FeedLagSeconds, BackfillStalledMinutes: in.BackfillStalledMinutes,
		SNS: in.SNS, WebhookURL: in.WebhookURL, WebhookSecret: in.WebhookSecret}
	if in.WebhookURL != "" {
		u, err := url.Parse(in.WebhookURL)
		switch {
		case len(in.WebhookURL) > maxAlertURLChars || err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http"):
			problems = append(problems, source.Problem{Path: "webhookUrl", Message: "must be an absolute https URL without credentials or fragment"})
		case u.Scheme == "http" && !a.cfg.AllowInsecureHub:
			problems = append(problems, source.Problem{Path: "webhookUrl", Message: "must use https"})
		case !a.cfg.AllowInsecureHub && internalHost(u.Hostname()):
			// The scheduler posts alerts from inside the deployment.
			problems = append(problems, source.Problem{Path: "webhookUrl", Message: "must name a public host, not this machine or a private network"})
		}
		keep := in.WebhookSecret == "" || secret.IsMask(in.WebhookSecret)
		switch {
		case keep && (stored.WebhookSecret == "" || stored.WebhookURL != in.WebhookURL):
			problems = append(problems, source.Problem{Path: "webhookSecret", Message: "is required with a new webhook URL: a stored secret never follows a change of where it goes"})
		case keep:
			next.WebhookSecret = stored.WebhookSecret
		case len(in.WebhookSecret) < minAlertSecretChars || len(in.WebhookSecret) > maxAlertSecretChars ||
			strings.TrimSpace(in.WebhookSecret) != in.WebhookSecret || source.TextProblem(in.WebhookSecret) != "":
			problems = append(problems, source.Problem{Path: "webhookSecret", Message: "must be 16 to 256 printable characters without surrounding spaces"})
		}
	} else if in.WebhookSecret != "" && !secret.IsMask(in.WebhookSecret) {
		problems = append(problems, source.Problem{Path: "webhookSecret", Message: "needs a webhookUrl"})
	} else {
		next.WebhookSecret = ""
	}
	if len(problems) > 0 {
		return problem(http.StatusUnprocessableEntity, "invalid alert settings", problems...)
	}
	// Written over the settings read above only: the secret kept was
	// decided on them.
	if err := a.cfg.Alerts.ReplaceSettings(ctx, src.ID, next, stored.Version); errors.Is(err, alerts.ErrSettingsChanged) {
		return alertsChanged()
	} else if err != nil {
		return a.internal(ctx, "store alert settings", err)
	}
	resp := jsonResponse(http.StatusOK, alertJSON(next))
	resp.Headers["ETag"] = etag(stored.Version + 1)
	return resp
}

func alertsChanged() events.APIGatewayV2HTTPResponse {
	return problem(http.StatusPreconditionFailed, "the alert settings changed since you read them; read them again and reapply your change")
}

// testAlert sends a test alert to the source's destinations.
func (a *API) testAlert(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Alerts == nil || a.cfg.AlertSender == nil {
		return problem(http.StatusNotImplemented, "alerts are not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	s, found, err := a.cfg.Alerts.Settings(ctx, src.ID)
	if err != nil {
		return a.internal(ctx, "read alert settings", err)
	}
	if !found || (!s.SNS && s.WebhookURL == "") {
		return problem(http.StatusConflict, "the source has no alert destination; set sns or a webhookUrl first")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	n := alerts.Notification{SourceID: src.ID, SourceName: src.Name, State: alerts.Test, At: time.Now().UTC(), Conditions: []alerts.Condition{}}
	err = a.cfg.AlertSender.Deliver(ctx, s, n)
	if errors.Is(err, publicnet.ErrNotPublic) {
		return problem(http.StatusBadGateway, "the test alert was not delivered: the webhook URL does not lead to a public internet address, and alerts go to public hosts only")
	}
	if err != nil {
		return problem(http.StatusBadGateway, "the test alert was not delivered: "+err.Error())
	}
	return jsonResponse(http.StatusOK, map[string]string{"status": "sent"})
}
