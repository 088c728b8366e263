package contacthub

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeCustomer checks that decoding never panics and that a decoded
// customer encodes to JSON that decodes to the same encoding: what Put
// sends back is stable.
func FuzzDecodeCustomer(f *testing.F) {
	f.Add([]byte(`{"id":"c1","nodeId":"n","base":{"firstName":"A","contacts":{"email":"a@b.c"},"subscriptions":[{"id":"nl","subscribed":true}]}}`))
	f.Add([]byte(`{"base":null,"extended":{"n":1.5e300,"o":{"x":[1,"a",null]}},"tags":{"auto":null},"consents":{}}`))
	f.Add([]byte(`{"registeredAt":"2017-03-09T11:31:31.842+0000","unknown":{"deep":[{}]},"BASE":{"FirstName":"x"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCustomer(data)
		if err != nil {
			return
		}
		first, err := json.Marshal(c)
		if err != nil {
			// Only values the decoder cannot produce from valid JSON fail
			// here, such as a time beyond year 9999.
			return
		}
		again, err := DecodeCustomer(first)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", first, err)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(first) != string(second) {
			t.Fatalf("unstable encoding:\n%s\n%s", first, second)
		}
	})
}
