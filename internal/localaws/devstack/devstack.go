// Package devstack assembles the whole of hubsend on one machine: the
// DynamoDB and SQS emulators, the Contacthub and Contactsend simulators with
// a realistic demo, and hubsend's functions behind a local API gateway.
// `make run` and the end-to-end tests both use it.
//
// The functions' handlers are the ones their Lambdas run: built by the
// wiring packages from an environment that points at the emulators and
// simulators instead of template.yaml's resources.
package devstack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/bulk"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/localaws/apigw"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/localaws/oidc"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
	"github.com/hubsend/hubsend/internal/localaws/sqstrigger"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/syncer"
	"github.com/hubsend/hubsend/internal/wiring"
	"github.com/hubsend/hubsend/internal/wiring/bulkworkerfn"
	"github.com/hubsend/hubsend/internal/wiring/configapifn"
	"github.com/hubsend/hubsend/internal/wiring/schedulerfn"
	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
	"github.com/hubsend/hubsend/internal/wiring/webhookfn"
)

// The demo workspace: hubsend's workspace id and the Contacthub workspace it
// is connected to (in the Contacthub simulator).
const (
	DemoWorkspace    = "demo"
	DemoHubWorkspace = "demo"
	DemoHubToken     = "demo-token"
	workspaceClaim   = "custom:workspace"
	roleClaim        = "custom:role"
	// ConsoleClientID is the console's client at the local identity
	// provider, as the Cognito app client is in AWS.
	ConsoleClientID = "hubsend-console"
	// apiTokenLifetime is how long the printed demo token lasts; it is kept
	// across restarts (with a data directory) until a day before it ends.
	apiTokenLifetime = 7 * 24 * time.Hour
	tableName        = "hubsend-local"
	queuePrefix      = "hubsend-local"
)

// Options configure a local stack. Zero values pick free loopback ports and
// keep everything in memory.
type Options struct {
	APIAddr string
	// OIDCAddr is where the local identity provider listens.
	OIDCAddr string
	// TokenLifetime is how long the local identity provider's ID and
	// access tokens last; default one hour, as Cognito's.
	TokenLifetime   time.Duration
	ContacthubAddr  string
	ContactsendAddr string
	// DataDir keeps DynamoDB, the simulators' state, the master key, the
	// identity provider's signing key and the API token across restarts;
	// empty keeps nothing.
	DataDir string
	// DemoCustomers is the size of the generated Contacthub demo; default 1000.
	DemoCustomers int
	Logger        *slog.Logger
	// EmulatorOutput receives dynalite's and fauxqs's output; nil discards it.
	EmulatorOutput io.Writer
	// Contacthub, when set, connects the demo workspace to a real Contacthub
	// instead of starting the simulator.
	Contacthub *Contacthub
	// ContactsendEndpoint, when set, sends SOAP calls to a real Contactsend
	// (e.g. https://soap.contactlab.it/soap/services) instead of starting
	// the simulator.
	ContactsendEndpoint string
	// AWS, when set, uses real DynamoDB, SQS and KMS (a deployed stack's
	// table and queue) instead of starting the emulators.
	AWS *RealAWS
	// VisibilityTimeout overrides the sync queue's (six minutes in
	// template.yaml), so tests see a failed job come back sooner.
	VisibilityTimeout time.Duration
	// ScheduleEvery overrides the schedule's rate from template.yaml (one
	// minute), for demos and tests that want the change feed polled sooner.
	ScheduleEvery time.Duration
	// LatencyProfile gives every simulator call a realistic service time
	// (faults.ContacthubProfile, faults.ContactsendProfile); off by default,
	// so the local stack answers at once.
	LatencyProfile bool
	// BatchesAtOnce caps how many batches of each queue run side by side
	// (each queue apart); zero leaves the local default, the template's
	// maximum concurrency but at most four for the sync and bulk lanes and
	// sixteen for source ticks on two cores. One is for stand-ins of
	// DynamoDB whose writes are not atomic (moto), where side-by-side
	// counter updates lose increments that DynamoDB keeps.
	BatchesAtOnce int
}

