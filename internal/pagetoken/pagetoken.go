// Package pagetoken makes the opaque "next page" tokens of hubsend's paged
// listings: a small JSON value in URL-safe base64. Decoding is strict (an
// unknown member or anything after the value is refused), so a hand-made
// token is an error the caller answers with 400, never a guess.
package pagetoken

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
)

// Encode returns the token of v, a struct of plain fields.
func Encode(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		// Only a programming error: page positions are strings and numbers.
		panic("pagetoken: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// Decode reads token into v, which must be a pointer to the type Encode
// was given.
func Decode(token string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("pagetoken: data after the value")
	}
	return nil
}
