package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/source"
)

// The Contactsend route. Contactsend has no webhooks of its own: whatever
// relays its subscription events (a relay of the SFTP event exports, a
// landing page, a script) posts them here, authenticated with the same
// secrets as the Contacthub route.
const (
	SendRouteKey   = "POST /v1/webhooks/contactsend/{sourceId}"
	SendPathPrefix = "/v1/webhooks/contactsend/"
)

// MaxSendEvents bounds the events of one delivery, so one request stays
// well inside the handler's deadline.
const MaxSendEvents = 500

// SubscriberFinder finds a source's subscribers by email.
type SubscriberFinder interface {
	SubscriberIDs(ctx context.Context, src source.Source, email string) ([]int64, error)
}

// sendEvent is one Contactsend subscription event, from JSON:
//
//	{"eventCode": "unsubscribe", "webformCode": "230004001355",
//	 "subscriberId": 42, "email": "a@b.c", "eventDate": "...", "eventId": "..."}
//
// or from a RECORDELEMENT of an event export (EVENT_CODE, CATEGORY_DESC =
// web form code, EVENT_DETAILS = email, ENTITY_ID, EVENT_DATE, and an
// optional SUBSCRIBER_ID).
type sendEvent struct {
	EventCode    string      `json:"eventCode" xml:"EVENT_CODE"`
	WebformCode  string      `json:"webformCode" xml:"CATEGORY_DESC"`
	SubscriberID json.Number `json:"subscriberId" xml:"SUBSCRIBER_ID"`
	Email        string      `json:"email" xml:"EVENT_DETAILS"`
	EventDate    string      `json:"eventDate" xml:"EVENT_DATE"`
	EventID      string      `json:"eventId" xml:"-"`
	EntityID     string      `json:"-" xml:"ENTITY_ID"`

	subscriber int64
	// at is EventDate read: when the change happened.
	at time.Time
}

