package sendsim

import (
	"errors"
	"testing"
)

// FuzzParseRequest feeds arbitrary bytes to the request parser: it must
// never panic, and it either finds an operation in the service namespace or
// reports a fault.
func FuzzParseRequest(f *testing.F) {
	seeds := []string{
		`<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:borrowToken xmlns:ws="http://ws.api.contactlab.com/"><apiKey>a</apiKey><userKey>b</userKey></ws:borrowToken></soap:Body></soap:Envelope>`,
		`<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"><soap:Header/><soap:Body><ws:addSubscriber xmlns:ws="http://ws.api.contactlab.com/"><token><content>t</content></token><sourceIdentifier>1</sourceIdentifier><subscriber><attributes><key>EMAIL</key><value xsi:type="xs:string">a@b</value></attributes></subscriber></ws:addSubscriber></soap:Body></soap:Envelope>`,
		`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><w:x xmlns:w="http://ws.api.contactlab.com/"/></e:Body></e:Envelope>`,
		`<Envelope/>`, `<a><b>`, ``, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseRequest(data)
		if err != nil {
			var fe *faultError
			if !errors.As(err, &fe) {
				t.Fatalf("parse error is not a fault: %v", err)
			}
			return
		}
		if req.op == "" || req.body == nil || req.body.name.Space != nsWS {
			t.Fatalf("parsed request without an operation: %+v", req)
		}
		// The value and number readers must cope with whatever came in.
		for _, c := range req.body.children {
			valueOf(c)
			intOf(req.body, c.name.Local, false)
		}
	})
}
