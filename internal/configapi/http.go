package configapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/source"
)

// MaxBodyBytes is the largest request body the API reads.
const MaxBodyBytes = 1 << 20

// errorBody is every error answer: Contactlab's REST convention
// {message, errors[{path, message}]}, plus details some errors carry.
type errorBody struct {
	Message string           `json:"message"`
	Errors  []source.Problem `json:"errors,omitempty"`
	// Changes and Requirements explain a change the modification rules refused.
	Changes      []source.Change `json:"changes,omitempty"`
	Requirements []requirement   `json:"requirements,omitempty"`
	// Owner names the source that holds a node or userdb.
	Owner string `json:"owner,omitempty"`
}

type requirement struct {
	Requirement source.Requirement `json:"requirement"`
	Message     string             `json:"message"`
}

func jsonResponse(status int, body any) events.APIGatewayV2HTTPResponse {
	raw, err := json.Marshal(body)
	if err != nil {
		status, raw = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(raw),
	}
}

func problem(status int, message string, problems ...source.Problem) events.APIGatewayV2HTTPResponse {
	return jsonResponse(status, errorBody{Message: message, Errors: problems})
}

func noContent() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: map[string]string{"Cache-Control": "no-store"}}
}

func readBody(event *events.APIGatewayV2HTTPRequest) ([]byte, *events.APIGatewayV2HTTPResponse) {
	body := []byte(event.Body)
	if event.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(event.Body)
		if err != nil {
			resp := problem(http.StatusBadRequest, "body is not valid base64")
			return nil, &resp
		}
		body = decoded
	}
	if len(body) > MaxBodyBytes {
		resp := problem(http.StatusRequestEntityTooLarge, "the body is too large",
			source.Problem{Message: fmt.Sprintf("the body is %d bytes; the limit is %d (1 MiB)", len(body), MaxBodyBytes)})
		return nil, &resp
	}
	return body, nil
}

// decodeJSON reads a JSON body strictly: one value, known members only,
// named exactly (case-sensitive), each once, of the right types. The error
// names the offending member by its full path and says why.
func decodeJSON(r *request, into any) *events.APIGatewayV2HTTPResponse {
	if len(bytes.TrimSpace(r.body)) == 0 {
		resp := problem(http.StatusBadRequest, "request body is empty; send a JSON object")
		return &resp
	}
	if ct := r.header("Content-Type"); ct != "" {
		if media, _, err := mime.ParseMediaType(ct); err != nil || media != "application/json" {
			resp := problem(http.StatusUnsupportedMediaType, "send the body as application/json, not "+loggablePath(ct))
			return &resp
		}
	}
	if !utf8.Valid(r.body) {
		// encoding/json would quietly turn the bad bytes into U+FFFD.
		resp := problem(http.StatusBadRequest, "malformed JSON", source.Problem{Message: "the body is not valid UTF-8"})
		return &resp
	}
	if p := checkShape(r.body, reflect.TypeOf(into)); p != nil {
		resp := problem(http.StatusBadRequest, "malformed JSON", *p)
		return &resp
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		resp := problem(http.StatusBadRequest, "malformed JSON", jsonProblem(err))
		return &resp
	}
	return nil
}

func jsonProblem(err error) source.Problem {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return source.Problem{Message: fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, syntax)}
	case errors.As(err, &typ):
		return source.Problem{Path: typ.Field, Message: fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return source.Problem{Message: "the JSON ends too early"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return source.Problem{Path: field, Message: "unknown field"}
	}
	return source.Problem{Message: err.Error()}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int32", "int64", "uint", "uint64":
		return "an integer"
	case "float64", "float32":
		return "a number"
	}
	return kind
}