// sendEventDateLayouts are the event dates accepted: RFC 3339, Contacthub's
// form, and the export's "2026-11-27 09:31:11", which has no offset and is
// read as UTC.
var sendEventDateLayouts = [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700", "2006-01-02 15:04:05"}

// sendEventCodes maps the accepted event codes to what they mean. The
// worker reads the subscriber's current status, so the code only selects
// which events concern subscriptions: other codes of an export (opens,
// clicks, bounces) are acknowledged and ignored.
var sendEventCodes = map[string]string{
	"subscribe":    "subscribe",
	"subscribed":   "subscribe",
	"unsubscribe":  "unsubscribe",
	"unsubscribed": "unsubscribe",
	"o":            "unsubscribe", // Contactsend's export code for an opt-out
	"pending":      "pending",
}

type sendExport struct {
	Records []sendEvent `xml:"RECORDELEMENT"`
}

// parseSendEvents reads a JSON object, a JSON array of objects, or an XML
// document of RECORDELEMENTs.
func parseSendEvents(body []byte) ([]sendEvent, events.APIGatewayV2HTTPResponse, bool) {
	trimmed := bytes.TrimSpace(body)
	var evs []sendEvent
	var err error
	switch {
	case len(trimmed) == 0:
		return nil, problem(http.StatusBadRequest, "the body is empty: send a subscription event"), false
	case !utf8.Valid(trimmed):
		// encoding/json would quietly turn the bad bytes into U+FFFD.
		return nil, problem(http.StatusBadRequest, "malformed body", source.Problem{Message: "the body is not valid UTF-8"}), false
	case trimmed[0] == '<':
		var export sendExport
		err = xml.Unmarshal(trimmed, &export)
		evs = export.Records
	case trimmed[0] == '[':
		err = json.Unmarshal(trimmed, &evs)
	case trimmed[0] == '{':
		var ev sendEvent
		err = json.Unmarshal(trimmed, &ev)
		evs = []sendEvent{ev}
	default:
		return nil, problem(http.StatusBadRequest, "the body must be a JSON object, a JSON array or an XML event export"), false
	}
	if err != nil {
		return nil, problem(http.StatusBadRequest, "malformed body", decodeProblem(err)), false
	}
	if len(evs) == 0 {
		return nil, problem(http.StatusUnprocessableEntity, "no subscription event in the body"), false
	}
	if len(evs) > MaxSendEvents {
		return nil, problem(http.StatusRequestEntityTooLarge, fmt.Sprintf("at most %d events per delivery", MaxSendEvents)), false
	}
	var problems []source.Problem
	for i := range evs {
		ev := &evs[i]
		path := "events[" + strconv.Itoa(i) + "]"
		ev.EventCode = strings.ToLower(strings.TrimSpace(ev.EventCode))
		ev.WebformCode = strings.TrimSpace(ev.WebformCode)
		ev.Email = strings.TrimSpace(ev.Email)
		ev.EventID = strings.TrimSpace(ev.EventID)
		ev.EventDate = strings.TrimSpace(ev.EventDate)
		if id := strings.TrimSpace(ev.SubscriberID.String()); id != "" {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil || n <= 0 {
				problems = append(problems, source.Problem{Path: path + ".subscriberId", Message: "must be a positive integer"})
			}
			ev.subscriber = n
		}
		if ev.WebformCode == "" {
			problems = append(problems, source.Problem{Path: path + ".webformCode", Message: "is required"})
		}
		if ev.EventDate != "" {
			var err error
			for _, layout := range sendEventDateLayouts {
				if ev.at, err = time.Parse(layout, ev.EventDate); err == nil {
					break
				}
			}
			if err != nil {
				problems = append(problems, source.Problem{Path: path + ".eventDate", Message: "must be a date-time such as 2026-11-27T09:31:11Z, 2026-11-27T09:31:11.482+0000 or 2026-11-27 09:31:11 (UTC)"})
			}
		}
		if ev.subscriber == 0 && ev.Email == "" {
			problems = append(problems, source.Problem{Path: path, Message: "subscriberId or email is required"})
		}
		for _, f := range [...]struct{ name, value string }{{"eventId", ev.EventID}, {"email", ev.Email}, {"webformCode", ev.WebformCode}, {"eventDate", ev.EventDate}} {
			if why := textProblem(f.value, source.TextProblem); why != "" {
				problems = append(problems, source.Problem{Path: path + "." + f.name, Message: why})
			}
		}
	}
	if problems != nil {
		return nil, problem(http.StatusUnprocessableEntity, "the body is not a subscription event", problems...), false
	}
	return evs, events.APIGatewayV2HTTPResponse{}, true
}

// decodeProblem says what is wrong with a body the decoders refused, in
// the sender's terms: encoding/json's own text names hubsend's Go types.
func decodeProblem(err error) source.Problem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var xmlErr *xml.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return source.Problem{Path: typeErr.Field, Message: "must be " + jsonKind(typeErr.Type.Kind()) + ", not " + typeErr.Value}
	case errors.As(err, &typeErr):
		return source.Problem{Message: "must be a JSON object or an array of objects, not " + typeErr.Value}
	case errors.As(err, &syntaxErr):
		return source.Problem{Message: fmt.Sprintf("invalid JSON at byte %d", syntaxErr.Offset)}
	case errors.As(err, &xmlErr):
		return source.Problem{Message: fmt.Sprintf("invalid XML on line %d", xmlErr.Line)}
	}
	return source.Problem{Message: "the body is not a JSON object, a JSON array of objects or an XML event export"}
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return k.String()
}

// dedupeKey names the event: its id, else a hash of what tells two events
// apart. "send:" keeps the keys apart from the Contacthub route's.
func (ev *sendEvent) dedupeKey() string {
	if ev.EventID != "" {
		return "send:" + ev.EventID
	}
	if ev.EventDate == "" {
		return ""
	}
	h := sha256.New()
	for _, part := range []string{strconv.FormatInt(ev.subscriber, 10), ev.Email, ev.EntityID, ev.WebformCode, ev.EventCode, ev.EventDate} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "send:sha256:" + hex.EncodeToString(h.Sum(nil))
}

