// Package webhookfn builds the webhook function: the intake of Contacthub
// and Contactsend webhooks on the shared dependencies.
package webhookfn

import (
	"context"

	"github.com/hubsend/hubsend/internal/webhook"
	"github.com/hubsend/hubsend/internal/wiring"
)

// New returns the handler of the webhook function.
func New(d wiring.Deps) (*webhook.Handler, error) {
	queue, err := d.Queue()
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Config{
		Sources: d.Store,
		Dedupe:  webhook.NewDedupeStore(d.DynamoDB, d.Env.TableName),
		Jobs:    queue,
		// Contactsend events that carry only an email are resolved to
		// subscribers through the source's email match field.
		Subscribers: webhook.ContactsendFinder{Client: d.Send},
		Logger:      d.Logger,
	}), nil
}

// FromEnv builds the handler from the environment, as the Lambda does.
func FromEnv(ctx context.Context, getenv func(string) string) (*webhook.Handler, error) {
	d, err := wiring.Load(ctx, getenv, wiring.SyncQueueURL)
	if err != nil {
		return nil, err
	}
	return New(d)
}
