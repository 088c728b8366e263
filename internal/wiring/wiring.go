// Package wiring turns a hubsend function's environment (as template.yaml
// sets it, or as the local stack and the benchmarks give it) into the
// dependencies every function shares: the logger, the AWS clients, the
// secret box, the configuration store, the sync queue, the Contactsend
// client and the one Contacthub client factory.
//
// Each function's handler is built from these by its own subpackage
// (configapifn, schedulerfn, syncworkerfn, webhookfn), which the Lambda's
// main.go, the local stack and the benchmarks all call: what runs locally
// is what runs on AWS. The split keeps each binary to what its function
// uses; this package imports none of the sync's own packages.
package wiring

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/alerts"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/publicnet"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/secret"
)

// Env is a function's configuration.
type Env struct {
	TableName    string
	SyncQueueURL string
	// TickQueueURL is the scheduler's fan-out queue (one tick per source).
	TickQueueURL string
	// BulkQueueURL is the bulk lane's queue: the bulk worker's input, and
	// where the scheduler sends backfills when it is set.
	BulkQueueURL        string
	KMSKeyID            string
	MasterKey           []byte // local runs only, instead of KMS
	ContactsendEndpoint string
	WorkspaceClaim      string
	// RoleClaim and GroupClaim say where the config API reads a caller's
	// role (and, for GroupClaim, workspace too); see configapi.Config.
	RoleClaim  string
	GroupClaim string
	// SignIn* tell the console how to sign people in (OpenID Connect,
	// authorization code with PKCE); empty leaves it asking for a token.
	SignInIssuer, SignInClientID, SignInAuthorizeURL, SignInTokenURL, SignInLogoutURL string
	LogLevel                                                                          slog.Level
	AllowInsecureHub                                                                  bool
	// AlertTopicARN is the SNS topic of per-source alerts; empty sends
	// alerts to webhooks only.
	AlertTopicARN string
}

// SyncQueueURL names the setting of the sync queue, which every function
// but the sync worker needs (Load's required).
const SyncQueueURL = "SYNC_QUEUE_URL"

// TickQueueURL names the setting of the scheduler's tick queue, which the
// scheduled tick fans out to.
const TickQueueURL = "SOURCE_TICK_QUEUE_URL"

// BulkQueueURL names the setting of the bulk queue.
const BulkQueueURL = "BULK_QUEUE_URL"

// Read reads the environment through getenv (os.Getenv in a function).
// TABLE_NAME and a key to seal secrets with are always required, and so is
// each variable named in required; the error names every one missing.
func Read(getenv func(string) string, required ...string) (Env, error) {
	env := Env{
		TableName:           getenv("TABLE_NAME"),
		SyncQueueURL:        getenv(SyncQueueURL),
		TickQueueURL:        getenv(TickQueueURL),
		BulkQueueURL:        getenv(BulkQueueURL),
		KMSKeyID:            getenv("KMS_KEY_ID"),
		ContactsendEndpoint: getenv("CONTACTSEND_ENDPOINT"),
		WorkspaceClaim:      getenv("WORKSPACE_CLAIM"),
		RoleClaim:           getenv("ROLE_CLAIM"),
		GroupClaim:          getenv("GROUP_CLAIM"),
		SignInIssuer:        getenv("SIGNIN_ISSUER"),
		SignInClientID:      getenv("SIGNIN_CLIENT_ID"),
		SignInAuthorizeURL:  getenv("SIGNIN_AUTHORIZE_URL"),
		SignInTokenURL:      getenv("SIGNIN_TOKEN_URL"),
		SignInLogoutURL:     getenv("SIGNIN_LOGOUT_URL"),
		AlertTopicARN:       getenv("ALERT_TOPIC_ARN"),
	}
	var errs []error
	if env.TableName == "" {
		errs = append(errs, errors.New("TABLE_NAME is not set"))
	}
	for _, name := range required {
		if getenv(name) == "" {
			errs = append(errs, fmt.Errorf("%s is not set", name))
		}
	}
	if key := getenv("HUBSEND_MASTER_KEY"); key != "" {
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != 32 {
			errs = append(errs, errors.New("HUBSEND_MASTER_KEY must be 32 bytes in base64"))
		}
		env.MasterKey = raw
	}
	if env.KMSKeyID == "" && env.MasterKey == nil {
		errs = append(errs, errors.New("set KMS_KEY_ID (in AWS) or HUBSEND_MASTER_KEY (locally) to encrypt secrets"))
	}
	if err := env.LogLevel.UnmarshalText([]byte(defaultString(getenv("LOG_LEVEL"), "INFO"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if v := getenv("HUBSEND_ALLOW_INSECURE_HUB"); v != "" {
		allow, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HUBSEND_ALLOW_INSECURE_HUB: %w", err))
		}
		env.AllowInsecureHub = allow
	}
	return env, errors.Join(errs...)
}

func defaultString(v, fallback string) string {
	if strings.TrimSpace(v) == "" {
		return fallback
	}
	return v
}

// Logger returns the JSON logger every function writes with.
func (e Env) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: e.LogLevel}))
}