// Contacthub is a real Contacthub workspace to connect the demo workspace to.
type Contacthub struct {
	BaseURL     string // e.g. https://api.contactlab.it/hub/v1
	WorkspaceID string
	Token       string
}

// RealAWS names the resources of a deployed stack (template.yaml's outputs).
type RealAWS struct {
	Config       aws.Config
	Table        string
	SyncQueueURL string
	// BulkQueueURL is the bulk lane's queue; empty leaves backfills on the
	// sync queue and runs no bulk worker.
	BulkQueueURL string
	KMSKeyID     string
}

// Stack is a running local hubsend.
type Stack struct {
	APIURL         string
	ContacthubURL  string
	ContactsendURL string
	// APIToken authenticates as the demo workspace's admin on the config
	// API: an ID token of the local identity provider.
	APIToken string
	// IssuerURL is the local OpenID Connect issuer (make run's identity
	// provider), Issuer the issuer itself (its demo users mint tokens).
	IssuerURL string
	Issuer    *oidc.Issuer

	// AWS, Hub and Send are the emulators and simulators; each is nil when
	// the stack uses the real service instead.
	AWS    *emulators.Stack
	Hub    *hubsim.Server
	Send   *sendsim.Server
	Store  *configstore.Store
	Queues emulators.Queues
	Table  string
	// Scheduler is the scheduler function's logic; Tick runs it now.
	Scheduler *scheduler.Scheduler
	Jobs      *jobs.Queue
	// Worker is the sync worker function's logic, fed by the local SQS
	// event source mapping.
	Worker *syncer.Worker
	// Bulk is the bulk worker function's handler, fed from the bulk queue;
	// nil without one.
	Bulk   *bulk.Handler
	Ledger *ledger.Store

	opts   Options
	logger *slog.Logger
	// env and clients are what the functions are built from.
	env       wiring.Env
	clients   wiring.Clients
	sqsClient *sqs.Client
	template  *samtemplate.Template
	// tick is the scheduler function's handler, run on the schedule;
	// sourceTick the source tick function's, fed by the tick queue.
	tick       schedulerfn.Handler
	sourceTick schedulerfn.SourceHandler
	servers    []*http.Server
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	close      sync.Once
}

// Start brings the stack up. On error everything started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.DemoCustomers == 0 {
		opts.DemoCustomers = 1000
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{opts: opts, logger: logger, cancel: cancel, Table: tableName}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// Listeners first: a busy port fails fast, before anything slow starts.
	apiLn, err := listen(opts.APIAddr, "config API", "HUBSEND_API_ADDR")
	if err != nil {
		return nil, err
	}
	s.APIURL = "http://" + apiLn.Addr().String()
	oidcLn, err := listen(opts.OIDCAddr, "identity provider", "HUBSEND_OIDC_ADDR")
	if err != nil {
		apiLn.Close()
		return nil, err
	}
	s.IssuerURL = "http://" + oidcLn.Addr().String()
	var hubLn, sendLn net.Listener
	if opts.Contacthub == nil {
		if hubLn, err = listen(opts.ContacthubAddr, "Contacthub simulator", "HUBSEND_CONTACTHUB_ADDR"); err != nil {
			apiLn.Close()
			oidcLn.Close()
			return nil, err
		}
		s.ContacthubURL = "http://" + hubLn.Addr().String()
	}
	if opts.ContactsendEndpoint == "" {
		if sendLn, err = listen(opts.ContactsendAddr, "Contactsend simulator", "HUBSEND_CONTACTSEND_ADDR"); err != nil {
			apiLn.Close()
			oidcLn.Close()
			if hubLn != nil {
				hubLn.Close()
			}
			return nil, err
		}
		s.ContactsendURL = "http://" + sendLn.Addr().String()
	}

	if err := s.startAWS(ctx); err != nil {
		return nil, err
	}
	if err := s.startSimulators(hubLn, sendLn); err != nil {
		return nil, err
	}
	if err := s.environment(); err != nil {
		return nil, err
	}
	shared, err := wiring.New(s.env, s.clients, logger)
	if err != nil {
		return nil, err
	}
	s.Store, s.Jobs = shared.Store, shared.Jobs
	s.Ledger = ledger.New(shared.DynamoDB, s.Table)
	conn := configstore.Connection{
		Workspace: DemoWorkspace, ContacthubBaseURL: s.ContacthubURL + "/hub/v1",
		ContacthubWorkspaceID: DemoHubWorkspace, ContacthubToken: DemoHubToken,
	}
	if hub := opts.Contacthub; hub != nil {
		conn.ContacthubBaseURL, conn.ContacthubWorkspaceID, conn.ContacthubToken = hub.BaseURL, hub.WorkspaceID, hub.Token
		s.ContacthubURL = strings.TrimSuffix(strings.TrimRight(hub.BaseURL, "/"), "/hub/v1")
	}
	if _, err := s.Store.PutConnection(ctx, conn); err != nil {
		return nil, fmt.Errorf("connect the demo workspace: %w", err)
	}
	if err := s.startIssuer(oidcLn); err != nil {
		return nil, err
	}

	gateway, err := s.functions(shared)
	if err != nil {
		return nil, err
	}
	s.serve(apiLn, gateway)
	if err := s.startBackground(runCtx); err != nil {
		return nil, err
	}
	return s, nil
}

