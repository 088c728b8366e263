// Package configstore keeps hubsend's configuration in DynamoDB: sources,
// the guard items that make "one source : one node : one userdb" hold under
// concurrency, and each workspace's Contacthub connection. Every write is a
// single-item conditional write, so it works the same on DynamoDB and on
// emulators without transactions, and a crash between two writes never
// leaves a node or userdb blocked: a guard whose owner does not hold it any
// more is stale and can be taken over.
//
// # What a guard is keyed on
//
// A guard must be keyed on what identifies the resource, never on text a
// caller chooses, or a second spelling of the same resource gets a second
// guard.
//
// The userdb guard is keyed on the Contactsend userdb id alone. Contactsend
// exposes no account identity: SubscriberSource carries an identifier, a
// name and fields but no owner, and an apiKey is only one of possibly many
// keys ("unique key for your company account", and a company may hold
// several, as the local Contactsend simulator's seed does). The userdb id
// (sourceIdentifier) is the one handle every call names a userdb by, with
// no account in the request besides the token, so it is a number of the
// whole Contactsend platform, not of one account: keying on it alone makes
// any key, any spelling of a key and any hubsend workspace meet the same
// guard. The cost, should two accounts ever share a number, is a refusal,
// never a second source on one userdb.
//
// The node guard is keyed on the Contacthub workspace id (from the hubsend
// workspace's connection, looked up at every write) and the node id: two
// hubsend workspaces connected to one Contacthub workspace share its nodes.
// Contacthub workspace ids are globally unique, so the API base URL is left
// out (two spellings of one URL must not make two nodes). The config API
// refuses to change a workspace's Contacthub workspace while it has sources.
// A workspace with no connection (only tests store sources without one)
// keys the node on the hubsend workspace, as the previous release did.
//
// An aggregate node and one of its entry nodes are different nodes and may
// each have a source. They never write the same thing: a source writes its
// own userdb (one source per userdb), and only an entry-node source writes
// to Contacthub, because subscription sync, the only flow back to
// Contacthub, is refused on aggregate nodes. The same customer may then be
// a subscriber of two userdbs, which is what two sources mean.
//
// Sources stored by the previous release hold guards keyed on a hash of
// their apiKey and on the hubsend workspace. They keep holding them (a
// source item records the keys of its guards), a replace moves a source to
// the current keys, and MigrateGuardKeys moves them all at once: run it
// once after upgrading (cmd/hubsend-migrate-guards). Until then a new
// source is also checked against the legacy guards, which refuses it
// against an old source as the previous release did (same apiKey text,
// same hubsend workspace), no better.
package configstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/secret"
)

// DynamoDB is the part of the DynamoDB client the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Errors callers branch on.
var (
	ErrNotFound        = errors.New("not found")
	ErrVersionMismatch = errors.New("version does not match the stored one")
	ErrEnabled         = errors.New("source is enabled")
)

// ConflictError says a node or userdb already belongs to another source.
type ConflictError struct {
	// Resource is "node" or "userdb".
	Resource string
	// Key is the node id or userdb id that is taken.
	Key string
	// Owner is the owning source's id, empty when it belongs to another
	// workspace (whose sources this caller must not learn about).
	Owner string
}

func (e *ConflictError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("%s %s is already served by a source of another workspace", e.Resource, e.Key)
	}
	return fmt.Sprintf("%s %s is already served by source %s", e.Resource, e.Key, e.Owner)
}

// DefaultLease is how long a guard claimed by an unfinished write protects
// its claim. It only needs to outlast one create or replace.
const DefaultLease = 30 * time.Second

// Store reads and writes configuration items.
type Store struct {
	db    DynamoDB
	table string
	box   *secret.Box
	now   func() time.Time
	lease time.Duration
}

// Option adjusts a Store.
type Option func(*Store)

// WithClock makes the store read time from now (tests move it past leases).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLease sets how long an unfinished claim protects a guard.
func WithLease(d time.Duration) Option { return func(s *Store) { s.lease = d } }

// New returns a store on table, sealing secrets with box.
func New(db DynamoDB, table string, box *secret.Box, opts ...Option) *Store {
	s := &Store{db: db, table: table, box: box, now: time.Now, lease: DefaultLease}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Keys of the single-table design.
func sourceKey(id string) string           { return "SOURCE#" + id }
func workspaceKey(workspace string) string { return "WS#" + workspace }

// hubNodeGuardKey names a Contacthub node across every hubsend workspace:
// Contacthub workspace ids are globally unique, and node ids are unique
// within their workspace. Two hubsend workspaces connected to the same
// Contacthub workspace share these guards.
func hubNodeGuardKey(hubWorkspace, node string) string {
	return "GUARD#HUBNODE#" + hubWorkspace + "#" + node
}

// userDBGuardKey names a Contactsend userdb across every hubsend workspace
// and every key that reaches it: see the package documentation.
func userDBGuardKey(userDB int64) string {
	return "GUARD#SENDUSERDB#" + strconv.FormatInt(userDB, 10)
}

// legacyNodeGuardKey is the node guard of sources stored before guards
// were keyed on the Contacthub workspace, and of sources whose hubsend
// workspace has no Contacthub connection (tests that store sources
// directly).
func legacyNodeGuardKey(workspace, node string) string {
	return "GUARD#NODE#" + workspace + "#" + node
}

// legacyUserDBGuardKey is the userdb guard of sources stored before guards
// were keyed on the userdb alone.
func legacyUserDBGuardKey(apiKey string, userDB int64) string {
	sum := sha256.Sum256([]byte("hubsend userdb account:" + apiKey))
	return legacyUserDBGuardPrefix + hex.EncodeToString(sum[:16]) + "#" + strconv.FormatInt(userDB, 10)
}

// legacyUserDBGuardPrefix starts the userdb guards of sources stored before
// guards were keyed on the userdb alone (a hash of the apiKey, then the id).
const legacyUserDBGuardPrefix = "GUARD#USERDB#"

// validID reports whether id could name a source: 1 to 128 letters,
// digits, '-' or '_'. Anything else is not looked up: it names nothing,
// and a long one would make DynamoDB refuse the key.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func purpose(sourceID, field string) string { return "source/" + sourceID + "/" + field }

const (
	itemSK      = "ITEM"
	typeSource  = "source"
	typeGuard   = "guard"
	typeConnect = "connection"
)
