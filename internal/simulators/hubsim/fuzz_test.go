package hubsim

import (
	"testing"
	"time"
)

// FuzzCustomerBody feeds arbitrary request bodies to the parsing and
// validation a POST /customers runs. It must never panic, and a body it
// accepts must be stored as a customer that validates again unchanged.
func FuzzCustomerBody(f *testing.F) {
	f.Add([]byte(`{"nodeId":"` + italy + `","base":{"firstName":"A","contacts":{"email":"a@b.it"},"subscriptions":[{"id":"nl","subscribed":true}]}}`))
	f.Add([]byte(`{"nodeId":"` + italy + `","extended":{"loyaltyPoints":3,"preferences":{"channel":null}},"tags":{"auto":[],"manual":["x"]}}`))
	f.Add([]byte(`{"nodeId":"` + italy + `","base":{"dob":"2000-02-29","address":{"geo":{"lat":1e400}}}}`))
	f.Add([]byte(`{"nodeId":1,"base":[],"extended":"x"}`))
	f.Add([]byte(`{"a":{"b":{"c":[[[[{}]]]]}}}`))
	seed := testSeed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := build(seed, newRand(1), func() time.Time { return time.Unix(0, 0) })
		if err != nil {
			t.Fatal(err)
		}
		ws := w.workspaces[testWS]
		doc, perr := ParseBody(data, messageInvalidCustomer)
		if perr != nil {
			return
		}
		stored, serr := w.createCustomer(ws, doc, "http://x")
		if serr != nil {
			if serr.Status != 400 && serr.Status != 404 && serr.Status != 409 {
				t.Fatalf("unexpected status %d", serr.Status)
			}
			return
		}
		again := clone(stored).(map[string]any)
		if err := ws.validateCustomer(again, modePut); err != nil {
			t.Fatalf("stored customer does not validate: %v\n%v", err, stored)
		}
	})
}