func listen(addr, what, variable string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s cannot listen on %s (is another hubsend still running? set %s to another address): %w", what, addr, variable, err)
	}
	return ln, nil
}

// startAWS starts the emulators with the table and queues of template.yaml,
// or takes a deployed stack's.
func (s *Stack) startAWS(ctx context.Context) error {
	if real := s.opts.AWS; real != nil {
		path, err := samtemplate.Locate(".")
		if err != nil {
			return err
		}
		if s.template, err = samtemplate.Load(path); err != nil {
			return err
		}
		s.clients, s.sqsClient = wiring.ClientsFrom(real.Config), sqs.NewFromConfig(real.Config)
		s.Table, s.Queues = real.Table, emulators.Queues{SyncURL: real.SyncQueueURL, BulkURL: real.BulkQueueURL}
		return nil
	}
	awsOpts := emulators.Options{Stdout: s.opts.EmulatorOutput, Stderr: s.opts.EmulatorOutput}
	if s.opts.DataDir != "" {
		awsOpts.DataDir = filepath.Join(s.opts.DataDir, "dynamodb")
		if err := os.MkdirAll(awsOpts.DataDir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	var err error
	if s.AWS, err = emulators.Start(ctx, awsOpts); err != nil {
		return fmt.Errorf("start the AWS emulators: %w", err)
	}
	s.sqsClient, s.template = s.AWS.SQS(), s.AWS.Template()
	s.clients = wiring.Clients{DynamoDB: s.AWS.DynamoDB(), SQS: s.sqsClient}
	s.Table = tableName
	if err := s.AWS.CreateTable(ctx, tableName); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	if s.Queues, err = s.AWS.CreateQueues(ctx, queuePrefix); err != nil {
		return fmt.Errorf("create queues: %w", err)
	}
	if s.opts.VisibilityTimeout > 0 {
		for _, url := range []string{s.Queues.SyncURL, s.Queues.BulkURL} {
			if _, err := s.sqsClient.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
				QueueUrl:   &url,
				Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(s.opts.VisibilityTimeout.Seconds()))},
			}); err != nil {
				return fmt.Errorf("set the queue's visibility timeout: %w", err)
			}
		}
	}
	return nil
}

// environment is the functions' environment: the stack's table and queue,
// its Contactsend endpoint, and the key secrets are sealed with: KMS against
// real AWS (so the deployed functions can read them), else a master key
// kept in the data directory.
func (s *Stack) environment() error {
	endpoint := s.opts.ContactsendEndpoint
	if endpoint == "" {
		endpoint = s.ContactsendURL + "/soap/services"
	}
	s.env = wiring.Env{
		TableName: s.Table, SyncQueueURL: s.Queues.SyncURL, TickQueueURL: s.Queues.TickURL, BulkQueueURL: s.Queues.BulkURL, ContactsendEndpoint: endpoint,
		WorkspaceClaim: workspaceClaim, RoleClaim: roleClaim,
		SignInIssuer: s.IssuerURL, SignInClientID: ConsoleClientID,
		// The simulators speak plain http.
		AllowInsecureHub: true,
	}
	if real := s.opts.AWS; real != nil {
		if real.KMSKeyID == "" {
			return errors.New("a KMS key id is needed to run against real AWS")
		}
		s.env.KMSKeyID = real.KMSKeyID
		return nil
	}
	masterKey, err := s.persistent("master.key", func() string {
		key := make([]byte, 32)
		rand.Read(key)
		return base64.StdEncoding.EncodeToString(key)
	})
	if err != nil {
		return err
	}
	if s.env.MasterKey, err = base64.StdEncoding.DecodeString(masterKey); err != nil {
		return fmt.Errorf("master key in the data directory is damaged: %w", err)
	}
	return nil
}

