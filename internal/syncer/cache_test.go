package syncer

import (
	"testing"

	"github.com/hubsend/hubsend/internal/source"
)

// TestUserDBCacheKeysKeepAccountsApart: what the worker caches about a
// userdb (its fields, its subscription systems) is keyed by the source, the
// userdb and both keys, so an unsaved draft's preview (no source id) never
// reads what another account's userdb of the same number left, and a
// changed key reloads.
func TestUserDBCacheKeysKeepAccountsApart(t *testing.T) {
	src := func(id, apiKey, userKey string) source.Source {
		s := source.Source{ID: id}
		s.Properties.UserDBID, s.Properties.APIKey, s.Properties.UserKey = 1001, apiKey, userKey
		return s
	}
	base := userDBKey(src("", "api-a", "user-a"))
	if base != userDBKey(src("", "api-a", "user-a")) {
		t.Fatal("the same draft gets two cache keys")
	}
	for name, other := range map[string]source.Source{
		"another account":   src("", "api-b", "user-b"),
		"another userKey":   src("", "api-a", "user-b"),
		"a saved source":    src("s1", "api-a", "user-a"),
		"keys run together": src("", "api-au", "ser-a"),
	} {
		if userDBKey(other) == base {
			t.Errorf("%s shares the draft's cache key", name)
		}
	}
}