// DynamoDB is what the functions' stores call (configstore, checkpoint,
// ledger, the webhook's dedupe records); *dynamodb.Client provides it.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Clients are what the functions talk to outside the process. In a Lambda
// they come from the AWS SDK's default configuration (ClientsFrom); the
// local stack points them at the emulators, the benchmarks wrap them to
// count requests.
type Clients struct {
	DynamoDB DynamoDB
	SQS      SQS
	// KMS seals secrets when the environment names a KMS key; unused with
	// a master key.
	KMS secret.KMSAPI
	// ContactsendHTTP carries the Contactsend client's calls; nil means a
	// default http.Client.
	ContactsendHTTP *http.Client
	// AWS is the SDK configuration the clients came from (nil when they
	// were made otherwise): the functions that send alerts make their SNS
	// client from it, so that the others do not link one.
	AWS *aws.Config
}

// SQS is what the functions ask of SQS: sending jobs, and giving a job back
// with a redelivery delay.
type SQS interface {
	jobs.SQS
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// ClientsFrom returns the AWS clients of cfg.
func ClientsFrom(cfg aws.Config) Clients {
	return Clients{DynamoDB: dynamodb.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg), KMS: kms.NewFromConfig(cfg), AWS: &cfg}
}

// Deps are the dependencies the functions share. The function builders
// take them by value, so a caller may replace the Logger (or any other
// field) for one function without touching the others.
type Deps struct {
	Env      Env
	Logger   *slog.Logger
	DynamoDB DynamoDB
	// Store is the configuration store on Env.TableName.
	Store *configstore.Store
	// Jobs is the sync queue; nil when Env.SyncQueueURL is empty.
	Jobs *jobs.Queue
	// SQS is the client behind Jobs; the sync worker also changes the
	// visibility of the messages it gives back through it.
	SQS  SQS
	Send *contactsend.Client
	// Alerts keeps the per-source alert settings and states.
	Alerts *alerts.DynamoStore
	// AWS: see Clients.
	AWS *aws.Config
	// HubHTTP carries the Contacthub clients' calls, and AlertHTTP the
	// alert webhooks'; New sets ones that reach public addresses only
	// (publicOnly), unless the environment allows a local stack's hosts.
	HubHTTP, AlertHTTP *http.Client
}

// publicOnly returns d with Contacthub and alert webhook clients that
// connect to public internet addresses only (package publicnet), unless
// the environment allows the insecure local hosts of a local stack. A
// workspace admin chooses the Contacthub address and the alert webhook
// URL; the check when they are saved sees only the host name, which may
// resolve to this machine, the metadata service or a private network, and
// the answer would tell the admin what the call met there.
func (d Deps) publicOnly() Deps {
	if d.Env.AllowInsecureHub {
		return d
	}
	d.HubHTTP = &http.Client{Transport: publicnet.Transport()}
	d.AlertHTTP = alerts.WebhookClient(publicnet.Transport())
	return d
}

