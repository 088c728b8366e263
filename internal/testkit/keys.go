package testkit

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/hubsend/hubsend/internal/secret"
)

// MasterKey returns the tests' local master key (32 bytes, a fresh copy),
// what HUBSEND_MASTER_KEY holds in `make run`-like set-ups.
func MasterKey() []byte { return bytes.Repeat([]byte{7}, 32) }

// MasterKeyBase64 returns MasterKey as the HUBSEND_MASTER_KEY environment
// variable carries it.
func MasterKeyBase64() string { return base64.StdEncoding.EncodeToString(MasterKey()) }

// Box returns a secret box on MasterKey: what it seals, any Box of this
// package (or a function configured with MasterKeyBase64) opens.
func Box(t testing.TB) *secret.Box {
	t.Helper()
	keys, err := secret.NewLocalKeys(MasterKey())
	if err != nil {
		t.Fatalf("test master key: %v", err)
	}
	return secret.NewBox(keys)
}
