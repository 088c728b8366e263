package configapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/source"
)

// sourceJSON is a source as the API shows it, shaped like Contacthub's
// SourceConfiguration. Secrets only ever leave masked.
type sourceJSON struct {
	ID          string         `json:"id"`
	Provider    string         `json:"provider"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Nodes       []string       `json:"nodes"`
	Enabled     bool           `json:"enabled"`
	Version     int64          `json:"version"`
	Properties  propertiesJSON `json:"properties"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
}

type propertiesJSON struct {
	UserKey           string             `json:"userKey"`
	APIKey            string             `json:"apiKey"`
	UserDBID          int64              `json:"userDbId"`
	FieldMapping      []fieldMappingJSON `json:"fieldMapping"`
	Subscriptions     []subscriptionJSON `json:"subscriptions"`
	OnCustomerDeleted string             `json:"onCustomerDeleted"`
	OnUnmatchable     string             `json:"onUnmatchable"`
	MaxInFlight       int                `json:"maxInFlight"`
}

type fieldMappingJSON struct {
	HubField    string `json:"hubField"`
	SendField   string `json:"sendField"`
	Match       bool   `json:"match"`
	ClearOnNull bool   `json:"clearOnNull,omitempty"`
}

type subscriptionJSON struct {
	HubSubscriptionID  string `json:"hubSubscriptionId"`
	SendSubscriptionID int64  `json:"sendSubscriptionId"`
	WebformCode        string `json:"webformCode"`
}

func present(src source.Source) sourceJSON {
	out := sourceJSON{
		ID: src.ID, Provider: source.Provider, Name: src.Name, Description: src.Description,
		Nodes: src.Nodes, Enabled: src.Enabled, Version: src.Version,
		CreatedAt: src.CreatedAt, UpdatedAt: src.UpdatedAt,
		Properties: propertiesJSON{
			UserKey:           secret.Mask(src.Properties.UserKey),
			APIKey:            secret.Mask(src.Properties.APIKey),
			UserDBID:          src.Properties.UserDBID,
			FieldMapping:      []fieldMappingJSON{},
			Subscriptions:     []subscriptionJSON{},
			OnCustomerDeleted: string(src.Properties.DeletePolicy()),
			OnUnmatchable:     string(src.Properties.UnmatchablePolicy()),
			MaxInFlight:       src.Properties.InFlight(),
		},
	}
	if out.Nodes == nil {
		out.Nodes = []string{}
	}
	for _, m := range src.Properties.FieldMapping {
		out.Properties.FieldMapping = append(out.Properties.FieldMapping, fieldMappingJSON(m))
	}
	for _, s := range src.Properties.Subscriptions {
		out.Properties.Subscriptions = append(out.Properties.Subscriptions, subscriptionJSON(s))
	}
	return out
}