func (s *Stack) startSimulators(hubLn, sendLn net.Listener) error {
	hubSeed := hubsim.DemoSeed(hubsim.DemoOptions{WorkspaceID: DemoHubWorkspace, Token: DemoHubToken, Customers: s.opts.DemoCustomers, RandomSeed: 1})
	if saved, ok, err := s.loadState("contacthub.json"); err != nil {
		return err
	} else if ok {
		if hubSeed, err = hubsim.ParseSeed(saved); err != nil {
			return fmt.Errorf("saved Contacthub state: %w", err)
		}
	}
	sendSeed := demoContactsendSeed(1)
	if saved, ok, err := s.loadState("contactsend.json"); err != nil {
		return err
	} else if ok {
		if sendSeed, err = sendsim.ParseSeed(saved); err != nil {
			return fmt.Errorf("saved Contactsend state: %w", err)
		}
	}
	if hubLn != nil {
		s.Hub = hubsim.New(hubsim.Options{Seed: hubSeed, RandomSeed: uint64(time.Now().UnixNano())})
		if s.opts.LatencyProfile {
			s.Hub.Faults().SetProfile(faults.ContacthubProfile())
		}
		s.serve(hubLn, s.Hub)
	}
	if sendLn != nil {
		s.Send = sendsim.New(sendsim.Options{Seed: sendSeed, FaultSeed: 1})
		if s.opts.LatencyProfile {
			s.Send.Faults().SetProfile(faults.ContactsendProfile())
		}
		s.serve(sendLn, s.Send)
	}
	return nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("server stopped", "addr", ln.Addr().String(), "error", err)
		}
	})
}

// functions builds the four functions as their Lambdas do, each with its
// own logger, and returns the gateway in front of the two behind HTTP.
func (s *Stack) functions(shared wiring.Deps) (*apigw.Gateway, error) {
	routes, err := s.template.Routes()
	if err != nil {
		return nil, err
	}
	// Every authorizer of the template trusts the local identity provider,
	// as the deployed ones trust the stack's.
	authorizers := map[string]apigw.JWTAuthorizer{}
	for _, r := range routes {
		if !r.Public() {
			authorizers[r.Authorizer] = apigw.JWTAuthorizer{Issuer: s.IssuerURL, Audience: []string{ConsoleClientID}}
		}
	}
	for _, name := range []string{"ConfigApiFunction", "WebhookFunction", "SchedulerFunction", "SourceTickFunction", "SyncWorkerFunction", "BulkWorkerFunction"} {
		if _, ok := s.template.Functions[name]; !ok {
			return nil, fmt.Errorf("template.yaml has no %s", name)
		}
	}
	function := func(name string) wiring.Deps {
		d := shared
		d.Logger = s.logger.With("function", name)
		return d
	}
	d := function("SchedulerFunction")
	if s.Scheduler, err = schedulerfn.New(d); err != nil {
		return nil, err
	}
	s.tick = schedulerfn.NewHandler(s.Scheduler, d.Logger)
	// The source tick function is the same scheduler in its own function
	// (its own logger); without a tick queue (a deployed stack's, which
	// its own function consumes) the scheduled tick works every source.
	ticked := function("SourceTickFunction")
	sources, err := schedulerfn.New(ticked)
	if err != nil {
		return nil, err
	}
	s.sourceTick = schedulerfn.NewSourceHandler(sources, ticked.Logger)
	worker := syncworkerfn.Config(function("SyncWorkerFunction"))
	// An add claim must lapse before SQS redelivers the job that holds it;
	// with a shortened visibility timeout, shorten the claim too.
	worker.AddClaim = s.opts.VisibilityTimeout / 2
	if s.Worker, err = syncer.New(worker); err != nil {
		return nil, err
	}
	if url := s.Queues.BulkURL; url != "" {
		d := function("BulkWorkerFunction")
		cfg, err := bulkworkerfn.Config(d, url)
		if err != nil {
			return nil, err
		}
		perCustomer := bulkworkerfn.WorkerConfig(d, url)
		if s.opts.VisibilityTimeout > 0 {
			cfg.AddClaim, perCustomer.AddClaim = s.opts.VisibilityTimeout/2, s.opts.VisibilityTimeout/2
		}
		if s.Bulk, err = bulkworkerfn.Handler(d, url, cfg, perCustomer); err != nil {
			return nil, err
		}
	}
	api, err := configapifn.New(function("ConfigApiFunction"))
	if err != nil {
		return nil, err
	}
	hooks, err := webhookfn.New(function("WebhookFunction"))
	if err != nil {
		return nil, err
	}
	return apigw.New(apigw.Config{
		Routes: routes,
		Functions: map[string]apigw.Handler{
			"ConfigApiFunction": api.Handle,
			"WebhookFunction":   hooks.Handle,
		},
		Authorizers: authorizers,
		Logger:      s.logger.With("component", "gateway"),
	}), nil
}

