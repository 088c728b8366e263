// Package configapifn builds the config API function: the HTTP API and the
// web console on the shared dependencies.
package configapifn

import (
	"context"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/console"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
)

// New returns the API of the config API function.
func New(d wiring.Deps) (*configapi.API, error) {
	queue, err := d.Queue()
	if err != nil {
		return nil, err
	}
	// Backfills (resync, first enable) and intake status go through the
	// scheduler function's own scheduler; the ticks run there.
	intake, err := schedulerfn.New(d)
	if err != nil {
		return nil, err
	}
	// The preview runs the worker's own logic, read-only.
	previewer, err := syncworkerfn.New(d)
	if err != nil {
		return nil, err
	}
	return configapi.New(configapi.Config{
		Store: d.Store,
		Hub: func(conn configstore.Connection) (configapi.Hub, error) {
			return d.Contacthub(conn, retry.Policy{})
		},
		Send:           d.Send,
		Intake:         intake,
		Outcomes:       ledger.New(d.DynamoDB, d.Env.TableName),
		Previewer:      previewer,
		Jobs:           queue,
		History:        history.New(d.DynamoDB, d.Env.TableName),
		Runs:           runs.New(d.DynamoDB, d.Env.TableName),
		Alerts:         d.Alerts,
		AlertSender:    schedulerfn.AlertMonitor(d),
		Console:        console.Assets(),
		WorkspaceClaim: d.Env.WorkspaceClaim,
		RoleClaim:      d.Env.RoleClaim,
		GroupClaim:     d.Env.GroupClaim,
		Audit:          audit.New(d.DynamoDB, d.Env.TableName),
		SignIn: configapi.SignIn{
			Issuer: d.Env.SignInIssuer, ClientID: d.Env.SignInClientID,
			AuthorizeURL: d.Env.SignInAuthorizeURL, TokenURL: d.Env.SignInTokenURL, LogoutURL: d.Env.SignInLogoutURL,
		},
		Logger:           d.Logger,
		AllowInsecureHub: d.Env.AllowInsecureHub,
	}), nil
}

// FromEnv builds the API from the environment, as the Lambda does.
func FromEnv(ctx context.Context, getenv func(string) string) (*configapi.API, error) {
	d, err := wiring.Load(ctx, getenv, wiring.SyncQueueURL)
	if err != nil {
		return nil, err
	}
	return New(d)
}
