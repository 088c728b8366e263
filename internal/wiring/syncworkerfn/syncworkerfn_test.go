package syncworkerfn_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/wiring/syncworkerfn"
)

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"TABLE_NAME":           "hubsend",
		"HUBSEND_MASTER_KEY":   base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"CONTACTSEND_ENDPOINT": "http://127.0.0.1:1/soap/services",
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if _, err := syncworkerfn.FromEnv(context.Background(), func(k string) string { return env[k] }); err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if _, err := syncworkerfn.FromEnv(context.Background(), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "TABLE_NAME") {
		t.Fatalf("FromEnv without environment = %v, want a TABLE_NAME error", err)
	}
}
