package configapifn_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/wiring/configapifn"
)

func TestFromEnv(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	env := map[string]string{
		"TABLE_NAME":         "hubsend",
		"SYNC_QUEUE_URL":     "http://127.0.0.1:1/000000000000/sync",
		"HUBSEND_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
	if _, err := configapifn.FromEnv(t.Context(), func(name string) string { return env[name] }); err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	_, err := configapifn.FromEnv(t.Context(), func(string) string { return "" })
	for _, name := range []string{"TABLE_NAME", "SYNC_QUEUE_URL", "KMS_KEY_ID"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("FromEnv of an empty environment = %v, want an error naming %s", err, name)
		}
	}
}
