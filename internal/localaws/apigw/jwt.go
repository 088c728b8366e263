package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// JWTAuthorizer is what template.yaml's JWT authorizer is configured with.
// The gateway checks tokens as API Gateway does: an RSA signature by a key
// of the issuer's JWKS, iss equal to Issuer, aud or client_id one of
// Audience, exp in the future and nbf/iat not, and at least one of the
// route's scopes when it names any.
type JWTAuthorizer struct {
	Issuer   string
	Audience []string
	// JWKSURL overrides where the keys are read; empty reads the jwks_uri of
	// the issuer's discovery document, as API Gateway does (moto's Cognito
	// serves no discovery document, so tests against it name its JWKS).
	JWKSURL string
	Client  *http.Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// AuthError is a refused token: the status, body message and
// WWW-Authenticate header API Gateway answers with.
type AuthError struct {
	Status      int
	Code        string // invalid_token, insufficient_scope
	Description string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Description }

func invalid(format string, args ...any) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: fmt.Sprintf(format, args...)}
}

// verifier checks tokens against one authorizer's configuration, caching
// the issuer's keys and reading them again when a token names an unknown
// key id (a rotation), at most once a minute.
type verifier struct {
	cfg     JWTAuthorizer
	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

func newVerifier(cfg JWTAuthorizer) *verifier {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &verifier{cfg: cfg}
}

// rsaAlgorithms are what API Gateway's JWT authorizer accepts.
var rsaAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512}

// verify returns the token's claims as API Gateway hands them to Lambda:
// every value a string, arrays as "[a b]".
func (v *verifier) verify(ctx context.Context, header string, scopes []string) (map[string]string, *AuthError) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		// API Gateway also takes the bare token as the identity source.
		raw = header
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, invalid("the request has no token")
	}
	token, err := jwt.ParseSigned(raw, rsaAlgorithms)
	if err != nil {
		return nil, invalid("the token is not a signed JWT with an RSA algorithm: %v", err)
	}
	if len(token.Headers) != 1 || token.Headers[0].KeyID == "" {
		return nil, invalid("the token names no signing key (kid)")
	}
	key, authErr := v.key(ctx, token.Headers[0].KeyID)
	if authErr != nil {
		return nil, authErr
	}
	var std jwt.Claims
	var all map[string]any
	if err := token.Claims(key, &std, &all); err != nil {
		return nil, invalid("signature verification failed")
	}
	now := v.cfg.Now()
	if std.Issuer != v.cfg.Issuer {
		return nil, invalid("the token's issuer %q is not the authorizer's", std.Issuer)
	}
	if std.Expiry == nil {
		return nil, invalid("the token has no expiry (exp)")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: now}, 0); err != nil {
		switch {
		case errors.Is(err, jwt.ErrExpired):
			return nil, invalid("the token has expired")
		case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
			return nil, invalid("the token is not valid yet")
		}
		return nil, invalid("%v", err)
	}
	clientID, _ := all["client_id"].(string)
	if !slices.ContainsFunc(v.cfg.Audience, func(a string) bool { return std.Audience.Contains(a) || a == clientID }) {
		return nil, invalid("the token's audience is not one the authorizer accepts")
	}
	if len(scopes) > 0 {
		have := strings.Fields(stringOf(all["scope"]))
		if !slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(have, s) }) {
			return nil, &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope",
				Description: "the token lacks the scopes the route requires"}
		}
	}
	claims := make(map[string]string, len(all))
	for k, value := range all {
		claims[k] = stringOf(value)
	}
	return claims, nil
}

// stringOf writes a claim value as API Gateway passes it to Lambda.
func stringOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = stringOf(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case nil:
		return ""
	}
	data, _ := json.Marshal(v)
	return string(data)
}

func (v *verifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, *AuthError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys != nil {
		if keys := v.keys.Key(kid); len(keys) > 0 {
			return &keys[0], nil
		}
		if v.cfg.Now().Sub(v.fetched) < time.Minute {
			return nil, invalid("no key of the issuer has the token's kid %q", kid)
		}
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		return nil, invalid("cannot read the issuer's keys: %v", err)
	}
	v.keys, v.fetched = keys, v.cfg.Now()
	if found := keys.Key(kid); len(found) > 0 {
		return &found[0], nil
	}
	return nil, invalid("no key of the issuer has the token's kid %q", kid)
}

func (v *verifier) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	jwksURL := v.cfg.JWKSURL
	if jwksURL == "" {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.get(ctx, strings.TrimRight(v.cfg.Issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, err
		}
		if doc.JWKSURI == "" {
			return nil, errors.New("the discovery document has no jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	var keys jose.JSONWebKeySet
	if err := v.get(ctx, jwksURL, &keys); err != nil {
		return nil, err
	}
	return &keys, nil
}

func (v *verifier) get(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