// serveContactsend turns subscription events into subscriber jobs: one per
// subscriber, for the events of the source's subscription rows that no
// earlier delivery enqueued.
func (h *Handler) serveContactsend(ctx context.Context, src source.Source, body []byte, out *outcome) events.APIGatewayV2HTTPResponse {
	evs, resp, ok := parseSendEvents(body)
	if !ok {
		return h.refuse(out, resp)
	}
	mapped := make(map[string]bool, len(src.Properties.Subscriptions))
	for _, row := range src.Properties.Subscriptions {
		mapped[row.WebformCode] = true
	}
	now := h.cfg.Now()
	var (
		keys        []string
		subscribers []int64
		// eventAt is the latest event date of each subscriber's events.
		eventAt = map[int64]time.Time{}
		// unmatched holds the emails of events no subscriber holds.
		unmatched []string
	)
	for i := range evs {
		ev := &evs[i]
		if _, known := sendEventCodes[ev.EventCode]; !known || !mapped[ev.WebformCode] {
			// Not a subscription change of a synced row: never touched.
			continue
		}
		key := ev.dedupeKey()
		if key != "" {
			claim, err := h.cfg.Dedupe.Claim(ctx, src.ID, key, now)
			if err != nil {
				return h.unavailable(out, err)
			}
			if claim == ClaimDone {
				continue
			}
		}
		ids := []int64{ev.subscriber}
		if ev.subscriber == 0 {
			if h.cfg.Subscribers == nil {
				return h.refuse(out, problem(http.StatusUnprocessableEntity, "this deployment cannot look subscribers up by email: send subscriberId"))
			}
			found, err := h.cfg.Subscribers.SubscriberIDs(ctx, src, ev.Email)
			if errors.Is(err, errNoEmailMatch) {
				return h.refuse(out, problem(http.StatusUnprocessableEntity, errNoEmailMatch.Error()+": send subscriberId"))
			}
			if err != nil {
				return h.unavailable(out, err)
			}
			if len(found) == 0 {
				// Its key stays pending: sent again once the userdb holds
				// the address (its search may lag an add), it is applied.
				unmatched = append(unmatched, ev.Email)
				continue
			}
			ids = found
		}
		if key != "" {
			keys = append(keys, key)
		}
		for _, id := range ids {
			if !slices.Contains(subscribers, id) {
				subscribers = append(subscribers, id)
			}
			if ev.at.After(eventAt[id]) {
				eventAt[id] = ev.at
			}
		}
	}
	if len(keys) > 0 {
		out.eventKey = keys[0]
	}
	if len(unmatched) > 0 {
		// Said, never silently dropped: a subscription change for an
		// address the userdb does not hold (its subscriber removed, or an
		// event of another userdb) has nobody to apply to.
		out.message = fmt.Sprintf("%d events name an email no subscriber of userdb %d holds", len(unmatched), src.Properties.UserDBID)
	}
	if len(subscribers) == 0 {
		if len(unmatched) > 0 {
			out.result = "no-subscriber"
			return noSubscriberResponse(len(unmatched))
		}
		out.result = "duplicate"
		return duplicateResponse()
	}
	batch := make([]jobs.Job, len(subscribers))
	for i, id := range subscribers {
		batch[i] = jobs.Job{SourceID: src.ID, SubscriberID: id, Reason: jobs.FromSendWebhook, EventID: out.eventKey, EnqueuedAt: now.UTC(), EventAt: eventAt[id].UTC()}
	}
	if err := h.cfg.Jobs.Send(ctx, batch...); err != nil {
		return h.unavailable(out, err)
	}
	for _, key := range keys {
		if err := h.cfg.Dedupe.Done(ctx, src.ID, key, now); err != nil {
			out.err = err
		}
	}
	out.result = "accepted"
	return acceptedResponse()
}

// ContactsendFinder finds subscribers by email with the Contactsend
// client, through the source's match field for base.contacts.email.
type ContactsendFinder struct {
	Client interface {
		FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, userDBID int64, q contactsend.Query) (contactsend.SubscriberPage, error)
	}
}

// errNoEmailMatch says a source does not match subscribers on email.
var errNoEmailMatch = errors.New("the source does not match subscribers on base.contacts.email")

// SubscriberIDs returns the ids of the subscribers holding email.
func (f ContactsendFinder) SubscriberIDs(ctx context.Context, src source.Source, email string) ([]int64, error) {
	field := ""
	for _, m := range src.MatchFields() {
		if m.HubField == "base.contacts.email" {
			field = m.SendField
		}
	}
	if field == "" {
		return nil, errNoEmailMatch
	}
	cred := contactsend.Credentials{APIKey: src.Properties.APIKey, UserKey: src.Properties.UserKey}
	// The address as the event gives it, and in lower case: whether the
	// userdb compares case-sensitively is not documented, and a stored
	// Mario.Rossi@… must be found by an event for it either way.
	where := contactsend.Filter{Attribute: field, Mode: contactsend.Equals, Value: contactsend.StringValue(email)}
	if lower := strings.ToLower(email); lower != email {
		where = contactsend.Filter{Attribute: field, Mode: contactsend.In, Values: []contactsend.Value{contactsend.StringValue(email), contactsend.StringValue(lower)}}
	}
	page, err := f.Client.FindSubscribersBy(ctx, cred, src.Properties.UserDBID, contactsend.Query{
		Select: []string{field}, PageSize: 10, Where: []contactsend.Filter{where},
	})
	if err != nil {
		return nil, fmt.Errorf("find subscribers by email: %w", err)
	}
	ids := make([]int64, 0, len(page.Subscribers))
	for _, s := range page.Subscribers {
		ids = append(ids, s.ID)
	}
	return ids, nil
}
