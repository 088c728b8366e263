package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"

	"github.com/hubsend/hubsend/internal/source"
)

// errorBody is every error answer, in Contactlab's REST convention.
type errorBody struct {
	Message string           `json:"message"`
	Errors  []source.Problem `json:"errors,omitempty"`
}

func headers() map[string]string {
	return map[string]string{
		"Content-Type":           "application/json",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
}

func problem(status int, message string, problems ...source.Problem) events.APIGatewayV2HTTPResponse {
	raw, err := json.Marshal(errorBody{Message: message, Errors: problems})
	if err != nil {
		status, raw = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers(), Body: string(raw)}
}

func acceptedResponse() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusAccepted, Headers: headers(), Body: `{"status":"accepted"}`}
}

// noSubscriberResponse answers events that name only emails no subscriber
// of the userdb holds: accepted, since sending them again changes nothing,
// and saying so.
func noSubscriberResponse(count int) events.APIGatewayV2HTTPResponse {
	body := fmt.Sprintf(`{"status":"no-subscriber","message":"%d events name an email no subscriber of the source's userdb holds; nothing to change"}`, count)
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusAccepted, Headers: headers(), Body: body}
}

func duplicateResponse() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusAccepted, Headers: headers(), Body: `{"status":"duplicate"}`}
}

// messageOf returns the message of an error answer, for the log line.
func messageOf(resp events.APIGatewayV2HTTPResponse) string {
	var body errorBody
	if json.Unmarshal([]byte(resp.Body), &body) != nil {
		return ""
	}
	return body.Message
}

// errBusy is the answer to a request over Config.MaxInFlight.
var errBusy = errors.New("too many webhook requests in flight")

// unavailable answers a delivery a dependency could not take: 429 when it
// was throttled (or the handler is at its in-flight cap), 503 otherwise
// (errors, timeouts). Both carry Retry-After; the dedupe record, if any,
// stays pending, so the sender's retry enqueues.
func (h *Handler) unavailable(out *outcome, err error) events.APIGatewayV2HTTPResponse {
	out.result, out.err = "unavailable", err
	status, message := http.StatusServiceUnavailable, "hubsend cannot take this delivery right now; send it again after Retry-After seconds"
	if throttled(err) {
		status, message = http.StatusTooManyRequests, "too many deliveries right now; send it again after Retry-After seconds"
	}
	wait := h.cfg.RetryAfter
	var hinted interface{ RetryAfter() time.Duration }
	if errors.As(err, &hinted) && hinted.RetryAfter() > 0 {
		wait = min(hinted.RetryAfter(), time.Minute)
	}
	out.message = message
	resp := problem(status, message)
	resp.Headers["Retry-After"] = strconv.Itoa(int((wait + time.Second - 1) / time.Second))
	return resp
}

// throttled reports whether err says a dependency (DynamoDB, SQS, KMS) or
// the handler itself refused for load rather than failed.
func throttled(err error) bool {
	if errors.Is(err, errBusy) {
		return true
	}
	var quota *ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		return strings.Contains(code, "Throttl") ||
			code == "ProvisionedThroughputExceededException" ||
			code == "RequestLimitExceeded" ||
			code == "TooManyRequestsException"
	}
	return false
}
