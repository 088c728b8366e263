package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/source"
)

// maxIDLength bounds the ids a delivery carries: they become part of a
// DynamoDB key (at most 2048 bytes) and of log lines.
const maxIDLength = 256

// route finds the source id of a request routed by its route key or, behind
// a catch-all ($default) route, by its raw path.
func route(req *events.APIGatewayV2HTTPRequest) (string, intake, events.APIGatewayV2HTTPResponse, bool) {
	var id string
	kind := fromContacthub
	switch req.RouteKey {
	case RouteKey:
		id = req.PathParameters["sourceId"]
	case SendRouteKey:
		id, kind = req.PathParameters["sourceId"], fromContactsend
	case "$default", "":
		path := req.RawPath
		if path == "" {
			path = req.RequestContext.HTTP.Path
		}
		rest, found := strings.CutPrefix(path, PathPrefix)
		if !found {
			rest, found = strings.CutPrefix(path, SendPathPrefix)
			kind = fromContactsend
		}
		if !found || rest == "" || strings.Contains(rest, "/") {
			return "", kind, problem(http.StatusNotFound, "no such route"), false
		}
		if m := req.RequestContext.HTTP.Method; m != "" && m != http.MethodPost {
			resp := problem(http.StatusMethodNotAllowed, "use POST")
			resp.Headers["Allow"] = http.MethodPost
			return "", kind, resp, false
		}
		unescaped, err := url.PathUnescape(rest)
		if err != nil {
			return "", kind, unknownSource(), false
		}
		id = unescaped
	default:
		return "", kind, problem(http.StatusNotFound, "no such route"), false
	}
	if !validSourceID(id) {
		// Not an id hubsend makes: unknown without asking the store.
		return "", kind, unknownSource(), false
	}
	return id, kind, events.APIGatewayV2HTTPResponse{}, true
}

// intake is which system a delivery comes from.
type intake int

const (
	fromContacthub intake = iota
	fromContactsend
)

func validSourceID(id string) bool {
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

// unknownSource is the answer for a source that does not exist. Source ids
// are random 128-bit values, so telling "unknown" apart from "bad secret"
// gives a caller nothing to enumerate, and it tells an admin who pasted the
// wrong URL what is wrong.
func unknownSource() events.APIGatewayV2HTTPResponse {
	return problem(http.StatusNotFound, "unknown source: check the source id in the webhook URL")
}

// readBody returns the raw body, refusing one over MaxBodyBytes by its
// declared length before reading it and by its real length after decoding.
func readBody(req *events.APIGatewayV2HTTPRequest) ([]byte, events.APIGatewayV2HTTPResponse, bool) {
	tooLarge := func() ([]byte, events.APIGatewayV2HTTPResponse, bool) {
		return nil, problem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over the limit of %d bytes (256 KiB)", MaxBodyBytes)), false
	}
	if declared, err := strconv.ParseInt(strings.TrimSpace(header(req, "content-length")), 10, 64); err == nil && declared > MaxBodyBytes {
		return tooLarge()
	}
	if !req.IsBase64Encoded {
		if len(req.Body) > MaxBodyBytes {
			return tooLarge()
		}
		return []byte(req.Body), events.APIGatewayV2HTTPResponse{}, true
	}
	if base64.StdEncoding.DecodedLen(len(req.Body)) > MaxBodyBytes+2 {
		return tooLarge()
	}
	body, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, problem(http.StatusBadRequest, "the body is not valid base64"), false
	}
	if len(body) > MaxBodyBytes {
		return tooLarge()
	}
	return body, events.APIGatewayV2HTTPResponse{}, true
}

// header returns a request header whatever the case of its name. API
// Gateway's payload 2.0 lower-cases names; other gateways may not.
func header(req *events.APIGatewayV2HTTPRequest, lowerName string) string {
	if v, ok := req.Headers[lowerName]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, lowerName) {
			return v
		}
	}
	return ""
}

func queryToken(req *events.APIGatewayV2HTTPRequest) string {
	if v, ok := req.QueryStringParameters[TokenParameter]; ok {
		return v
	}
	if !strings.Contains(req.RawQueryString, TokenParameter) {
		return ""
	}
	values, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		return ""
	}
	return values.Get(TokenParameter)
}

// authenticate checks the signature header or, when there is none, the URL
// token against every live secret of the source, in constant time.
func authenticate(req *events.APIGatewayV2HTTPRequest, body []byte, secrets []string, sourceID string) (events.APIGatewayV2HTTPResponse, bool) {
	if len(secrets) == 0 {
		return problem(http.StatusUnauthorized, "this source has no webhook secret yet: an admin generates one with POST /v1/sources/"+sourceID+"/webhook-secret"), false
	}
	if sig := header(req, "x-hubsend-signature"); sig != "" {
		digits, found := strings.CutPrefix(strings.TrimSpace(sig), "sha256=")
		got, err := hex.DecodeString(digits)
		if !found || err != nil || len(got) != sha256.Size {
			return problem(http.StatusUnauthorized, SignatureHeader+" must be sha256=<64 hex digits of the HMAC-SHA256 of the body>"), false
		}
		var sum [sha256.Size]byte
		for _, s := range secrets {
			mac := hmac.New(sha256.New, []byte(s))
			mac.Write(body)
			if hmac.Equal(mac.Sum(sum[:0]), got) {
				return events.APIGatewayV2HTTPResponse{}, true
			}
		}
		return problem(http.StatusUnauthorized, "the signature does not match the body and this source's webhook secret"), false
	}
	if token := queryToken(req); token != "" {
		for _, s := range secrets {
			if subtle.ConstantTimeCompare([]byte(token), []byte(s)) == 1 {
				return events.APIGatewayV2HTTPResponse{}, true
			}
		}
		return problem(http.StatusUnauthorized, "the token does not match this source's webhook secret"), false
	}
	return problem(http.StatusUnauthorized, "authenticate the delivery: sign the body ("+SignatureHeader+": sha256=<hex HMAC-SHA256>) or add ?token=<webhook secret> to the URL"), false
}

