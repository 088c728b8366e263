package secret

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
)

// countingKeys records what the box asks of its key service.
type countingKeys struct {
	*LocalKeys
	decrypts  int
	generated []map[string]string // encryption contexts, one per call
	decrypted []map[string]string
}

func (c *countingKeys) GenerateDataKey(ctx context.Context, encryptionContext map[string]string) ([]byte, []byte, error) {
	c.generated = append(c.generated, encryptionContext)
	return c.LocalKeys.GenerateDataKey(ctx, encryptionContext)
}

func (c *countingKeys) Decrypt(ctx context.Context, wrapped []byte, encryptionContext map[string]string) ([]byte, error) {
	c.decrypts++
	c.decrypted = append(c.decrypted, encryptionContext)
	return c.LocalKeys.Decrypt(ctx, wrapped, encryptionContext)
}

func newKeys(t *testing.T, fill byte) *countingKeys {
	t.Helper()
	k, err := NewLocalKeys(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &countingKeys{LocalKeys: k}
}

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	keys := newKeys(t, 7)
	box := NewBox(keys)
	const plaintext = "api-key-0123456789abcdef"
	sealed, err := box.Seal(ctx, plaintext, "source/s1/apiKey")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(plaintext)) {
		t.Fatal("sealed value contains the plaintext")
	}

	// A fresh box (a new Lambda container) must unwrap through the key service once.
	fresh := NewBox(keys)
	for range 3 {
		got, err := fresh.Open(ctx, sealed, "source/s1/apiKey")
		if err != nil || got != plaintext {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	if keys.decrypts != 1 {
		t.Errorf("key service decrypted %d times for 3 opens, want 1", keys.decrypts)
	}

	again, _ := box.Seal(ctx, plaintext, "source/s1/apiKey")
	if bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes; nonces or data keys repeat")
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	box := NewBox(newKeys(t, 7))
	sealed, err := box.Seal(ctx, "secret", "source/s1/apiKey")
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		box     *Box
		sealed  []byte
		purpose string
	}{
		{"other purpose", box, sealed, "source/s2/apiKey"},
		{"tampered", box, flipped, "source/s1/apiKey"},
		{"truncated", box, sealed[:10], "source/s1/apiKey"},
		{"empty", box, nil, "source/s1/apiKey"},
		{"other master key", NewBox(newKeys(t, 8)), sealed, "source/s1/apiKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.box.Open(ctx, tt.sealed, tt.purpose); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "••••"},
		{"0123456789ab", "••••89ab"},
		{"api-key-0123456789abcdef", "••••cdef"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in != "" && !IsMask(Mask(tt.in)) {
			t.Errorf("IsMask(Mask(%q)) = false", tt.in)
		}
	}
	if IsMask("plain-key") {
		t.Error("IsMask(plain-key) = true")
	}
}

// TestDataKeyBoundToPurpose checks that each data key is generated and
// unwrapped with its secret's purpose as the encryption context, so the key
// service itself (KMS, and CloudTrail beside it) refuses a wrapped key moved
// to another record.
func TestDataKeyBoundToPurpose(t *testing.T) {
	ctx := context.Background()
	keys := newKeys(t, 7)
	const purpose = "source/s1/apiKey"
	sealed, err := NewBox(keys).Seal(ctx, "api-key-0123456789abcdef", purpose)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{PurposeContextKey: purpose}
	if len(keys.generated) != 1 || !maps.Equal(keys.generated[0], want) {
		t.Fatalf("GenerateDataKey contexts = %v, want [%v]", keys.generated, want)
	}
	if _, err := NewBox(keys).Open(ctx, sealed, purpose); err != nil {
		t.Fatal(err)
	}
	if len(keys.decrypted) != 1 || !maps.Equal(keys.decrypted[0], want) {
		t.Fatalf("Decrypt contexts = %v, want [%v]", keys.decrypted, want)
	}

	wrapped := wrappedKey(t, sealed)
	for _, other := range []map[string]string{nil, {PurposeContextKey: "source/s2/apiKey"}, {PurposeContextKey: purpose, "extra": "x"}} {
		if _, err := keys.LocalKeys.Decrypt(ctx, wrapped, other); !errors.Is(err, ErrCorrupt) {
			t.Errorf("data key unwrapped with context %v: %v, want ErrCorrupt", other, err)
		}
	}

	// Claiming the old format (no context) does not get around the binding.
	downgraded := bytes.Clone(sealed)
	downgraded[0] = formatNoContext
	if _, err := NewBox(keys).Open(ctx, downgraded, purpose); !errors.Is(err, ErrCorrupt) {
		t.Errorf("downgraded value: %v, want ErrCorrupt", err)
	}

	// A key cached for one purpose is not served for another: the key
	// service is asked, and refuses.
	box := NewBox(keys)
	if _, err := box.Open(ctx, sealed, purpose); err != nil {
		t.Fatal(err)
	}
	before := keys.decrypts
	if _, err := box.Open(ctx, sealed, "source/s2/apiKey"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open for another purpose: %v, want ErrCorrupt", err)
	}
	if keys.decrypts != before+1 {
		t.Errorf("open for another purpose made %d key service calls, want 1 (no cache hit)", keys.decrypts-before)
	}
}

// TestOpensValuesSealedWithoutContext opens a value sealed by the previous
// release (testdata/sealed-v1.hex, master key of 32 bytes 0x07), whose data
// key was wrapped without an encryption context: stored secrets stay
// readable after an upgrade.
func TestOpensValuesSealedWithoutContext(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile("testdata/sealed-v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != formatNoContext {
		t.Fatalf("fixture has format %d, want %d", sealed[0], formatNoContext)
	}
	keys := newKeys(t, 7)
	got, err := NewBox(keys).Open(ctx, sealed, "source/s1/apiKey")
	if err != nil || got != "api-key-sealed-before-encryption-context" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if len(keys.decrypted) != 1 || len(keys.decrypted[0]) != 0 {
		t.Errorf("Decrypt contexts = %v, want one call without a context", keys.decrypted)
	}
	if _, err := NewBox(keys).Open(ctx, sealed, "source/s2/apiKey"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("old value opened for another purpose: %v, want ErrCorrupt", err)
	}
	// Sealing again writes the new format.
	resealed, err := NewBox(keys).Seal(ctx, got, "source/s1/apiKey")
	if err != nil || resealed[0] != formatPurposeContext {
		t.Fatalf("reseal: format %d, %v; want %d", resealed[0], err, formatPurposeContext)
	}
}

// wrappedKey extracts the wrapped data key from a sealed value.
func wrappedKey(t *testing.T, sealed []byte) []byte {
	t.Helper()
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	return sealed[3 : 3+n]
}
