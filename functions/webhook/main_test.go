package main

import (
	"strings"
	"testing"
)

func TestWireNamesMissingSettings(t *testing.T) {
	_, err := wire(t.Context(), func(string) string { return "" })
	if err == nil {
		t.Fatal("wire succeeded with an empty environment")
	}
	for _, name := range []string{"TABLE_NAME", "SYNC_QUEUE_URL", "KMS_KEY_ID"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