// sourceInput is what a client sends to create or replace a source. The
// read-only fields are accepted so a client can send back what it read; they
// are checked, never written.
type sourceInput struct {
	ID          *string          `json:"id"`
	Provider    *string          `json:"provider"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Nodes       []string         `json:"nodes"`
	Enabled     *bool            `json:"enabled"`
	Version     *int64           `json:"version"`
	Properties  *propertiesInput `json:"properties"`
	CreatedAt   *string          `json:"createdAt"`
	UpdatedAt   *string          `json:"updatedAt"`
}

type propertiesInput struct {
	UserKey           *string            `json:"userKey"`
	APIKey            *string            `json:"apiKey"`
	UserDBID          int64              `json:"userDbId"`
	FieldMapping      []fieldMappingJSON `json:"fieldMapping"`
	Subscriptions     []subscriptionJSON `json:"subscriptions"`
	OnCustomerDeleted string             `json:"onCustomerDeleted"`
	OnUnmatchable     string             `json:"onUnmatchable"`
	MaxInFlight       int                `json:"maxInFlight"`
}

// toSource turns input into a source. keep supplies the stored secrets that
// an omitted or masked secret keeps (nil on create, where both are required).
func (in sourceInput) toSource(keep *source.Source) (source.Source, source.Problems) {
	var problems source.Problems
	if in.Provider != nil && *in.Provider != source.Provider {
		problems = append(problems, source.Problem{Path: "provider", Message: "must be " + source.Provider})
	}
	src := source.Source{Name: in.Name, Description: in.Description, Nodes: in.Nodes}
	if in.Properties == nil {
		problems = append(problems, source.Problem{Path: "properties", Message: "is required"})
		return src, problems
	}
	p := in.Properties
	src.Properties.UserDBID = p.UserDBID
	src.Properties.OnCustomerDeleted = source.DeletePolicy(p.OnCustomerDeleted)
	src.Properties.OnUnmatchable = source.UnmatchablePolicy(p.OnUnmatchable)
	src.Properties.MaxInFlight = p.MaxInFlight
	for _, m := range p.FieldMapping {
		src.Properties.FieldMapping = append(src.Properties.FieldMapping, source.FieldMapping(m))
	}
	for _, s := range p.Subscriptions {
		src.Properties.Subscriptions = append(src.Properties.Subscriptions, source.Subscription(s))
	}
	var err *source.Problem
	src.Properties.UserKey, err = secretInput("properties.userKey", p.UserKey, keep, func(s source.Source) string { return s.Properties.UserKey })
	if err != nil {
		problems = append(problems, *err)
	}
	src.Properties.APIKey, err = secretInput("properties.apiKey", p.APIKey, keep, func(s source.Source) string { return s.Properties.APIKey })
	if err != nil {
		problems = append(problems, *err)
	}
	// The apiKey names the Contactsend account. A stored userKey is only
	// ever sent with the account it was saved for: a new apiKey needs the
	// userKey sent with it.
	if keep != nil && src.Properties.APIKey != keep.Properties.APIKey && !given(p.UserKey) {
		problems = append(problems, source.Problem{Path: "properties.userKey", Message: "send the userKey again with the new apiKey: a stored key is only used with the account it was saved for"})
	}
	return src, problems
}

// given reports whether a secret was sent itself, not omitted or masked.
func given(secretValue *string) bool { return secretValue != nil && !secret.IsMask(*secretValue) }

func secretInput(path string, given *string, keep *source.Source, stored func(source.Source) string) (string, *source.Problem) {
	switch {
	case given != nil && !secret.IsMask(*given):
		return *given, nil
	case keep != nil:
		return stored(*keep), nil
	case given != nil:
		return "", &source.Problem{Path: path, Message: "send the key itself, not its masked form"}
	}
	return "", nil // Check reports it as required
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch is a request's If-Match condition (RFC 9110, section 13.1.1):
// absent, "*" (whatever the current version), or a list of entity tags.
type ifMatch struct {
	given bool
	any   bool
	// tags are the opaque parts of the listed entity tags. A weak tag
	// W/"3" names version 3 as "3" does, although RFC 9110 (13.1.1) has
	// If-Match compare strongly: a version has one representation here,
	// and an intermediary that compresses answers (a CDN in front of the
	// API) weakens the ETags it passes on, which would otherwise fail
	// every save made through it.
	tags []string
}

// matches reports whether the condition holds for a source at version: an
// absent condition always does.
func (m ifMatch) matches(version int64) bool {
	return !m.given || m.any || slices.Contains(m.tags, strconv.FormatInt(version, 10))
}

// ifMatch reads If-Match. refused is the answer to a header that is
// neither "*" nor a comma-separated list of quoted entity tags: read
// loosely, an unquoted or half-quoted value would name a version the
// client never read, or none where it meant one.
func (r *request) ifMatch() (m ifMatch, refused *events.APIGatewayV2HTTPResponse) {
	value := strings.TrimSpace(r.header("If-Match"))
	if value == "" {
		return ifMatch{}, nil
	}
	if value == "*" {
		return ifMatch{given: true, any: true}, nil
	}
	m.given = true
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue // a list may hold empty elements (RFC 9110, 5.6.1)
		}
		tag := strings.TrimPrefix(item, "W/")
		opaque, ok := strings.CutPrefix(tag, `"`)
		if ok {
			opaque, ok = strings.CutSuffix(opaque, `"`)
		}
		if !ok || !validETagText(opaque) {
			return ifMatch{}, badIfMatch()
		}
		m.tags = append(m.tags, opaque)
	}
	if len(m.tags) == 0 {
		return ifMatch{}, badIfMatch()
	}
	return m, nil
}

func badIfMatch() *events.APIGatewayV2HTTPResponse {
	resp := problem(http.StatusBadRequest, "invalid If-Match", source.Problem{Path: "If-Match", Message: `must be "*" or the ETags you read, quoted, such as "3"`})
	return &resp
}

// validETagText reports whether s may be the opaque part of an entity tag
// (etagc in RFC 9110, 8.8.3): visible ASCII but '"', and obs-text.
func validETagText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}
