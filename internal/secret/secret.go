// Package secret keeps credentials encrypted at rest with envelope
// encryption: each secret is sealed with AES-256-GCM under its own data key,
// and the data key is stored wrapped by a key service (AWS KMS in the cloud,
// a locally configured master key for `make run` and tests), bound to its
// purpose by an encryption context. It also masks secrets for display.
package secret

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"unicode/utf8"
)

// KeyService issues and unwraps data keys, as AWS KMS does.
type KeyService interface {
	// GenerateDataKey returns a new 32-byte key and the same key wrapped,
	// bound to encryptionContext (none when empty).
	GenerateDataKey(ctx context.Context, encryptionContext map[string]string) (plaintext, wrapped []byte, err error)
	// Decrypt unwraps a data key made by GenerateDataKey; it fails unless
	// encryptionContext is the one the key was generated with.
	Decrypt(ctx context.Context, wrapped []byte, encryptionContext map[string]string) ([]byte, error)
}

// PurposeContextKey is the encryption context key under which a data key
// is bound to the purpose (record and field) of the secret it seals. With
// AWS KMS it appears in CloudTrail beside every Decrypt, and a wrapped data
// key moved to another record does not unwrap there.
const PurposeContextKey = "purpose"

// ErrCorrupt means a sealed value cannot be opened: damaged, truncated, or
// sealed for another purpose (the associated data differs).
var ErrCorrupt = errors.New("sealed secret cannot be opened")

// Sealed value formats: a version byte, the wrapped data key's length
// (uint16) and bytes, the GCM nonce, then the ciphertext with the purpose as
// associated data.
const (
	// formatNoContext wraps the data key without an encryption context. Only
	// values sealed before the context was introduced have it; they still
	// open.
	formatNoContext = 1
	// formatPurposeContext wraps the data key with the purpose as its
	// encryption context.
	formatPurposeContext = 2
)

// Box seals and opens secrets. It caches unwrapped data keys so reading the
// same secret again costs no key-service call. It is safe for concurrent use.
type Box struct {
	keys KeyService

	mu    sync.Mutex
	cache map[[32]byte][]byte
}

// maxCachedKeys bounds the cache; beyond it the cache starts over, which only
// costs key-service calls.
const maxCachedKeys = 1024

// NewBox returns a Box whose data keys come from keys.
func NewBox(keys KeyService) *Box {
	return &Box{keys: keys, cache: make(map[[32]byte][]byte)}
}

// Seal encrypts plaintext. purpose (e.g. "source/<id>/apiKey") is bound to
// the ciphertext as associated data and to its data key as the key
// service's encryption context, so a sealed value copied to another record
// or field will not open there.
func (b *Box) Seal(ctx context.Context, plaintext, purpose string) ([]byte, error) {
	key, wrapped, err := b.keys.GenerateDataKey(ctx, purposeContext(purpose))
	if err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	if len(wrapped) > 0xffff {
		return nil, fmt.Errorf("wrapped data key of %d bytes is too long", len(wrapped))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	b.remember(cacheID(formatPurposeContext, purpose, wrapped), key)

	var out bytes.Buffer
	out.WriteByte(formatPurposeContext)
	binary.Write(&out, binary.BigEndian, uint16(len(wrapped)))
	out.Write(wrapped)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out.Write(nonce)
	return aead.Seal(out.Bytes(), nonce, []byte(plaintext), []byte(purpose)), nil
}

// Open decrypts a value made by Seal for the same purpose.
func (b *Box) Open(ctx context.Context, sealed []byte, purpose string) (string, error) {
	if len(sealed) < 3 || (sealed[0] != formatNoContext && sealed[0] != formatPurposeContext) {
		return "", ErrCorrupt
	}
	format := sealed[0]
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	rest := sealed[3:]
	if len(rest) < n {
		return "", ErrCorrupt
	}
	wrapped, rest := rest[:n], rest[n:]
	key, err := b.dataKey(ctx, format, purpose, wrapped)
	if err != nil {
		return "", err
	}
	aead, err := newGCM(key)
	if err != nil {
		return "", err
	}
	if len(rest) < aead.NonceSize() {
		return "", ErrCorrupt
	}
	plaintext, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(purpose))
	if err != nil {
		return "", ErrCorrupt
	}
	return string(plaintext), nil
}

