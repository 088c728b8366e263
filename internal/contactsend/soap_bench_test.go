package contactsend

import (
	"strconv"
	"strings"
	"testing"
)

// twentyAttributes is an update as the worker sends it for a source with
// 20 mapped fields: strings, a date, numbers and flags.
func twentyAttributes(b *testing.B) Subscriber {
	b.Helper()
	s := Subscriber{ID: 2147483648}
	for i := range 20 {
		var v Value
		var err error
		switch i % 4 {
		case 0:
			v, err = ParseValue("STRING", "Valore & <testo> "+strconv.Itoa(i))
		case 1:
			v, err = ParseValue("DATE", "1980-05-17")
		case 2:
			v, err = ParseValue("INTEGER", strconv.Itoa(1000+i))
		default:
			v, err = ParseValue("FLAG", "true")
		}
		if err != nil {
			b.Fatal(err)
		}
		s.Attributes = append(s.Attributes, Attribute{Key: "FIELD_" + strconv.Itoa(i), Value: v})
	}
	return s
}

// BenchmarkEncodeUpdateSubscriber measures the request the client builds
// for updateSubscriber: token, userdb, 20 attributes, SOAP envelope.
//
//	go test -run '^$' -bench EncodeUpdateSubscriber -benchmem ./internal/contactsend/
func BenchmarkEncodeUpdateSubscriber(b *testing.B) {
	s := twentyAttributes(b)
	b.ReportAllocs()
	for b.Loop() {
		var w xmlBody
		w.token("0123456789abcdef0123456789abcdef")
		w.int("sourceIdentifier", 1001)
		w.subscriber("subscriber", s)
		_ = envelope("updateSubscriber", w.b.Bytes())
	}
}

// BenchmarkDecodeSubscriberResponse measures reading the full record
// updateSubscriber returns, 20 typed attributes, into a Subscriber.
//
//	go test -run '^$' -bench DecodeSubscriberResponse -benchmem ./internal/contactsend/
func BenchmarkDecodeSubscriberResponse(b *testing.B) {
	var body strings.Builder
	body.WriteString(`<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body><ns2:updateSubscriberResponse xmlns:ns2="http://ws.api.contactlab.com/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"><return><identifier>2147483648</identifier>`)
	for i := range 20 {
		typ, text := "xs:string", "Valore &amp; testo "+strconv.Itoa(i)
		switch i % 4 {
		case 1:
			typ, text = "xs:date", "1980-05-17"
		case 2:
			typ, text = "xs:int", strconv.Itoa(1000+i)
		case 3:
			typ, text = "xs:boolean", "true"
		}
		body.WriteString(`<attributes><key>FIELD_` + strconv.Itoa(i) + `</key><value xsi:type="` + typ + `">` + text + `</value></attributes>`)
	}
	body.WriteString(`</return></ns2:updateSubscriberResponse></S:Body></S:Envelope>`)
	data := []byte(body.String())
	var check wireSubscriber
	if err := decodeResponse(data, "updateSubscriber", &check); err != nil {
		b.Fatal(err)
	}
	if s, err := check.subscriber(); err != nil || len(s.Attributes) != 20 {
		b.Fatalf("decoded %d attributes, error %v", len(s.Attributes), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var w wireSubscriber
		if err := decodeResponse(data, "updateSubscriber", &w); err != nil {
			b.Fatal(err)
		}
		if _, err := w.subscriber(); err != nil {
			b.Fatal(err)
		}
	}
}
