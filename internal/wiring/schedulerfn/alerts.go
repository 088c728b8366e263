package schedulerfn

import (
	"context"
	"time"

	"github.com/hubsend/hubsend/internal/alerts"
	"github.com/hubsend/hubsend/internal/alerts/snstopic"
	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/wiring"
)

// AlertMonitor returns the monitor that delivers source alerts: to the SNS
// topic the environment names (ALERT_TOPIC_ARN; none locally), and to each
// source's webhook. The config API's test alert uses it too; the other
// functions do not link the SNS client.
func AlertMonitor(d wiring.Deps) *alerts.Monitor {
	var topic alerts.Publisher
	if d.Env.AlertTopicARN != "" && d.AWS != nil {
		topic = snstopic.New(*d.AWS, d.Env.AlertTopicARN)
	}
	return alerts.NewMonitor(d.Alerts, topic, d.AlertHTTP, d.Logger)
}

// alertChecker observes each source after its tick: failed records from
// the ledger's counters, the backfill from its checkpoint.
func alertChecker(d wiring.Deps) alerts.Checker {
	led := ledger.New(d.DynamoDB, d.Env.TableName)
	cps := checkpoint.New(d.DynamoDB, d.Env.TableName)
	return alerts.Checker{
		Monitor: AlertMonitor(d),
		FailedSince: func(ctx context.Context, sourceID string, since time.Time) (int64, error) {
			st, err := led.Stats(ctx, sourceID, since)
			return st.Failed, err
		},
		Backfill: func(ctx context.Context, sourceID string) (bool, time.Time, error) {
			b, found, err := cps.Backfill(ctx, sourceID)
			if err != nil || !found || b.Status != checkpoint.BackfillRunning {
				return false, time.Time{}, err
			}
			return true, b.UpdatedAt, nil
		},
	}
}