func (b *Box) dataKey(ctx context.Context, format byte, purpose string, wrapped []byte) ([]byte, error) {
	id := cacheID(format, purpose, wrapped)
	b.mu.Lock()
	key, ok := b.cache[id]
	b.mu.Unlock()
	if ok {
		return key, nil
	}
	var encryptionContext map[string]string
	if format == formatPurposeContext {
		encryptionContext = purposeContext(purpose)
	}
	key, err := b.keys.Decrypt(ctx, wrapped, encryptionContext)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	b.remember(id, key)
	return key, nil
}

func purposeContext(purpose string) map[string]string {
	return map[string]string{PurposeContextKey: purpose}
}

// cacheID names an unwrapped data key in the cache by everything its
// unwrapping depended on, so a cache hit never skips a check the key service
// would have made (a key bound to one purpose is not served for another).
func cacheID(format byte, purpose string, wrapped []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{format})
	if format == formatPurposeContext {
		binary.Write(h, binary.BigEndian, uint32(len(purpose)))
		h.Write([]byte(purpose))
	}
	h.Write(wrapped)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

func (b *Box) remember(id [32]byte, key []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cache) >= maxCachedKeys {
		clear(b.cache)
	}
	b.cache[id] = key
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("data key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return cipher.NewGCM(block)
}

// LocalKeys wraps data keys under a master key held in configuration, for
// running without AWS KMS.
type LocalKeys struct {
	aead cipher.AEAD
}

// NewLocalKeys returns a key service using a 32-byte master key.
func NewLocalKeys(master []byte) (*LocalKeys, error) {
	aead, err := newGCM(master)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &LocalKeys{aead: aead}, nil
}

// GenerateDataKey returns a random data key and the key wrapped by the
// master key, with the encryption context as associated data, as KMS binds it.
func (k *LocalKeys) GenerateDataKey(_ context.Context, encryptionContext map[string]string) ([]byte, []byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	return key, k.aead.Seal(nonce, nonce, key, wrapAssociatedData(encryptionContext)), nil
}

// Decrypt unwraps a data key wrapped with the same encryption context.
func (k *LocalKeys) Decrypt(_ context.Context, wrapped []byte, encryptionContext map[string]string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(wrapped) < n {
		return nil, ErrCorrupt
	}
	key, err := k.aead.Open(nil, wrapped[:n], wrapped[n:], wrapAssociatedData(encryptionContext))
	if err != nil {
		return nil, fmt.Errorf("%w: data key was not wrapped by this master key with this encryption context", ErrCorrupt)
	}
	return key, nil
}

// wrapAssociatedData is what a local data key is bound to: a fixed label
// (all there was before encryption contexts, so those keys still unwrap with
// an empty context) followed by the context's pairs in key order, each
// length-prefixed so no two contexts encode alike.
func wrapAssociatedData(encryptionContext map[string]string) []byte {
	out := []byte("hubsend data key")
	for _, k := range slices.Sorted(maps.Keys(encryptionContext)) {
		for _, s := range []string{k, encryptionContext[k]} {
			out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
			out = append(out, s...)
		}
	}
	return out
}

// Mask shows that a secret is set without revealing it: a fixed run of dots
// and, for secrets long enough that it gives nothing away, the last four
// characters so people can tell keys apart.
func Mask(secret string) string {
	const dots = "••••"
	if secret == "" {
		return ""
	}
	if utf8.RuneCountInString(secret) < 12 {
		return dots
	}
	runes := []rune(secret)
	return dots + string(runes[len(runes)-4:])
}

// IsMask reports whether s looks like a value Mask produced, which clients
// send back unchanged when they do not mean to change a secret.
func IsMask(s string) bool {
	return len(s) >= len("••••") && s[:len("••••")] == "••••"
}
