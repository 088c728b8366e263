package bulkworkerfn_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/wiring/bulkworkerfn"
)

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"TABLE_NAME":           "hubsend",
		"HUBSEND_MASTER_KEY":   base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"CONTACTSEND_ENDPOINT": "http://127.0.0.1:1/soap/services",
		"BULK_QUEUE_URL":       "http://127.0.0.1:1/000000000000/hubsend-BulkQueue",
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	h, err := bulkworkerfn.FromEnv(context.Background(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if h.Loader == nil || h.PerCustomer == nil || h.QueueURL != env["BULK_QUEUE_URL"] {
		t.Fatalf("handler %+v: want a loader, a per-customer worker and the bulk queue", h)
	}
	delete(env, "BULK_QUEUE_URL")
	if _, err := bulkworkerfn.FromEnv(context.Background(), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "BULK_QUEUE_URL") {
		t.Fatalf("FromEnv without the bulk queue = %v, want an error naming BULK_QUEUE_URL", err)
	}
}
