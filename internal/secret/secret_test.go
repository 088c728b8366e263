package secret

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

type countingKeys struct {
	*LocalKeys
	decrypts int
}

func (c *countingKeys) Decrypt(ctx context.Context, wrapped []byte) ([]byte, error) {
	c.decrypts++
	return c.LocalKeys.Decrypt(ctx, wrapped)
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
