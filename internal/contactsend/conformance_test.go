package contactsend_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/testkit"
)

// recorder keeps every request body the client sends.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []capturedRequest
}

type capturedRequest struct {
	contentType string
	body        []byte
	response    []byte
	status      int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	r.mu.Lock()
	r.reqs = append(r.reqs, capturedRequest{req.Header.Get("Content-Type"), body, answer, resp.StatusCode})
	r.mu.Unlock()
	return resp, nil
}

// referenceDir finds the shared reference contracts: $HUBSEND_REFERENCE_DIR,
// or ../shared/reference beside the module root.
func referenceDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("HUBSEND_REFERENCE_DIR"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference")
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// referenceSchemas copies the 2016 reference XSDs into a temporary folder
// (the first imports the second by relative path) and returns the first.
func referenceSchemas(t *testing.T) string {
	t.Helper()
	ref := referenceDir(t)
	src := filepath.Join(ref, "contactsend")
	if _, err := os.Stat(filepath.Join(src, "contactlabwebservice_1.xsd")); err != nil {
		t.Skipf("reference contracts not found at %s (set HUBSEND_REFERENCE_DIR): %v", src, err)
	}
	dir := t.TempDir()
	for _, name := range []string{"contactlabwebservice_1.xsd", "contactlabwebservice_2.xsd"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "contactlabwebservice_1.xsd")
}

// simulatorSchemas writes the schemas embedded in the simulator's own WSDL
// to files and returns the operations schema.
func simulatorSchemas(t *testing.T) string {
	t.Helper()
	wsdl := sendsim.WSDL("http://localhost/soap/services")
	const decl = ` xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:dom="domain.ws.api.contactlab.com" xmlns:tns="http://ws.api.contactlab.com/"`
	var schemas []string
	rest := wsdl
	for {
		start := strings.Index(rest, "<xs:schema ")
		if start < 0 {
			break
		}
		end := strings.Index(rest[start:], "</xs:schema>")
		if end < 0 {
			t.Fatal("unterminated schema in the simulator's WSDL")
		}
		s := rest[start : start+end+len("</xs:schema>")]
		s = strings.Replace(s, "<xs:schema ", "<xs:schema"+decl+" ", 1)
		schemas = append(schemas, s)
		rest = rest[start+end:]
	}
	if len(schemas) != 2 {
		t.Fatalf("simulator WSDL has %d schemas, want 2", len(schemas))
	}
	dir := t.TempDir()
	domain := filepath.Join(dir, "domain.xsd")
	ops := filepath.Join(dir, "ws.xsd")
	schemas[1] = strings.Replace(schemas[1], `<xs:import namespace="domain.ws.api.contactlab.com"/>`,
		`<xs:import namespace="domain.ws.api.contactlab.com" schemaLocation="domain.xsd"/>`, 1)
	if err := os.WriteFile(domain, []byte(schemas[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ops, []byte(schemas[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	return ops
}

// requireXmllint finds xmllint, or skips the test saying what is not
// checked and how to make its absence a failure; under CI (CI=true, or
// HUBSEND_REQUIRE_XMLLINT=1) a missing xmllint fails the test, so the schema
// check can never pass by not running there.
func requireXmllint(t *testing.T) string {
	t.Helper()
	path, verdict := findXmllint(exec.LookPath, os.Getenv)
	switch verdict {
	case xmllintMissingRequired:
		t.Fatal(xmllintMissing + "; it is required here (CI=true or HUBSEND_REQUIRE_XMLLINT=1): apt-get install -y libxml2-utils")
	case xmllintMissingOptional:
		t.Skip("SKIPPED: " + xmllintMissing + " (apt-get install -y libxml2-utils); set HUBSEND_REQUIRE_XMLLINT=1 to fail instead of skipping")
	}
	return path
}

const xmllintMissing = "xmllint is not installed, so the Contactsend SOAP messages are NOT validated against the reference XSDs"

type xmllintVerdict int

const (
	xmllintFound xmllintVerdict = iota
	xmllintMissingOptional
	xmllintMissingRequired
)

// findXmllint decides what a missing xmllint means, from the environment.
func findXmllint(lookPath func(string) (string, error), getenv func(string) string) (string, xmllintVerdict) {
	if path, err := lookPath("xmllint"); err == nil {
		return path, xmllintFound
	}
	if getenv("HUBSEND_REQUIRE_XMLLINT") == "1" || getenv("CI") == "true" {
		return "", xmllintMissingRequired
	}
	return "", xmllintMissingOptional
}

func TestFindXmllint(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/xmllint", nil }
	missing := func(string) (string, error) { return "", exec.ErrNotFound }
	tests := []struct {
		name     string
		lookPath func(string) (string, error)
		env      map[string]string
		want     xmllintVerdict
	}{
		{"installed", found, map[string]string{"CI": "true"}, xmllintFound},
		{"missing on a laptop skips", missing, nil, xmllintMissingOptional},
		{"missing in CI fails", missing, map[string]string{"CI": "true"}, xmllintMissingRequired},
		{"missing when required fails", missing, map[string]string{"HUBSEND_REQUIRE_XMLLINT": "1"}, xmllintMissingRequired},
		{"CI=false skips", missing, map[string]string{"CI": "false"}, xmllintMissingOptional},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := findXmllint(tt.lookPath, func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("verdict %d, want %d", got, tt.want)
			}
		})
	}
}

// bodyElement cuts the element inside soap:Body out of an envelope, adding
// the namespace declarations it inherits from the envelope.
func bodyElement(envelope []byte) (op string, element []byte, err error) {
	d := xml.NewDecoder(bytes.NewReader(envelope))
	var inherited []xml.Attr
	depth, start := 0, int64(-1)
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return "", nil, fmt.Errorf("no Body element: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth <= 2 {
				for _, a := range t.Attr {
					if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
						inherited = append(inherited, a)
					}
				}
			}
			if depth == 2 && t.Name.Local == "Body" {
				start = d.InputOffset()
			}
			if depth == 3 && op == "" {
				op = t.Name.Local
			}
		case xml.EndElement:
			if depth == 2 && t.Name.Local == "Body" {
				el := bytes.TrimSpace(envelope[start:before])
				return op, addNamespaces(el, inherited), nil
			}
			depth--
		}
	}
}

func addNamespaces(el []byte, attrs []xml.Attr) []byte {
	end := bytes.IndexByte(el, '>')
	head := string(el[:end])
	var b strings.Builder
	for _, a := range attrs {
		name := "xmlns:" + a.Name.Local
		if a.Name.Space == "" {
			name = "xmlns"
		}
		if !strings.Contains(head, name+"=") {
			fmt.Fprintf(&b, ` %s="%s"`, name, a.Value)
		}
	}
	return append([]byte(head+b.String()), el[end:]...)
}

func validate(t *testing.T, xmllint, schema string, body []byte) error {
	t.Helper()
	file := filepath.Join(t.TempDir(), "body.xml")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", schema, file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// notInReferenceSchema lists operations the live service has (JC 2.24.4)
// but the 2016 reference XSD predates.
var notInReferenceSchema = map[string]bool{"findSubscribersBy": true, "findSubscriptionsBy": true}

// TestRequestsConformToSchemas drives every operation of the client against
// the simulator and validates each request's body element, and the
// simulator's answer, with xmllint: against the 2016 reference XSD where it
// declares the operation, and against the simulator's own WSDL schema always.
//
// The reference XSD types ids as xs:int, so this test seeds ids below 2^31;
// the live service (and the simulator's schema) take xs:long.
func TestRequestsConformToSchemas(t *testing.T) {
	xmllint := requireXmllint(t)
	refSchema := referenceSchemas(t)
	simSchema := simulatorSchemas(t)

	seed, err := sendsim.LoadSeed(filepath.Join("..", "simulators", "sendsim", "testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range seed.UserDBs {
		seed.UserDBs[i].Subscribers = nil
	}
	seed.NextSubscriberID = 1000
	clock := testkit.NewClock(time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC))
	sim := sendsim.New(sendsim.Options{Seed: seed, Clock: clock.Now})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	rec := &recorder{next: http.DefaultTransport}
	c, err := contactsend.New(contactsend.Config{Endpoint: srv.URL + sendsim.ServicePath, HTTPClient: &http.Client{Transport: rec}, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err = c.SubscriberSource(ctx, demo, newsletterDB)
	must(err)
	_, err = c.CountSubscribers(ctx, demo, newsletterDB)
	must(err)
	added, err := c.AddSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{Attributes: []contactsend.Attribute{
		{Key: "EMAIL", Value: contactsend.StringValue("xsd@example.com")},
		{Key: "GENDER", Value: contactsend.TextValue(contactsend.Char, "F")},
		{Key: "NOTES", Value: contactsend.TextValue(contactsend.Text, "a < b & c")},
		{Key: "BIRTH_DATE", Value: contactsend.TimeValue(contactsend.Date, tm)},
		{Key: "LAST_ORDER_AT", Value: contactsend.TimeValue(contactsend.DateTime, tm)},
		{Key: "UPDATED_AT", Value: contactsend.TimeValue(contactsend.Timestamp, tm)},
		{Key: "PREFERRED_TIME", Value: contactsend.TimeValue(contactsend.Time, tm)},
		{Key: "LOYALTY_POINTS", Value: contactsend.IntValue(7)},
		{Key: "ORDERS", Value: contactsend.IntValue(2)},
		{Key: "CUSTOMER_NUMBER", Value: contactsend.LongValue(1 << 40)},
		{Key: "LIFETIME_VALUE", Value: contactsend.DoubleValue(3.5)},
		{Key: "PRIVACY_ACCEPTED", Value: contactsend.FlagValue(true)},
		{Key: "__cls1", Value: contactsend.IntValue(0)},
	}})
	must(err)
	_, err = c.GetSubscriber(ctx, demo, newsletterDB, added.ID)
	must(err)
	_, err = c.AddSubscribers(ctx, demo, newsletterDB, []contactsend.Subscriber{
		{Attributes: []contactsend.Attribute{{Key: "EMAIL", Value: contactsend.StringValue("bulk1@example.com")}}},
		{Attributes: []contactsend.Attribute{{Key: "EMAIL", Value: contactsend.StringValue("bulk2@example.com")}, {Key: "ORDERS", Value: contactsend.IntValue(3)}}},
	})
	must(err)
	_, err = c.UpdateSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{ID: added.ID, Attributes: []contactsend.Attribute{
		{Key: "FIRST_NAME", Value: contactsend.StringValue("Xsd")},
	}})
	must(err)
	for _, mode := range []contactsend.MatchingMode{contactsend.Equals, contactsend.Like} { // the 2016 enumeration
		_, err = c.FindSubscribers(ctx, demo, newsletterDB, contactsend.Attribute{Key: "EMAIL", Value: contactsend.StringValue("xsd@example.com")},
			contactsend.LookupPrefs{MatchingMode: mode, SortingMode: contactsend.Ascending})
		must(err)
	}
	_, err = c.FindSubscribersBy(ctx, demo, newsletterDB, contactsend.Query{
		Select: []string{"EMAIL"},
		Where: []contactsend.Filter{
			{Attribute: "EMAIL", Mode: contactsend.Like, Value: contactsend.StringValue("%@example.com")},
			{Attribute: "__cls1", Mode: contactsend.In, Values: []contactsend.Value{contactsend.IntValue(0), contactsend.IntValue(1)}},
			{Attribute: "MOBILE", Mode: contactsend.IsNull},
		},
		Sort: []contactsend.Sort{{Field: "EMAIL"}},
	})
	must(err)
	must(c.ModifySubscriptionStatus(ctx, demo, newsletterWF, added.ID, true))
	_, err = c.Subscriptions(ctx, demo, newsletterDB)
	must(err)
	clock.Advance(11 * time.Minute) // the next call keeps the token alive first
	must(c.RemoveSubscriber(ctx, demo, newsletterDB, added.ID))
	must(c.Close(ctx))

	seen := map[string]bool{}
	for _, req := range rec.reqs {
		if req.contentType != "application/soap+xml; charset=utf-8" {
			t.Errorf("Content-Type = %q", req.contentType)
		}
		op, el, err := bodyElement(req.body)
		if err != nil {
			t.Fatalf("%v in %s", err, req.body)
		}
		seen[op] = true
		t.Run(op, func(t *testing.T) {
			if !notInReferenceSchema[op] {
				if err := validate(t, xmllint, refSchema, el); err != nil {
					t.Errorf("reference XSD rejects %s:\n%s\n%v", op, el, err)
				}
			}
			if err := validate(t, xmllint, simSchema, el); err != nil {
				t.Errorf("simulator WSDL schema rejects %s:\n%s\n%v", op, el, err)
			}
			// The simulator's answers obey the same schemas.
			if req.status != http.StatusOK {
				t.Fatalf("%s answered %d: %s", op, req.status, req.response)
			}
			_, answer, err := bodyElement(req.response)
			if err != nil {
				t.Fatalf("%v in %s", err, req.response)
			}
			if !notInReferenceSchema[op] {
				if err := validate(t, xmllint, refSchema, answer); err != nil {
					t.Errorf("reference XSD rejects the answer to %s:\n%s\n%v", op, answer, err)
				}
			}
			if err := validate(t, xmllint, simSchema, answer); err != nil {
				t.Errorf("simulator WSDL schema rejects the answer to %s:\n%s\n%v", op, answer, err)
			}
		})
	}
	for _, op := range sendsim.Operations() {
		if !seen[op] {
			t.Errorf("operation %s was not exercised", op)
		}
	}

	// The check has teeth: a wrong element and a wrong value type fail.
	bad := []string{
		`<ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/"><token><content>x</content></token><sourceIdentifier>abc</sourceIdentifier></ws:countSubscribers>`,
		`<ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/"><token><content>x</content></token><sourceId>1</sourceId></ws:countSubscribers>`,
		`<ws:getSubscriber xmlns:ws="http://ws.api.contactlab.com/"><ws:token><content>x</content></ws:token><sourceIdentifier>1</sourceIdentifier><subscriberIdentifier>1</subscriberIdentifier></ws:getSubscriber>`,
	}
	for _, b := range bad {
		if err := validate(t, xmllint, refSchema, []byte(b)); err == nil {
			t.Errorf("reference XSD accepted an invalid body: %s", b)
		}
	}
}

// TestLongIDsExceedTheReferenceSchema documents why the schema test uses
// small ids: the 2016 XSD rejects a long id that the live service takes.
func TestLongIDsExceedTheReferenceSchema(t *testing.T) {
	xmllint := requireXmllint(t)
	refSchema := referenceSchemas(t)
	simSchema := simulatorSchemas(t)
	body := []byte(`<ws:getSubscriber xmlns:ws="http://ws.api.contactlab.com/"><token><content>x</content></token><sourceIdentifier>1</sourceIdentifier><subscriberIdentifier>2147483648</subscriberIdentifier></ws:getSubscriber>`)
	if err := validate(t, xmllint, refSchema, body); err == nil {
		t.Error("the 2016 XSD unexpectedly accepts an id above 2^31-1")
	}
	if err := validate(t, xmllint, simSchema, body); err != nil {
		t.Errorf("the simulator's schema must accept long ids: %v", err)
	}
}
