// Package bulkworkerfn builds the bulk worker function: the bulk lane's
// loader and, for the customers it hands over, a sync worker, both fed by
// the bulk queue.
package bulkworkerfn

import (
	"context"
	"errors"

	"github.com/hubsend/hubsend/internal/bulk"
	"github.com/hubsend/hubsend/internal/checkpoint"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/syncer"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
)

// Config returns the loader's configuration: the shared clients, batch
// ledger access, and hand-over to the bulk queue at queueURL.
func Config(d wiring.Deps, queueURL string) (bulk.Config, error) {
	batch, ok := d.DynamoDB.(ledger.BatchDynamoDB)
	if !ok {
		return bulk.Config{}, errors.New("bulkworkerfn: the DynamoDB client cannot batch reads and writes")
	}
	sqsClient, ok := d.SQS.(jobs.BulkSQS)
	if !ok {
		return bulk.Config{}, errors.New("bulkworkerfn: the SQS client cannot read queue attributes")
	}
	if queueURL == "" {
		return bulk.Config{}, errors.New("bulkworkerfn: " + wiring.BulkQueueURL + " is not set")
	}
	return bulk.Config{
		Sources: d.Store,
		Hub: func(conn configstore.Connection) (bulk.Hub, error) {
			return d.Contacthub(conn, retry.Policy{})
		},
		Send:    d.Send,
		Ledger:  ledger.NewBulk(batch, d.Env.TableName),
		Leases:  checkpoint.New(d.DynamoDB, d.Env.TableName),
		Handoff: jobs.NewBulkQueue(sqsClient, queueURL),
		Stats:   ledger.New(d.DynamoDB, d.Env.TableName),
		Logger:  d.Logger,
	}, nil
}

// WorkerConfig is the per-customer worker of the bulk function: the sync
// worker's, giving jobs back on the bulk queue.
func WorkerConfig(d wiring.Deps, queueURL string) syncer.Config {
	cfg := syncworkerfn.Config(d)
	cfg.QueueURL = queueURL
	return cfg
}

// New returns the bulk function's handler.
func New(d wiring.Deps, queueURL string) (*bulk.Handler, error) {
	cfg, err := Config(d, queueURL)
	if err != nil {
		return nil, err
	}
	return Handler(d, queueURL, cfg, WorkerConfig(d, queueURL))
}

// Handler assembles the handler from configurations the caller may have
// adjusted (the local stack shortens the add claims with its visibility
// timeout).
func Handler(d wiring.Deps, queueURL string, cfg bulk.Config, workerCfg syncer.Config) (*bulk.Handler, error) {
	loader, err := bulk.New(cfg)
	if err != nil {
		return nil, err
	}
	worker, err := syncer.New(workerCfg)
	if err != nil {
		return nil, err
	}
	return &bulk.Handler{Loader: loader, PerCustomer: worker, Logger: d.Logger, Queue: d.SQS, QueueURL: queueURL,
		Runs: runs.New(d.DynamoDB, d.Env.TableName)}, nil
}

// FromEnv builds the handler from the environment, as the Lambda does.
func FromEnv(ctx context.Context, getenv func(string) string) (*bulk.Handler, error) {
	d, err := wiring.Load(ctx, getenv, wiring.BulkQueueURL)
	if err != nil {
		return nil, err
	}
	return New(d, d.Env.BulkQueueURL)
}
