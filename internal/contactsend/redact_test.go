package contactsend

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactRemovesSecretsFromServiceTexts(t *testing.T) {
	fault := &Fault{Code: "env:Receiver", Reason: "invalid apiKey sekret-api-key-123 for user sekret-user", Detail: "token tok-abcdef expired"}
	status := &StatusError{StatusCode: 502, Body: "<html>upstream saw sekret-api-key-123</html>"}
	for _, err := range []error{fault, status} {
		wrapped := errors.Join(errors.New("contactsend: addSubscriber"), err)
		redact(wrapped, "tok-abcdef", "sekret-api-key-123", "sekret-user")
		if text := wrapped.Error(); strings.Contains(text, "sekret") || strings.Contains(text, "tok-abcdef") {
			t.Errorf("secret left in %q", text)
		}
	}
	if fault.Reason == "" {
		t.Error("redaction emptied the reason")
	}
}
