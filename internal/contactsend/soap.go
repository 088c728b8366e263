package contactsend

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Namespaces of the wire format.
const (
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsWS     = "http://ws.api.contactlab.com/"
	nsXS     = "http://www.w3.org/2001/XMLSchema"
	nsXSI    = "http://www.w3.org/2001/XMLSchema-instance"
)

// contentType is SOAP 1.2's media type; the binding's action is empty, so no
// action parameter is sent.
const contentType = "application/soap+xml; charset=utf-8"

// xmlBody writes the children of an operation's wrapper element. Children are
// unqualified, as neither schema sets elementFormDefault.
type xmlBody struct {
	b bytes.Buffer
}

func (w *xmlBody) open(name string)  { w.b.WriteString("<" + name + ">") }
func (w *xmlBody) close(name string) { w.b.WriteString("</" + name + ">") }

func (w *xmlBody) leaf(name, text string) {
	w.open(name)
	xml.EscapeText(&w.b, []byte(text))
	w.close(name)
}

func (w *xmlBody) int(name string, n int64) { w.leaf(name, strconv.FormatInt(n, 10)) }
func (w *xmlBody) bool(name string, b bool) { w.leaf(name, strconv.FormatBool(b)) }

func (w *xmlBody) token(content string) {
	w.open("token")
	w.leaf("content", content)
	w.close("token")
}

// value writes an anyType element carrying its xsi:type.
func (w *xmlBody) value(name string, v Value) {
	w.b.WriteString("<" + name + ` xsi:type="` + v.xsiType() + `">`)
	xml.EscapeText(&w.b, []byte(v.String()))
	w.close(name)
}

func (w *xmlBody) attribute(name string, a Attribute) {
	w.open(name)
	w.leaf("key", a.Key)
	w.value("value", a.Value)
	w.close(name)
}

func (w *xmlBody) subscriber(name string, s Subscriber) {
	w.open(name)
	if s.ID != 0 {
		w.int("identifier", s.ID)
	}
	for _, a := range s.Attributes {
		w.attribute("attributes", a)
	}
	w.close(name)
}

