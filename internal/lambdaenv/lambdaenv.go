// Package lambdaenv reads a hubsend function's configuration from its
// environment (as template.yaml sets it, or as the local stack does) and
// builds the clients every function shares: the logger, AWS clients, the
// secret box and the configuration store.
package lambdaenv

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/secret"
)

// Env is a function's configuration.
type Env struct {
	TableName           string
	SyncQueueURL        string
	KMSKeyID            string
	MasterKey           []byte // local runs only, instead of KMS
	ContactsendEndpoint string
	WorkspaceClaim      string
	LogLevel            slog.Level
	AllowInsecureHub    bool
}

// Read reads the environment through getenv (os.Getenv in a function).
func Read(getenv func(string) string) (Env, error) {
	env := Env{
		TableName:           getenv("TABLE_NAME"),
		SyncQueueURL:        getenv("SYNC_QUEUE_URL"),
		KMSKeyID:            getenv("KMS_KEY_ID"),
		ContactsendEndpoint: getenv("CONTACTSEND_ENDPOINT"),
		WorkspaceClaim:      getenv("WORKSPACE_CLAIM"),
	}
	var errs []error
	if env.TableName == "" {
		errs = append(errs, errors.New("TABLE_NAME is not set"))
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

// AWS loads the AWS configuration the usual way, so AWS_ENDPOINT_URL_DYNAMODB
// and AWS_ENDPOINT_URL_SQS point a local run at the emulators.
func AWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Box returns the secret box: KMS-backed in AWS, master-key-backed locally.
func (e Env) Box(cfg aws.Config) (*secret.Box, error) {
	if e.MasterKey != nil {
		keys, err := secret.NewLocalKeys(e.MasterKey)
		if err != nil {
			return nil, err
		}
		return secret.NewBox(keys), nil
	}
	return secret.NewBox(secret.NewKMSKeys(kms.NewFromConfig(cfg), e.KMSKeyID)), nil
}

// Store returns the configuration store on the function's table.
func (e Env) Store(cfg aws.Config, box *secret.Box) *configstore.Store {
	return configstore.New(dynamodb.NewFromConfig(cfg), e.TableName, box)
}

// Contactsend returns the Contactsend client for the configured endpoint.
func (e Env) Contactsend(logger *slog.Logger) (*contactsend.Client, error) {
	return contactsend.New(contactsend.Config{Endpoint: e.ContactsendEndpoint, Logger: logger})
}

// Ledger returns the sync ledger on the function's table.
func (e Env) Ledger(cfg aws.Config) *ledger.Store {
	return ledger.New(dynamodb.NewFromConfig(cfg), e.TableName)
}
