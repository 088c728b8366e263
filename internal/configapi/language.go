package configapi

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/text/language"

	"github.com/hubsend/hubsend/internal/translation"
)

// localize answers in the caller's language (Accept-Language): the
// messages of a JSON answer, every string member named message or note at
// any depth, are translated. Everything else (names, ids, reasons stored
// from a sync) stays as it is. English answers go out untouched.
func localize(acceptLanguage string, resp events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	if !strings.HasPrefix(resp.Headers["Content-Type"], "application/json") {
		return resp
	}
	// Caches must keep the answers of each language apart.
	resp.Headers["Vary"] = "Accept-Language"
	tag := translation.Match(acceptLanguage)
	if tag == language.English || resp.Body == "" || resp.IsBase64Encoded {
		return resp
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return resp
	}
	if !translateMessages(tag, doc) {
		return resp
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return resp
	}
	resp.Body = strings.TrimSuffix(out.String(), "\n")
	resp.Headers["Content-Language"] = tag.String()
	return resp
}

// translateMessages translates the messages in a decoded JSON document in
// place, and reports whether it changed any.
func translateMessages(tag language.Tag, doc any) bool {
	changed := false
	switch v := doc.(type) {
	case map[string]any:
		for k, member := range v {
			if text, ok := member.(string); ok && (k == "message" || k == "note") {
				if t := translation.Into(tag, text); t != text {
					v[k], changed = t, true
				}
				continue
			}
			changed = translateMessages(tag, member) || changed
		}
	case []any:
		for _, item := range v {
			changed = translateMessages(tag, item) || changed
		}
	}
	return changed
}