// envelope wraps an operation's children in a SOAP 1.2 envelope. The wrapper
// element declares every namespace it uses itself, so it stands on its own
// when cut out of the envelope (as the schema conformance test does).
func envelope(op string, children []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<soap:Envelope xmlns:soap="` + nsSOAP12 + `"><soap:Body>`)
	b.WriteString(`<ws:` + op + ` xmlns:ws="` + nsWS + `" xmlns:xs="` + nsXS + `" xmlns:xsi="` + nsXSI + `">`)
	b.Write(children)
	b.WriteString(`</ws:` + op + `></soap:Body></soap:Envelope>`)
	return b.Bytes()
}

// errNoReturn reports a response wrapper without its <return> child.
var errNoReturn = errors.New("response has no return element")

// decodeResponse reads the envelope answering op. It returns a *Fault when
// the body holds one, decodes the <return> element into out (when out is not
// nil) and fails on anything else. SOAP 1.1 envelopes are read as well.
func decodeResponse(data []byte, op string, out any) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	if err := enter(d, "Envelope"); err != nil {
		return err
	}
	// Skip a Header, if any, up to the Body.
	for {
		se, err := nextStart(d)
		if err != nil {
			return fmt.Errorf("no SOAP Body: %w", err)
		}
		if se.Name.Local == "Body" {
			break
		}
		if err := d.Skip(); err != nil {
			return err
		}
	}
	se, err := nextStart(d)
	if err != nil {
		return fmt.Errorf("empty SOAP Body: %w", err)
	}
	if se.Name.Local == "Fault" {
		var wf wireFault
		if err := d.DecodeElement(&wf, &se); err != nil {
			return fmt.Errorf("malformed SOAP fault: %w", err)
		}
		return wf.fault()
	}
	if want := op + "Response"; se.Name.Local != want {
		return fmt.Errorf("unexpected body element %q, want %q", se.Name.Local, want)
	}
	for {
		child, err := nextStart(d)
		if errors.Is(err, errEndOfParent) {
			if out != nil {
				return errNoReturn
			}
			return nil
		}
		if err != nil {
			return err
		}
		if child.Name.Local != "return" {
			if err := d.Skip(); err != nil {
				return err
			}
			continue
		}
		if out == nil {
			return d.Skip()
		}
		return d.DecodeElement(out, &child)
	}
}

var errEndOfParent = errors.New("end of parent element")

// nextStart returns the next start element among the current element's
// children, or errEndOfParent when the element closes first.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errEndOfParent
		}
	}
}

func enter(d *xml.Decoder, local string) error {
	se, err := nextStart(d)
	if err != nil {
		return fmt.Errorf("not a SOAP envelope: %w", err)
	}
	if se.Name.Local != local {
		return fmt.Errorf("not a SOAP envelope: root element %q", se.Name.Local)
	}
	return nil
}

// wireFault reads SOAP 1.2 faults and, leniently, SOAP 1.1 ones.
type wireFault struct {
	Code struct {
		Value string `xml:"Value"`
	} `xml:"Code"`
	Reason struct {
		Text []struct {
			Lang string `xml:"lang,attr"`
			Text string `xml:",chardata"`
		} `xml:"Text"`
	} `xml:"Reason"`
	Detail struct {
		Inner string `xml:",innerxml"`
	} `xml:"Detail"`
	FaultCode   string `xml:"faultcode"`
	FaultString string `xml:"faultstring"`
	Detail11    struct {
		Inner string `xml:",innerxml"`
	} `xml:"detail"`
}

func (wf wireFault) fault() *Fault {
	f := &Fault{Code: wf.Code.Value, Detail: strings.TrimSpace(wf.Detail.Inner)}
	for i, t := range wf.Reason.Text {
		if i == 0 || strings.HasPrefix(strings.ToLower(t.Lang), "en") {
			f.Reason = strings.TrimSpace(t.Text)
		}
	}
	if f.Code == "" {
		f.Code = wf.FaultCode
	}
	if f.Reason == "" {
		f.Reason = strings.TrimSpace(wf.FaultString)
	}
	if f.Detail == "" {
		f.Detail = strings.TrimSpace(wf.Detail11.Inner)
	}
	f.Code = strings.TrimSpace(f.Code)
	if i := strings.LastIndexByte(f.Code, ':'); i >= 0 {
		f.Code = f.Code[i+1:]
	}
	f.kind = classify(f.Reason)
	return f
}

// wireValue is an anyType value: its xsi:type and its text.
type wireValue struct {
	Type string
	Nil  bool
	Text string
}

func (v *wireValue) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		// The prefix is resolved by the decoder; an undeclared one stays as
		// written, and either way only the local name matters here.
		if a.Name.Space == "" {
			continue
		}
		switch a.Name.Local {
		case "type":
			v.Type = strings.TrimSpace(a.Value)
		case "nil":
			v.Nil = strings.TrimSpace(a.Value) == "true" || strings.TrimSpace(a.Value) == "1"
		}
	}
	var c struct {
		Text string `xml:",chardata"`
	}
	if err := d.DecodeElement(&c, &start); err != nil {
		return err
	}
	v.Text = c.Text
	return nil
}

type wireAttribute struct {
	Key   string    `xml:"key"`
	Value wireValue `xml:"value"`
}

type wireSubscriber struct {
	Identifier string          `xml:"identifier"`
	Attributes []wireAttribute `xml:"attributes"`
}

func (ws wireSubscriber) subscriber() (Subscriber, error) {
	var s Subscriber
	if id := strings.TrimSpace(ws.Identifier); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return Subscriber{}, fmt.Errorf("subscriber identifier %q: %w", id, err)
		}
		s.ID = n
	}
	for _, a := range ws.Attributes {
		v, err := valueFromWire(a.Value.Type, a.Value.Text, a.Value.Nil)
		if err != nil {
			// A value that does not parse as its declared type is kept as
			// text rather than losing the whole record.
			v = StringValue(a.Value.Text)
		}
		s.Attributes = append(s.Attributes, Attribute{Key: a.Key, Value: v})
	}
	return s, nil
}

type wireSubscribers struct {
	CurrentPageNumber int              `xml:"currentPageNumber"`
	MaxPageNumber     int              `xml:"maxPageNumber"`
	Items             []wireSubscriber `xml:"currentPageItems"`
}

func (w wireSubscribers) page() (SubscriberPage, error) {
	p := SubscriberPage{PageNumber: w.CurrentPageNumber, MaxPageNumber: w.MaxPageNumber}
	for _, item := range w.Items {
		if item.Identifier == "" && len(item.Attributes) == 0 {
			continue // a nil item
		}
		s, err := item.subscriber()
		if err != nil {
			return SubscriberPage{}, err
		}
		p.Subscribers = append(p.Subscribers, s)
	}
	return p, nil
}

type wireField struct {
	Name       string `xml:"name"`
	Type       string `xml:"type"`
	EmailField bool   `xml:"emailField"`
	PhoneField bool   `xml:"phoneField"`
	FaxField   bool   `xml:"faxField"`
}

type wireSubscriberSource struct {
	Identifier                    int64       `xml:"identifier"`
	Name                          string      `xml:"name"`
	Description                   string      `xml:"description"`
	SubscriberIdentifierFieldName string      `xml:"subscriberIdentifierFieldName"`
	Fields                        []wireField `xml:"fields"`
	Charset                       string      `xml:"charset"`
	Locked                        bool        `xml:"locked"`
	ReadOnly                      bool        `xml:"readOnly"`
}

type wireSubscription struct {
	ID                int64  `xml:"id"`
	Name              string `xml:"name"`
	RegistrationField string `xml:"registrationField"`
	WebformCode       string `xml:"webformCode"`
}

type wireSubscriptions struct {
	CurrentPageNumber int                `xml:"currentPageNumber"`
	MaxPageNumber     int                `xml:"maxPageNumber"`
	Items             []wireSubscription `xml:"currentPageItems"`
}

type wireToken struct {
	Content string `xml:"content"`
}

// wireScalar reads a simple <return> (boolean, int, long).
type wireScalar struct {
	Text string `xml:",chardata"`
}

func (s wireScalar) bool() (bool, error) {
	return strconv.ParseBool(strings.TrimSpace(s.Text))
}

func (s wireScalar) int64() (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s.Text), 10, 64)
}