// notification is the body the Contacthub automation is templated to send
// (see docs/webhooks.md). Other fields are ignored: senders add their own.
type notification struct {
	CustomerID string `json:"customerId"`
	EventType  string `json:"eventType"`
	EventID    string `json:"eventId"`
	EventDate  string `json:"eventDate"`

	date time.Time
}

// contacthubDateLayout is Contacthub's date-time: a numeric offset without a
// colon (fractional seconds, optional, are accepted when parsing).
const contacthubDateLayout = "2006-01-02T15:04:05-0700"

func parseNotification(body []byte) (notification, events.APIGatewayV2HTTPResponse, bool) {
	var n notification
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return n, problem(http.StatusBadRequest, "the body is empty: send the JSON object of the documented template"), false
	case trimmed[0] == '<':
		return n, problem(http.StatusBadRequest, "the body is XML: set the automation's webhook format to JSON"), false
	case trimmed[0] != '{':
		return n, problem(http.StatusBadRequest, "malformed JSON", source.Problem{Message: "the body must be a JSON object"}), false
	case !utf8.Valid(trimmed):
		// encoding/json would quietly turn the bad bytes into U+FFFD, and
		// the job would name a customer the sender never named.
		return n, problem(http.StatusBadRequest, "malformed JSON", source.Problem{Message: "the body is not valid UTF-8"}), false
	}
	if err := json.Unmarshal(trimmed, &n); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return n, problem(http.StatusBadRequest, "wrong type", source.Problem{Path: typeErr.Field, Message: "must be a string, not " + typeErr.Value}), false
		}
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			return n, problem(http.StatusBadRequest, "malformed JSON", source.Problem{Message: fmt.Sprintf("invalid JSON at byte %d", syntaxErr.Offset)}), false
		}
		return n, problem(http.StatusBadRequest, "malformed JSON", source.Problem{Message: "the body must be one JSON object"}), false
	}
	n.CustomerID = strings.TrimSpace(n.CustomerID)
	n.EventID = strings.TrimSpace(n.EventID)
	n.EventType = strings.TrimSpace(n.EventType)
	n.EventDate = strings.TrimSpace(n.EventDate)

	var problems []source.Problem
	if n.CustomerID == "" {
		problems = append(problems, source.Problem{Path: "customerId", Message: "is required: map it to the event's customer id"})
	}
	if why := textProblem(n.CustomerID, source.IDProblem); n.CustomerID != "" && why != "" {
		problems = append(problems, source.Problem{Path: "customerId", Message: why})
	}
	for _, f := range [...]struct{ path, value string }{{"eventId", n.EventID}, {"eventType", n.EventType}} {
		if why := textProblem(f.value, source.TextProblem); why != "" {
			problems = append(problems, source.Problem{Path: f.path, Message: why})
		}
	}
	if n.EventDate != "" {
		var err error
		for _, layout := range [...]string{time.RFC3339Nano, contacthubDateLayout} {
			if n.date, err = time.Parse(layout, n.EventDate); err == nil {
				break
			}
		}
		if err != nil {
			problems = append(problems, source.Problem{Path: "eventDate", Message: "must be a date-time such as 2026-11-27T09:31:11Z or 2026-11-27T09:31:11.482+0000"})
		}
	}
	if problems != nil {
		return n, problem(http.StatusUnprocessableEntity, "the body does not follow the webhook template", problems...), false
	}
	return n, events.APIGatewayV2HTTPResponse{}, true
}

// textProblem says why a value a delivery carries cannot be taken, or "":
// it is too long, or check (the config API's rule for the same kind of
// value) refuses it. A customer id goes into Contacthub URLs, keys and the
// console; one the config API would refuse in a path (".." climbs out of
// the customers collection, control and bidirectional characters forge
// log lines and CSV cells) is refused here too.
func textProblem(value string, check func(string) string) string {
	if len(value) > maxIDLength {
		return fmt.Sprintf("is longer than %d bytes", maxIDLength)
	}
	return check(value)
}

// dedupeKey names the event for deduplication: its id when the template
// sends one, else a hash of customer, event type and event date. Without an
// id or a date there is nothing to tell two real events apart, so the key is
// empty and every delivery is enqueued (jobs are level-triggered, so that
// costs a little work, never correctness).
func (n *notification) dedupeKey() string {
	if n.EventID != "" {
		return n.EventID
	}
	if n.date.IsZero() {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(n.CustomerID))
	h.Write([]byte{0})
	h.Write([]byte(n.EventType))
	h.Write([]byte{0})
	h.Write([]byte(n.date.UTC().Format(time.RFC3339Nano)))
	var sum [sha256.Size]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0]))
}

// Sign returns the SignatureHeader value for body under secret, as a sender
// computes it: "sha256=" and the hex HMAC-SHA256 of the raw body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
