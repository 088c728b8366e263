package pagetoken

import (
	"encoding/base64"
	"testing"
)

type position struct {
	Source string `json:"s"`
	Key    string `json:"k"`
}

func TestRoundTrip(t *testing.T) {
	want := position{Source: "src", Key: "2026#c1"}
	var got position
	if err := Decode(Encode(want), &got); err != nil || got != want {
		t.Fatalf("Decode(Encode(%v)) = %v, %v", want, got, err)
	}
}

func TestHandMadeTokensAreRefused(t *testing.T) {
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, token := range map[string]string{
		"not base64":          "!!",
		"padded base64":       base64.URLEncoding.EncodeToString([]byte(`{"s":"ab"}`)),
		"not JSON":            raw("s=a"),
		"an unknown member":   raw(`{"s":"a","x":1}`),
		"a second value":      raw(`{"s":"a"}{"s":"b"}`),
		"a member's own type": raw(`{"s":1}`),
	} {
		t.Run(name, func(t *testing.T) {
			var p position
			if err := Decode(token, &p); err == nil {
				t.Fatalf("Decode(%q) = %v, want an error", token, p)
			}
		})
	}
}