// Load reads the environment and connects to AWS the SDK's usual way (so
// AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS point a function run
// locally at the emulators): what a function does at start.
func Load(ctx context.Context, getenv func(string) string, required ...string) (Deps, error) {
	env, err := Read(getenv, required...)
	if err != nil {
		return Deps{}, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return Deps{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return New(env, ClientsFrom(cfg), env.Logger())
}

// New builds the shared dependencies of env on clients.
func New(env Env, clients Clients, logger *slog.Logger) (Deps, error) {
	if env.TableName == "" {
		return Deps{}, errors.New("wiring: no table name")
	}
	if clients.DynamoDB == nil {
		return Deps{}, errors.New("wiring: no DynamoDB client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	box, err := secretBox(env, clients)
	if err != nil {
		return Deps{}, err
	}
	send, err := contactsend.New(contactsend.Config{Endpoint: env.ContactsendEndpoint, HTTPClient: clients.ContactsendHTTP, Logger: logger})
	if err != nil {
		return Deps{}, fmt.Errorf("wiring: Contactsend client: %w", err)
	}
	d := Deps{
		Env: env, Logger: logger, DynamoDB: clients.DynamoDB,
		Store:  configstore.New(clients.DynamoDB, env.TableName, box),
		Send:   send,
		Alerts: alerts.NewStore(clients.DynamoDB, env.TableName, box),
		AWS:    clients.AWS,
	}
	if env.SyncQueueURL != "" {
		if clients.SQS == nil {
			return Deps{}, errors.New("wiring: a sync queue without an SQS client")
		}
		d.Jobs = jobs.NewQueue(clients.SQS, env.SyncQueueURL)
		d.SQS = clients.SQS
	}
	if env.BulkQueueURL != "" {
		if clients.SQS == nil {
			return Deps{}, errors.New("wiring: a bulk queue without an SQS client")
		}
		d.SQS = clients.SQS
	}
	// Every function that calls Contacthub or an alert webhook calls a
	// host a workspace admin chose, and what it meets there reaches that
	// admin (answers, failed records, status).
	return d.publicOnly(), nil
}

// secretBox is KMS-backed in AWS, master-key-backed locally.
func secretBox(env Env, clients Clients) (*secret.Box, error) {
	if env.MasterKey != nil {
		keys, err := secret.NewLocalKeys(env.MasterKey)
		if err != nil {
			return nil, err
		}
		return secret.NewBox(keys), nil
	}
	if env.KMSKeyID == "" || clients.KMS == nil {
		return nil, errors.New("wiring: secrets need a master key, or a KMS key id and a KMS client")
	}
	return secret.NewBox(secret.NewKMSKeys(clients.KMS, env.KMSKeyID)), nil
}

// ErrNoSyncQueue is a function that enqueues jobs built without a sync
// queue.
var ErrNoSyncQueue = errors.New(SyncQueueURL + " is not set")

// Queue returns the sync queue, or ErrNoSyncQueue.
func (d Deps) Queue() (*jobs.Queue, error) {
	if d.Jobs == nil {
		return nil, ErrNoSyncQueue
	}
	return d.Jobs, nil
}

// Contacthub opens Contacthub for a workspace's stored connection: every
// function makes its Contacthub clients here, each with the retry policy
// that suits its calls (the zero policy is retry.Default's).
func (d Deps) Contacthub(conn configstore.Connection, policy retry.Policy) (*contacthub.Client, error) {
	return contacthub.New(contacthub.Config{
		BaseURL: conn.ContacthubBaseURL, WorkspaceID: conn.ContacthubWorkspaceID, Token: conn.ContacthubToken,
		Retry: policy, HTTPClient: d.HubHTTP,
	})
}
