package wiring_test

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/wiring"
)

func TestReadNamesEveryProblem(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name     string
		env      map[string]string
		required []string
		want     []string // in the error; none means no error
	}{
		{"complete", map[string]string{"TABLE_NAME": "t", "HUBSEND_MASTER_KEY": key}, nil, nil},
		{"KMS instead of a master key", map[string]string{"TABLE_NAME": "t", "KMS_KEY_ID": "k"}, nil, nil},
		{"empty", map[string]string{}, []string{wiring.SyncQueueURL}, []string{"TABLE_NAME", "SYNC_QUEUE_URL", "KMS_KEY_ID"}},
		{"short master key", map[string]string{"TABLE_NAME": "t", "HUBSEND_MASTER_KEY": "c2hvcnQ="}, nil, []string{"HUBSEND_MASTER_KEY must be 32 bytes"}},
		{"bad log level", map[string]string{"TABLE_NAME": "t", "KMS_KEY_ID": "k", "LOG_LEVEL": "LOUD"}, nil, []string{"LOG_LEVEL"}},
		{"bad insecure switch", map[string]string{"TABLE_NAME": "t", "KMS_KEY_ID": "k", "HUBSEND_ALLOW_INSECURE_HUB": "perhaps"}, nil, []string{"HUBSEND_ALLOW_INSECURE_HUB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wiring.Read(func(name string) string { return tc.env[name] }, tc.required...)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Read = %v", err)
				}
				return
			}
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Read = %v, want an error naming %s", err, want)
				}
			}
		})
	}
}

func TestNewWithoutAQueue(t *testing.T) {
	d, err := wiring.New(wiring.Env{TableName: "t", MasterKey: make([]byte, 32)}, wiring.Clients{DynamoDB: dynamodb.NewFromConfig(aws.Config{Region: "eu-west-1"})}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Queue(); !errors.Is(err, wiring.ErrNoSyncQueue) {
		t.Fatalf("Queue without SYNC_QUEUE_URL = %v, want ErrNoSyncQueue", err)
	}
}
