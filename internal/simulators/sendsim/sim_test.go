package sendsim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/simulators/faults"
)

var start = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	seed, err := LoadSeed(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Seed: seed, Clock: func() time.Time { return start }})
}

// soap posts a SOAP 1.2 envelope around the operation element op holding inner.
func soap(t *testing.T, h http.Handler, op, inner string) (int, string) {
	t.Helper()
	env := `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:ws="http://ws.api.contactlab.com/" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body><ws:` +
		op + `>` + inner + `</ws:` + op + `></soap:Body></soap:Envelope>`
	return post(t, h, "application/soap+xml; charset=utf-8", env)
}

func post(t *testing.T, h http.Handler, contentType, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, ServicePath, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

var contentPattern = regexp.MustCompile(`<content>([^<]+)</content>`)

func borrow(t *testing.T, h http.Handler) string {
	t.Helper()
	code, body := soap(t, h, "borrowToken", `<apiKey>demo-api-key</apiKey><userKey>demo-user-key</userKey>`)
	m := contentPattern.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("borrowToken: %d %s", code, body)
	}
	return m[1]
}

func tok(token string) string { return `<token><content>` + token + `</content></token>` }

// reason extracts a SOAP 1.2 fault's code and reason.
func reason(t *testing.T, body string) (code, text string) {
	t.Helper()
	var env struct {
		Body struct {
			Fault struct {
				Code struct {
					Value string `xml:"Value"`
				} `xml:"Code"`
				Reason struct {
					Text struct {
						Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
						Text string `xml:",chardata"`
					} `xml:"Text"`
				} `xml:"Reason"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("fault body: %v: %s", err, body)
	}
	if env.Body.Fault.Reason.Text.Lang != "en" {
		t.Errorf("fault reason has xml:lang %q, want en", env.Body.Fault.Reason.Text.Lang)
	}
	return env.Body.Fault.Code.Value, env.Body.Fault.Reason.Text.Text
}

func TestSeeds(t *testing.T) {
	if _, err := LoadSeed(filepath.Join("testdata", "seed.json")); err != nil {
		t.Fatalf("testdata seed: %v", err)
	}
	bad := []struct{ name, json, want string }{
		{"unknown type", `{"userDbs":[{"id":1,"name":"a","fields":[{"name":"A","type":"EMAIL"}]}]}`, "unknown type"},
		{"registration field", `{"userDbs":[{"id":1,"name":"a","fields":[],"subscriptions":[{"id":1,"name":"n","registrationField":"cls1","webformCode":"1"}]}]}`, "__clsN"},
		{"account userDb", `{"accounts":[{"apiKey":"a","userKey":"b","userDbs":[7]}],"userDbs":[]}`, "unknown userDb"},
		{"duplicate subscriber", `{"userDbs":[{"id":1,"name":"a","fields":[{"name":"E","type":"STRING"}],"subscribers":[{"id":5,"attributes":{}},{"id":5,"attributes":{}}]}]}`, "duplicate"},
		{"typed value", `{"userDbs":[{"id":1,"name":"a","fields":[{"name":"N","type":"INTEGER"}],"subscribers":[{"id":5,"attributes":{"N":"x"}}]}]}`, "Invalid value"},
		{"unknown key", `{"userDbs":[],"extra":1}`, "unknown field"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSeed([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestEnvelopesAndFaults(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	tests := []struct {
		name        string
		contentType string
		body        string
		wantCode    string
		wantReason  string
	}{
		{"bad credentials", "application/soap+xml", `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:borrowToken xmlns:ws="http://ws.api.contactlab.com/"><apiKey>x</apiKey><userKey>y</userKey></ws:borrowToken></soap:Body></soap:Envelope>`, "S:Receiver", reasonBadCredentials},
		{"not XML", "application/soap+xml", `<oops`, "S:Sender", "Unable to parse"},
		{"unknown operation", "application/soap+xml", `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:sendCampaign xmlns:ws="http://ws.api.contactlab.com/"/></soap:Body></soap:Envelope>`, "S:Sender", "Cannot find dispatch method"},
		{"wrong namespace", "application/soap+xml", `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><borrowToken/></soap:Body></soap:Envelope>`, "S:Sender", "Cannot find dispatch method"},
		{"qualified children are not seen", "application/soap+xml", `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/"><ws:token><ws:content>` + token + `</ws:content></ws:token><ws:sourceIdentifier>101</ws:sourceIdentifier></ws:countSubscribers></soap:Body></soap:Envelope>`, "S:Receiver", reasonTokenExpired},
		{"unknown userDb", "application/soap+xml", `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/">` + tok(token) + `<sourceIdentifier>201</sourceIdentifier></ws:countSubscribers></soap:Body></soap:Envelope>`, "S:Receiver", "Subscriber source not found: 201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, s, tt.contentType, tt.body)
			if code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", code, body)
			}
			c, r := reason(t, body)
			if c != tt.wantCode || !strings.Contains(r, tt.wantReason) {
				t.Fatalf("fault %s %q, want %s %q", c, r, tt.wantCode, tt.wantReason)
			}
		})
	}

	// The real binding is SOAP 1.2 only (JAX-WS RI 2.1.7): a media type
	// other than application/soap+xml is refused with 415 and no body
	// before the envelope is read; a SOAP 1.1 envelope sent as SOAP 1.2 is
	// a VersionMismatch fault. Neither operation runs.
	envelope11 := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/">` + tok(token) + `<sourceIdentifier>101</sourceIdentifier></ws:countSubscribers></soapenv:Body></soapenv:Envelope>`
	envelope12 := `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/">` + tok(token) + `<sourceIdentifier>101</sourceIdentifier></ws:countSubscribers></soap:Body></soap:Envelope>`
	refused := []struct {
		name, contentType, body string
	}{
		{"SOAP 1.1 as text/xml", "text/xml; charset=utf-8", envelope11},
		{"SOAP 1.2 envelope as text/xml", "text/xml; charset=utf-8", envelope12},
		{"no content type", "", envelope12},
		{"application/xml", "application/xml", envelope12},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Calls().Counts()["countSubscribers"]
			req := httptest.NewRequest(http.MethodPost, ServicePath, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			req.Header.Set("SOAPAction", `""`)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnsupportedMediaType || rec.Body.Len() != 0 {
				t.Fatalf("%d %q, want 415 and no body", rec.Code, rec.Body.String())
			}
			if s.Calls().Counts()["countSubscribers"] != before {
				t.Error("the operation ran")
			}
		})
	}
	t.Run("SOAP 1.1 envelope as SOAP 1.2", func(t *testing.T) {
		code, body := post(t, s, "application/soap+xml; charset=utf-8", envelope11)
		if code != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500: %s", code, body)
		}
		c, r := reason(t, body)
		if c != "S:VersionMismatch" || !strings.Contains(r, "Expecting Envelope in namespace http://www.w3.org/2003/05/soap-envelope") {
			t.Fatalf("fault %s %q, want S:VersionMismatch", c, r)
		}
		if strings.Contains(body, "<return>") {
			t.Error("the operation answered")
		}
	})
	t.Run("media type parameters and case", func(t *testing.T) {
		if code, body := post(t, s, `Application/SOAP+XML;charset="UTF-8";action=""`, envelope12); code != http.StatusOK || !strings.Contains(body, "<return>3</return>") {
			t.Fatalf("%d %s", code, body)
		}
	})

	t.Run("response shape", func(t *testing.T) {
		code, body := soap(t, s, "getSubscriber", tok(token)+`<sourceIdentifier>101</sourceIdentifier><subscriberIdentifier>2147483648</subscriberIdentifier>`)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		for _, want := range []string{
			`<ns2:getSubscriberResponse xmlns:ns2="http://ws.api.contactlab.com/"`,
			`<return><identifier>2147483648</identifier>`,
			`<key>EMAIL</key><value xsi:type="xs:string">mario.rossi@example.com</value>`,
			`<key>LOYALTY_POINTS</key><value xsi:type="xs:int">120</value>`,
			`<key>CUSTOMER_NUMBER</key><value xsi:type="xs:long">9000000001</value>`,
			`<key>LIFETIME_VALUE</key><value xsi:type="xs:double">1234.5</value>`,
			`<key>PRIVACY_ACCEPTED</key><value xsi:type="xs:boolean">true</value>`,
			`<key>BIRTH_DATE</key><value xsi:type="xs:string">1980-05-17</value>`,
			`<key>__cls2</key><value xsi:type="xs:int">-1</value>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("response lacks %s:\n%s", want, body)
			}
		}
	})
}

func TestTokenLifecycle(t *testing.T) {
	s := newTestServer(t)
	count := func(token string) int {
		code, _ := soap(t, s, "countSubscribers", tok(token)+`<sourceIdentifier>101</sourceIdentifier>`)
		return code
	}
	token := borrow(t, s)
	s.Advance(DefaultTokenIdle - time.Second)
	if code := count(token); code != 200 {
		t.Fatalf("just before expiry: %d", code)
	}
	s.Advance(DefaultTokenIdle - time.Second) // use renewed the idle timer
	if code, body := soap(t, s, "keepaliveToken", tok(token)); code != 200 || !strings.Contains(body, "<return>true</return>") {
		t.Fatalf("keepalive: %d %s", code, body)
	}
	s.Advance(DefaultTokenIdle)
	if code := count(token); code != 500 {
		t.Fatalf("after idle expiry: %d, want a fault", code)
	}
	token = borrow(t, s)
	if code, body := soap(t, s, "invalidateToken", tok(token)); code != 200 || !strings.Contains(body, "<return>true</return>") {
		t.Fatalf("invalidate: %d %s", code, body)
	}
	if code := count(token); code != 500 {
		t.Fatalf("after invalidate: %d, want a fault", code)
	}
}

func TestTypedValues(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	tests := []struct {
		field, xsiType, text string
		want                 string // stored text; "" means a fault
	}{
		{"FIRST_NAME", "xs:string", "Ann", "Ann"},
		{"FIRST_NAME", "xs:string", strings.Repeat("x", 256), ""},
		{"NOTES", "xs:string", strings.Repeat("x", 256), strings.Repeat("x", 256)},
		{"LOYALTY_POINTS", "xs:int", "-7", "-7"},
		{"LOYALTY_POINTS", "xs:string", "12", "12"},
		{"LOYALTY_POINTS", "xs:string", "twelve", ""},
		{"LOYALTY_POINTS", "xs:long", "4294967296", ""},
		{"LOYALTY_POINTS", "xs:int", "abc", ""},
		{"ORDERS", "xs:int", "-1", ""},
		{"ORDERS", "xs:int", "0", "0"},
		{"CUSTOMER_NUMBER", "xs:long", "9223372036854775807", "9223372036854775807"},
		{"LIFETIME_VALUE", "xs:double", "1e3", "1000"},
		{"LIFETIME_VALUE", "xs:string", "NaN", ""},
		{"PRIVACY_ACCEPTED", "xs:boolean", "1", "true"},
		{"PRIVACY_ACCEPTED", "xs:string", "yes", ""},
		{"BIRTH_DATE", "xs:string", "1999-12-31", "1999-12-31"},
		{"BIRTH_DATE", "xs:date", "1999-12-31", "1999-12-31"},
		{"BIRTH_DATE", "xs:string", "31/12/1999", ""},
		{"LAST_ORDER_AT", "xs:string", "2024-01-02 03:04:05", "2024-01-02 03:04:05"},
		{"LAST_ORDER_AT", "xs:dateTime", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05"},
		{"UPDATED_AT", "xs:string", "2024-01-02", "2024-01-02 00:00:00"},
		{"PREFERRED_TIME", "xs:string", "23:59:59", "23:59:59"},
		{"PREFERRED_TIME", "xs:string", "25:00:00", ""},
		{"__cls1", "xs:int", "1", "1"},
		{"__cls1", "xs:int", "2", ""},
		{"NOPE", "xs:string", "x", ""},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s=%s", tt.field, tt.text[:min(len(tt.text), 12)]), func(t *testing.T) {
			email := fmt.Sprintf("typed%d@example.com", i)
			code, body := soap(t, s, "addSubscriber", tok(token)+`<sourceIdentifier>101</sourceIdentifier><subscriber>`+
				`<attributes><key>EMAIL</key><value xsi:type="xs:string">`+email+`</value></attributes>`+
				`<attributes><key>`+tt.field+`</key><value xsi:type="`+tt.xsiType+`">`+tt.text+`</value></attributes></subscriber>`)
			if tt.want == "" {
				if code != 500 {
					t.Fatalf("accepted %q into %s: %s", tt.text, tt.field, body)
				}
				return
			}
			if code != 200 {
				t.Fatalf("refused: %s", body)
			}
			if !strings.Contains(body, `<key>`+tt.field+`</key><value xsi:type="`+xsiType(fieldType(t, s, tt.field))+`">`+tt.want+`</value>`) {
				t.Fatalf("stored value is not %q: %s", tt.want, body)
			}
		})
	}
}

func fieldType(t *testing.T, s *Server, name string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.userDBs[101].byName[name].Type
}

func TestSubscriptionStatus(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	code, body := soap(t, s, "addSubscriber", tok(token)+`<sourceIdentifier>101</sourceIdentifier><subscriber><attributes><key>EMAIL</key><value xsi:type="xs:string">new@example.com</value></attributes></subscriber>`)
	if code != 200 || !strings.Contains(body, "<identifier>2147483748</identifier>") || !strings.Contains(body, `<key>__cls1</key><value xsi:type="xs:int">0</value>`) {
		t.Fatalf("add: %d %s", code, body)
	}
	modify := func(wfc string, id string, subscribed bool) (int, string) {
		return soap(t, s, "modifySubscriberSubscriptionStatus", tok(token)+`<webFormCode>`+wfc+`</webFormCode><subscriberIdentifier>`+id+`</subscriberIdentifier><isSubscribed>`+fmt.Sprint(subscribed)+`</isSubscribed>`)
	}
	if code, body := modify("230004001355", "2147483748", true); code != 200 || !strings.Contains(body, "<ns2:modifySubscriberSubscriptionStatusResponse") || strings.Contains(body, "<return>") {
		t.Fatalf("modify: %d %s", code, body)
	}
	sub, _ := s.Subscriber(101, 2147483748)
	if sub.Attributes["__cls1"] != "1" {
		t.Fatalf("__cls1 = %v, want 1", sub.Attributes["__cls1"])
	}
	if code, _ := modify("230004001355", "2147483748", false); code != 200 {
		t.Fatal("unsubscribe failed")
	}
	if sub, _ := s.Subscriber(101, 2147483748); sub.Attributes["__cls1"] != "-1" {
		t.Fatalf("__cls1 = %v, want -1", sub.Attributes["__cls1"])
	}
	if code, body := modify("999", "2147483748", true); code != 500 || !strings.Contains(body, "Web form code not found") {
		t.Fatalf("unknown wfc: %d %s", code, body)
	}
	if code, body := modify("230004001355", "1", true); code != 500 || !strings.Contains(body, "Subscriber not found") {
		t.Fatalf("unknown subscriber: %d %s", code, body)
	}
	if code, _ := modify("330000000001", "2147483700", true); code != 500 {
		t.Fatal("another tenant's web form code was accepted")
	}
	// A person clicks an unsubscribe link.
	if err := s.SetSubscriptionStatus(101, 2147483748, "230004001356", -1); err != nil {
		t.Fatal(err)
	}
	if sub, _ := s.Subscriber(101, 2147483748); sub.Attributes["__cls2"] != "-1" {
		t.Fatalf("__cls2 = %v, want -1", sub.Attributes["__cls2"])
	}
}

func TestFindSubscribersPaging(t *testing.T) {
	s := newTestServer(t)
	for i := range 31 {
		if _, err := s.AddSubscriber(102, map[string]string{"EMAIL": fmt.Sprintf("p%02d@x.example", i)}); err != nil {
			t.Fatal(err)
		}
	}
	token := borrow(t, s)
	find := func(page int) string {
		_, body := soap(t, s, "findSubscribers", tok(token)+`<sourceIdentifier>102</sourceIdentifier><attribute><key>EMAIL</key><value xsi:type="xs:string">%@x.example</value></attribute><lookupPrefs><pageNumber>`+fmt.Sprint(page)+`</pageNumber><matchingMode>LIKE</matchingMode><sortingMode>ASCENDING</sortingMode></lookupPrefs>`)
		return body
	}
	for page, want := range map[int]int{1: 15, 2: 15, 3: 1, 4: 0} {
		body := find(page)
		if got := strings.Count(body, "<currentPageItems>"); got != want {
			t.Errorf("page %d: %d items, want %d", page, got, want)
		}
		if !strings.Contains(body, "<maxPageNumber>3</maxPageNumber>") {
			t.Errorf("page %d: maxPageNumber is not 3: %s", page, body)
		}
	}
	if code, _ := soap(t, s, "findSubscribers", tok(token)+`<sourceIdentifier>102</sourceIdentifier><attribute><key>EMAIL</key><value xsi:type="xs:string">x</value></attribute><lookupPrefs><pageNumber>0</pageNumber><matchingMode>EQUALS</matchingMode><sortingMode>ASCENDING</sortingMode></lookupPrefs>`); code != 500 {
		t.Error("page 0 accepted: pages are 1-based")
	}
}

func TestLike(t *testing.T) {
	tests := []struct {
		s, pattern string
		want       bool
	}{
		{"mario@example.com", "%@example.com", true},
		{"Mario", "m%", true},
		{"Mario", "_ario", true},
		{"Mario", "_rio", false},
		{"100%", `100\%`, true},
		{"1000", `100\%`, false},
		{"", "%", true},
		{"abc", "a%c%", true},
	}
	for _, tt := range tests {
		if got := like(tt.s, tt.pattern); got != tt.want {
			t.Errorf("like(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}

func TestInjectedFaults(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	srv := httptest.NewServer(s)
	defer srv.Close()
	count := func() (*http.Response, error) {
		env := `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><ws:countSubscribers xmlns:ws="http://ws.api.contactlab.com/">` + tok(token) + `<sourceIdentifier>101</sourceIdentifier></ws:countSubscribers></soap:Body></soap:Envelope>`
		return http.Post(srv.URL+ServicePath, "application/soap+xml", strings.NewReader(env))
	}
	add := func(r faults.Rule) {
		if _, err := s.Faults().Add(r); err != nil {
			t.Fatal(err)
		}
	}

	add(faults.Rule{Operation: "countSubscribers", Kind: faults.Status, Status: 429, RetryAfterSeconds: 3, Count: 1})
	resp, err := count()
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("429: %v %v", resp, err)
	}
	resp.Body.Close()

	add(faults.Rule{Operation: "countSubscribers", Kind: faults.SOAPFault, Message: "boom", Count: 1})
	resp, _ = count()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), "boom") {
		t.Fatalf("SOAP fault: %d %s", resp.StatusCode, body)
	}

	add(faults.Rule{Operation: "countSubscribers", Kind: faults.Drop, Count: 1})
	if resp, err := count(); err == nil {
		resp.Body.Close()
		t.Fatal("dropped connection answered")
	}

	add(faults.Rule{Operation: "countSubscribers", Kind: faults.ExpiredToken, Count: 1})
	resp, _ = count()
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), "Invalid token") {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
	// The token is gone for good, as a real expiry would be.
	resp, _ = count()
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("token still accepted after an injected expiry")
	}
	if got := s.Calls().Counts()["countSubscribers"]; got != 5 {
		t.Fatalf("call log has %d countSubscribers, want 5", got)
	}
}

func TestAdminSurface(t *testing.T) {
	s := newTestServer(t)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := do("GET", "/_sim/userdbs/101/subscribers", ""); code != 200 || !strings.Contains(body, "mario.rossi@example.com") {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := do("GET", "/_sim/userdbs/101/subscribers/2147483649", ""); code != 200 || !strings.Contains(body, "Giulia") {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, body := do("PATCH", "/_sim/userdbs/101/subscribers/2147483649", `{"attributes":{"FIRST_NAME":"Giulietta","GENDER":""}}`); code != 200 || !strings.Contains(body, "Giulietta") || strings.Contains(body, "GENDER") {
		t.Fatalf("patch: %d %s", code, body)
	}
	if code, _ := do("PATCH", "/_sim/userdbs/101/subscribers/2147483649", `{"attributes":{"LOYALTY_POINTS":"x"}}`); code != 400 {
		t.Fatalf("typed patch accepted a bad value: %d", code)
	}
	if code, body := do("PUT", "/_sim/userdbs/101/subscribers/2147483649/subscriptions/230004001355", `{"status":-1}`); code != 200 || !strings.Contains(body, `"__cls1": "-1"`) {
		t.Fatalf("status: %d %s", code, body)
	}
	if code, body := do("POST", "/_sim/userdbs/102/subscribers", `{"attributes":{"EMAIL":"x@y.z"}}`); code != 201 || !strings.Contains(body, `"id": 2147483748`) {
		t.Fatalf("insert: %d %s", code, body)
	}
	if code, body := do("POST", "/_sim/faults", `{"operation":"countSubscribers","kind":"status","status":503,"count":2}`); code != 201 || !strings.Contains(body, `"id"`) {
		t.Fatalf("add fault: %d %s", code, body)
	}
	if code, _ := do("POST", "/_sim/faults", `{"kind":"nope","count":1}`); code != 400 {
		t.Fatalf("invalid fault accepted: %d", code)
	}
	if code, body := do("GET", "/_sim/faults", ""); code != 200 || !strings.Contains(body, "countSubscribers") {
		t.Fatalf("list faults: %d %s", code, body)
	}
	soap(t, s, "borrowToken", `<apiKey>demo-api-key</apiKey><userKey>demo-user-key</userKey>`)
	var calls struct {
		Total  int            `json:"total"`
		Counts map[string]int `json:"counts"`
	}
	_, body := do("GET", "/_sim/calls", "")
	if err := json.Unmarshal([]byte(body), &calls); err != nil || calls.Counts["borrowToken"] != 1 {
		t.Fatalf("calls: %s %v", body, err)
	}
	if code, _ := do("DELETE", "/_sim/calls", ""); code != 204 || s.Calls().Total() != 0 {
		t.Fatal("calls not reset")
	}
	if code, _ := do("DELETE", "/_sim/faults", ""); code != 204 || len(s.Faults().Rules()) != 0 {
		t.Fatal("faults not reset")
	}
	if code, body := do("POST", "/_sim/clock", `{"advanceMs":60000}`); code != 200 || !strings.Contains(body, "12:01:00") {
		t.Fatalf("clock: %d %s", code, body)
	}
	if code, _ := do("POST", "/_sim/reset", ""); code != 200 {
		t.Fatal("reset failed")
	}
	if sub, _ := s.Subscriber(101, 2147483649); sub.Attributes["FIRST_NAME"] != "Giulia" {
		t.Fatalf("reset kept the patch: %v", sub.Attributes)
	}
	if code, _ := do("POST", "/_sim/seed", `{"userDbs":[{"id":5,"name":"only","fields":[{"name":"EMAIL","type":"STRING"}]}]}`); code != 200 {
		t.Fatal("seed load failed")
	}
	if _, err := s.Subscribers(101); err == nil {
		t.Fatal("old userDb survived a seed load")
	}
}

func TestWSDL(t *testing.T) {
	s := newTestServer(t)
	req := httptest.NewRequest(http.MethodGet, "http://sim.local:8082"+ServicePath+"?wsdl", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `location="http://sim.local:8082/soap/services"`) {
		t.Fatalf("WSDL: %d %.300s", rec.Code, body)
	}
	var doc struct{}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("WSDL is not well-formed: %v", err)
	}
	for _, op := range Operations() {
		if !strings.Contains(body, `<wsdl:operation name="`+op+`">`) || !strings.Contains(body, `<xs:element name="`+op+`Response">`) {
			t.Errorf("WSDL does not describe %s", op)
		}
		if _, ok := handler(op); !ok && op != "borrowToken" {
			t.Errorf("WSDL operation %s has no handler", op)
		}
	}
	if !strings.Contains(body, `<xs:element name="subscriberIdentifier" type="xs:long"/>`) {
		t.Error("WSDL does not type subscriber ids as xs:long")
	}
}

func TestConcurrentAddsGetDistinctIDs(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			code, body := soap(t, s, "addSubscriber", tok(token)+`<sourceIdentifier>102</sourceIdentifier><subscriber><attributes><key>EMAIL</key><value xsi:type="xs:string">c`+fmt.Sprint(i)+`@x</value></attributes></subscriber>`)
			if code != 200 {
				t.Errorf("add: %s", body)
			}
		})
	}
	wg.Wait()
	subs, _ := s.Subscribers(102)
	seen := map[int64]bool{}
	for _, sub := range subs {
		if seen[sub.ID] || sub.ID < 2147483748 {
			t.Fatalf("id %d repeated or below the seed's start", sub.ID)
		}
		seen[sub.ID] = true
	}
	if len(subs) != 50 {
		t.Fatalf("%d subscribers, want 50", len(subs))
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newTestServer(t)
	if _, err := s.AddSubscriber(101, map[string]string{"EMAIL": "snap@example.com", "BIRTH_DATE": "2000-01-01"}); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	seed, err := ParseSeed(data)
	if err != nil {
		t.Fatalf("snapshot does not load: %v", err)
	}
	again := New(Options{Seed: seed})
	subs, _ := again.Subscribers(101)
	if len(subs) != 4 || again.Snapshot().NextSubscriberID != 2147483749 {
		t.Fatalf("restored %d subscribers, next id %d", len(subs), again.Snapshot().NextSubscriberID)
	}
}
