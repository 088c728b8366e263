// Package syncworkerfn builds the sync worker function: the worker on the
// shared dependencies, fed by the SQS sync queue.
package syncworkerfn

import (
	"context"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/syncer"
	"github.com/hubsend/hubsend/internal/wiring"
)

// Config returns the worker's configuration. The local stack and the
// benchmarks adjust what a test needs (a shorter add claim for a shorter
// visibility timeout, a Contactsend client that notes writes) and call
// syncer.New; everything else is the function's.
func Config(d wiring.Deps) syncer.Config {
	return syncer.Config{
		Sources: d.Store,
		Ledger:  ledger.New(d.DynamoDB, d.Env.TableName),
		Hub: func(conn configstore.Connection) (syncer.Hub, error) {
			// Inside a queued job: retry.Default, then SQS redelivery.
			return d.Contacthub(conn, retry.Policy{})
		},
		Send:   d.Send,
		Logger: d.Logger,
		// The consent trail, beside the ledger in the table.
		History: history.New(d.DynamoDB, d.Env.TableName),
		Runs:    runs.New(d.DynamoDB, d.Env.TableName),
		// Jobs given back come again after syncer.RedeliveryDelay, not
		// the queue's visibility timeout.
		Queue:    d.SQS,
		QueueURL: d.Env.SyncQueueURL,
	}
}

// New returns the worker of the sync worker function.
func New(d wiring.Deps) (*syncer.Worker, error) {
	return syncer.New(Config(d))
}

// FromEnv builds the worker from the environment, as the Lambda does.
func FromEnv(ctx context.Context, getenv func(string) string) (*syncer.Worker, error) {
	d, err := wiring.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return New(d)
}