// DemoUsers are the local identity provider's people: one per role.
func DemoUsers() []oidc.User {
	return []oidc.User{
		{Username: "admin", Subject: "demo-admin", Email: "admin@demo.example",
			Claims: map[string]any{workspaceClaim: DemoWorkspace, roleClaim: "admin"}},
		{Username: "viewer", Subject: "demo-viewer", Email: "viewer@demo.example",
			Claims: map[string]any{workspaceClaim: DemoWorkspace, roleClaim: "viewer"}},
	}
}

// startIssuer starts the local identity provider with a signing key kept
// in the data directory, and makes the printed admin token.
func (s *Stack) startIssuer(ln net.Listener) error {
	pemKey, err := s.persistent("oidc-key.pem", func() string {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		return string(oidc.MarshalKey(key))
	})
	if err != nil {
		return err
	}
	key, err := oidc.ParseKey([]byte(pemKey))
	if err != nil {
		return fmt.Errorf("the identity provider's key in the data directory is damaged: %w", err)
	}
	s.Issuer, err = oidc.New(oidc.Config{
		URL: s.IssuerURL, ClientID: ConsoleClientID, Key: key, Users: DemoUsers(), Lifetime: s.opts.TokenLifetime,
		RedirectURIs: []string{s.APIURL + "/"},
	})
	if err != nil {
		return err
	}
	s.serve(ln, s.Issuer)
	admin, _ := s.Issuer.User("admin")
	mint := func() string {
		token, err := s.Issuer.Mint(admin, apiTokenLifetime)
		if err != nil {
			panic(err) // signing with a valid RSA key does not fail
		}
		return token
	}
	if s.APIToken, err = s.persistent("api-token", mint); err != nil {
		return err
	}
	if !s.Issuer.ValidFor(s.APIToken, 24*time.Hour) {
		s.APIToken = mint()
		if s.opts.DataDir != "" {
			if err := os.WriteFile(filepath.Join(s.opts.DataDir, "api-token"), []byte(s.APIToken+"\n"), 0o600); err != nil {
				return fmt.Errorf("write the API token: %w", err)
			}
		}
	}
	return nil
}

