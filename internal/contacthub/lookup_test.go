package contacthub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// encodedLookup is what Lookup must equal: the customer encoded to JSON,
// decoded with exact numbers, and walked.
func encodedLookup(t testing.TB, c Customer, path string) (any, bool) {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return lookupGeneric(doc, strings.Split(path, "."))
}

// objectPaths lists the dotted paths of every member of decoded JSON.
func objectPaths(doc any, prefix string, out *[]string) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return
	}
	for k, v := range obj {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		*out = append(*out, p)
		objectPaths(v, p, out)
	}
}

// checkLookup compares Lookup with the encoding on every path of the
// customer's JSON and on paths it does not have.
func checkLookup(t testing.TB, c Customer) {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		return // a value valid JSON cannot produce (a year past 9999)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	paths := []string{"", "base.missing", "base.contacts.email.x", "extended.a.b", "id.x", "registeredAt.x", "base.subscriptions.0", "tags.auto", "BASE", "base.FirstName"}
	objectPaths(doc, "", &paths)
	sort.Strings(paths)
	for _, path := range paths {
		want, wantFound := encodedLookup(t, c, path)
		got, found := c.Lookup(path)
		if found != wantFound || !reflect.DeepEqual(got, want) {
			t.Fatalf("Lookup(%q) = %#v, %v; the encoding has %#v, %v\ncustomer %s", path, got, found, want, wantFound, data)
		}
	}
}

func TestLookupWalksTheDecodedCustomer(t *testing.T) {
	tests := map[string]string{
		"full": `{"id":"c1","nodeId":"n1","externalId":"x1","extra":"","enabled":false,
			"registeredAt":"2017-03-09T11:31:31.842+0000",
			"base":{"firstName":"Giulia","lastName":null,"dob":"1980-05-17","jobs":[{"id":"j1"}],"credential":{"username":"g"},
			  "contacts":{"email":"g@example.com","otherContacts":[],"mobilePhone":""},
			  "address":{"city":"Bari","geo":{"lat":41.1,"lon":16.8},"zone":{"code":7}},
			  "subscriptions":[{"id":"nl","subscribed":true,"futureFlag":1}]},
			"extended":{"points":12345678901234567890,"nested":{"deep":{"x":null}},"list":[1,"a"],"none":null,"flag":false},
			"consents":{"marketing":{"automatic":{"email":{"status":true}}}},"tags":{"auto":[],"manual":["a"]},
			"sourceInfo":{"registeredBy":"s1"}}`,
		"empty":        `{}`,
		"nulls":        `{"base":null,"extended":null,"consents":null,"tags":null,"enabled":null}`,
		"folded case":  `{"BASE":{"FirstName":"x"},"Extended":{"a":1},"sourceinfo":{"a":1}}`,
		"unknown only": `{"base":{"unknownMember":{"a":[1,2]},"contacts":{"fax":"1","other":"o"}}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := DecodeCustomer([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			checkLookup(t, c)
		})
	}
	t.Run("values", func(t *testing.T) {
		c, err := DecodeCustomer([]byte(tests["full"]))
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]any{
			"base.contacts.email": "g@example.com", "extended.points": json.Number("12345678901234567890"),
			"extended.none": nil, "registeredAt": "2017-03-09T11:31:31.842+0000", "base.address.geo.lat": json.Number("41.1"),
			"base.address.zone.code": json.Number("7"), "consents.marketing.automatic.email.status": true,
		} {
			if got, ok := c.Lookup(path); !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("Lookup(%q) = %#v, %v, want %#v", path, got, ok, want)
			}
		}
		for _, path := range []string{"base.contacts.mobilePhone", "extra", "base.lastName", "updatedAt"} {
			if got, ok := c.Lookup(path); ok {
				t.Errorf("Lookup(%q) = %#v, want absent (the encoding leaves it out)", path, got)
			}
		}
	})
}

// FuzzLookup checks Lookup against the encoding on decoded customers.
func FuzzLookup(f *testing.F) {
	f.Add([]byte(`{"id":"c1","nodeId":"n","base":{"firstName":"A","contacts":{"email":"a@b.c"},"subscriptions":[{"id":"nl","subscribed":true}]}}`))
	f.Add([]byte(`{"base":null,"extended":{"n":1.5e300,"o":{"x":[1,"a",null]}},"tags":{"auto":null},"consents":{}}`))
	f.Add([]byte(`{"registeredAt":"2017-03-09T11:31:31.842+0000","unknown":{"deep":[{}]},"BASE":{"FirstName":"x"}}`))
	f.Add([]byte(`{"base":{"address":{"geo":{"lat":1,"lon":2},"x":{"y":1}},"contacts":{"EMAIL":"a","email":"b"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCustomer(data)
		if err != nil {
			return
		}
		checkLookup(t, c)
	})
}

// BenchmarkLookup compares a job's eight field lookups walking the decoded
// customer with what the worker did before: encode the customer, decode it
// generically once, and walk the tree.
func BenchmarkLookup(b *testing.B) {
	c, err := DecodeCustomer([]byte(`{"id":"c1","nodeId":"n1","externalId":"x1","registeredAt":"2017-03-09T11:31:31.842+0000",
		"base":{"firstName":"Giulia","lastName":"Rossi","dob":"1980-05-17","contacts":{"email":"g@example.com"},"address":{"city":"Bari"},
		"subscriptions":[{"id":"nl","subscribed":true}]},"extended":{"points":120,"vip":true,"shop":"Milano","lastPurchaseAt":"2024-03-09T11:31:31.842+0100"}}`))
	if err != nil {
		b.Fatal(err)
	}
	paths := []string{"base.contacts.email", "base.firstName", "base.lastName", "base.dob", "extended.lastPurchaseAt", "extended.points", "extended.vip", "extended.shop"}
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			for _, p := range paths {
				c.Lookup(p)
			}
		}
	})
	b.Run("encode once", func(b *testing.B) {
		for b.Loop() {
			data, _ := json.Marshal(c)
			doc, _ := decodeGeneric(data)
			for _, p := range paths {
				lookupGeneric(doc, strings.Split(p, "."))
			}
		}
	})
}
