package webhookfn_test

import (
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/wiring/webhookfn"
)

func TestFromEnvNamesMissingSettings(t *testing.T) {
	_, err := webhookfn.FromEnv(t.Context(), func(string) string { return "" })
	if err == nil {
		t.Fatal("FromEnv succeeded with an empty environment")
	}
	for _, name := range []string{"TABLE_NAME", "SYNC_QUEUE_URL", "KMS_KEY_ID"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