// startBackground starts what runs without requests: the schedule that
// EventBridge would deliver, and the SQS poller.
func (s *Stack) startBackground(ctx context.Context) error {
	subscriptions, err := s.template.QueueSubscriptions()
	if err != nil {
		return err
	}
	for _, sub := range subscriptions {
		cfg := sqstrigger.Config{
			Client:         s.sqsClient,
			BatchSize:      sub.BatchSize,
			BatchingWindow: sub.MaximumBatchingWindow,
			// Two cores: more pollers than this only queue up behind each other.
			Concurrency:     min(sub.MaximumConcurrency, 4),
			FunctionTimeout: s.template.Functions[sub.FunctionID].Timeout,
			Logger:          s.logger.With("component", "sqs-poller", "queue", sub.Queue),
		}
		switch {
		case sub.FunctionID == "SyncWorkerFunction" && sub.Queue == "SyncQueue":
			cfg.QueueURL, cfg.Handler = s.Queues.SyncURL, s.Worker.HandleSQS
		case sub.FunctionID == "BulkWorkerFunction" && sub.Queue == emulators.BulkQueueID:
			if s.Bulk == nil {
				continue // a deployed stack's bulk queue was not named
			}
			cfg.QueueURL, cfg.Handler = s.Queues.BulkURL, s.Bulk.HandleSQS
		case sub.FunctionID == "SourceTickFunction" && sub.Queue == "SourceTickQueue":
			if s.Queues.TickURL == "" {
				continue // the scheduled tick works every source itself
			}
			// Sources mostly wait on Contacthub and Contactsend, so more of
			// them run side by side than the sync worker's batches.
			cfg.QueueURL, cfg.Handler, cfg.Concurrency = s.Queues.TickURL, s.sourceTick, min(sub.MaximumConcurrency, 16)
		default:
			return fmt.Errorf("the local stack does not know how to feed %s from %s", sub.FunctionID, sub.Queue)
		}
		if s.opts.BatchesAtOnce > 0 {
			cfg.Concurrency = min(cfg.Concurrency, s.opts.BatchesAtOnce)
		}
		s.wg.Go(func() { sqstrigger.Run(ctx, cfg) })
	}
	schedules, err := s.template.Schedules()
	if err != nil {
		return err
	}
	for _, sch := range schedules {
		every := s.opts.ScheduleEvery
		if every <= 0 {
			if every, err = sch.RatePeriod(); err != nil {
				return fmt.Errorf("schedule of %s: %w", sch.FunctionID, err)
			}
		}
		if sch.FunctionID != "SchedulerFunction" {
			return fmt.Errorf("the local stack does not know how to run the schedule of %s", sch.FunctionID)
		}
		s.wg.Go(func() { s.tickEvery(ctx, every) })
	}
	return nil
}

// tickEvery runs the scheduler as EventBridge would: one invocation per
// period, each bounded by the function's timeout, never two at once.
func (s *Stack) tickEvery(ctx context.Context, every time.Duration) {
	timeout := s.template.Functions["SchedulerFunction"].Timeout
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		tickCtx, cancel := context.WithTimeout(ctx, timeout)
		// The handler logs the tick's outcome, as in Lambda.
		s.tick(tickCtx, events.EventBridgeEvent{
			ID: "local-" + strconv.FormatInt(time.Now().UnixNano(), 36), Source: "aws.events",
			DetailType: "Scheduled Event", Time: time.Now().UTC(),
		})
		cancel()
	}
}

// persistent returns the value kept under name in the data directory,
// creating it with generate on first use. Without a data directory it is made
// fresh each time.
func (s *Stack) persistent(name string, generate func() string) (string, error) {
	if s.opts.DataDir == "" {
		return generate(), nil
	}
	path := filepath.Join(s.opts.DataDir, name)
	if data, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(data)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	value := generate()
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return value, nil
}

func (s *Stack) loadState(name string) ([]byte, bool, error) {
	if s.opts.DataDir == "" {
		return nil, false, nil
	}
	data, err := os.ReadFile(filepath.Join(s.opts.DataDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read saved state: %w", err)
	}
	return data, true, nil
}

func (s *Stack) saveState(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	path := filepath.Join(s.opts.DataDir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Close stops everything, saving the simulators' state when a data
// directory is set.
func (s *Stack) Close() error {
	var errs []error
	s.close.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range s.servers {
			srv.Shutdown(ctx)
		}
		s.wg.Wait()
		if s.opts.DataDir != "" && s.Hub != nil && s.Send != nil {
			errs = append(errs, s.saveState("contacthub.json", s.Hub.Snapshot()), s.saveState("contactsend.json", s.Send.Snapshot()))
		}
		if s.AWS != nil {
			errs = append(errs, s.AWS.Close())
		}
	})
	return errors.Join(errs...)
}
