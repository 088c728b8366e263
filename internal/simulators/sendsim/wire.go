package sendsim

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
	nsDomain = "domain.ws.api.contactlab.com"
	nsXS     = "http://www.w3.org/2001/XMLSchema"
	nsXSI    = "http://www.w3.org/2001/XMLSchema-instance"
)

// Limits on what a request may contain, so a hostile body cannot exhaust
// the simulator.
const (
	maxRequestBytes = 8 << 20
	maxDepth        = 64
	maxNodes        = 200000
)

// node is an element of a parsed request.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	text     string
	buf      []byte // text while parsing; appending keeps hostile input linear
	children []*node
}

// child returns the first unqualified child named local. Children of the
// operation elements are unqualified in this service; a qualified one is
// what a server following the schema would not see, so it is not found.
func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.name.Space == "" && c.name.Local == local {
			return c
		}
	}
	return nil
}

func (n *node) all(local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.children {
		if c.name.Space == "" && c.name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

func (n *node) attr(space, local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// textOf returns the trimmed text of the child named local, and whether the
// child is present.
func (n *node) textOf(local string) (string, bool) {
	c := n.child(local)
	if c == nil {
		return "", false
	}
	return strings.TrimSpace(c.text), true
}

// request is a parsed SOAP call.
type request struct {
	op   string // local name of the Body's first element
	body *node  // that element
}

// parseRequest reads a SOAP envelope and finds the operation element.
func parseRequest(data []byte) (request, error) {
	root, err := parseTree(data)
	if err != nil {
		return request{}, senderf("Unable to parse the request: %v", err)
	}
	var req request
	switch {
	case root.name.Local != "Envelope":
		return request{}, senderf("Unable to parse the request: root element is %q, not Envelope", root.name.Local)
	case root.name.Space != nsSOAP12:
		// The binding is SOAP 1.2 only: JAX-WS RI answers an Envelope in
		// any other namespace (SOAP 1.1's included) with a VersionMismatch
		// fault.
		return request{}, &faultError{versionMismatch: true, reason: fmt.Sprintf(
			"Couldn't create SOAP message. Expecting Envelope in namespace %s, but got %s", nsSOAP12, root.name.Space)}
	}
	var body *node
	for _, c := range root.children {
		if c.name.Space == root.name.Space && c.name.Local == "Body" {
			body = c
			break
		}
	}
	if body == nil || len(body.children) == 0 {
		return req, senderf("Unable to parse the request: the SOAP Body is missing or empty")
	}
	op := body.children[0]
	if op.name.Space != nsWS {
		return req, senderf("Cannot find dispatch method for {%s}%s", op.name.Space, op.name.Local)
	}
	req.op, req.body = op.name.Local, op
	return req, nil
}

// parseTree reads an XML document into nodes.
func parseTree(data []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if len(stack) >= maxDepth || count > maxNodes {
				return nil, errors.New("document too deep or too large")
			}
			n := &node{name: t.Name, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("more than one root element")
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text, n.buf = string(n.buf), nil
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				n.buf = append(n.buf, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

// wireValue is an anyType value as sent: its xsi:type (local name) and text.
type wireValue struct {
	xsiType string
	null    bool
	text    string
}

func valueOf(n *node) (wireValue, error) {
	if n == nil {
		return wireValue{}, senderf("Unable to parse the request: a value is missing")
	}
	if v, ok := n.attr(nsXSI, "nil"); ok && (strings.TrimSpace(v) == "true" || strings.TrimSpace(v) == "1") {
		return wireValue{null: true}, nil
	}
	t, ok := n.attr(nsXSI, "type")
	if !ok {
		// JAXB reads an untyped anyType as a DOM element, not a value the
		// service can store.
		return wireValue{}, receiverf("Invalid value for %s: no xsi:type", n.name.Local)
	}
	t = strings.TrimSpace(t)
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[i+1:]
	}
	text := strings.TrimSpace(n.text)
	var ok2 bool
	switch t {
	case "string":
		return wireValue{xsiType: t, text: n.text}, nil
	case "int", "short", "byte":
		_, err := strconv.ParseInt(text, 10, 32)
		ok2 = err == nil
	case "long", "integer":
		_, err := strconv.ParseInt(text, 10, 64)
		ok2 = err == nil
	case "double", "float", "decimal":
		_, err := strconv.ParseFloat(text, 64)
		ok2 = err == nil || text == "INF" || text == "-INF" || text == "NaN"
	case "boolean":
		ok2 = text == "true" || text == "false" || text == "1" || text == "0"
	case "date":
		_, ok2 = parseTemporal(typeDate, text)
	case "dateTime":
		_, ok2 = parseTemporal(typeDateTime, text)
	case "time":
		_, ok2 = parseTemporal(typeTime, text)
	default:
		return wireValue{}, receiverf("Invalid value for %s: unsupported xsi:type %q", n.name.Local, truncate(t, 32))
	}
	if !ok2 {
		// The XML binding rejects such a value before the service sees it.
		return wireValue{}, senderf("Unable to parse the request: %q is not a valid xs:%s", truncate(text, 64), t)
	}
	return wireValue{xsiType: t, text: text}, nil
}

func intOf(n *node, local string, required bool) (int64, bool, error) {
	s, ok := n.textOf(local)
	if !ok || s == "" {
		if required {
			return 0, false, senderf("Unable to parse the request: %s is required", local)
		}
		return 0, false, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, senderf("Unable to parse the request: %s: %q is not a number", local, truncate(s, 32))
	}
	return v, true, nil
}

func boolOf(n *node, local string) (bool, error) {
	s, ok := n.textOf(local)
	if !ok {
		return false, senderf("Unable to parse the request: %s is required", local)
	}
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, senderf("Unable to parse the request: %s: %q is not a boolean", local, truncate(s, 32))
}

// response builds the <return> content of an answer.
type response struct {
	b bytes.Buffer
}

func (r *response) open(name string)  { r.b.WriteString("<" + name + ">") }
func (r *response) close(name string) { r.b.WriteString("</" + name + ">") }

func (r *response) leaf(name, text string) {
	r.open(name)
	xml.EscapeText(&r.b, []byte(text))
	r.close(name)
}

func (r *response) int(name string, n int64) { r.leaf(name, strconv.FormatInt(n, 10)) }
func (r *response) bool(name string, b bool) { r.leaf(name, strconv.FormatBool(b)) }

func (r *response) value(name, xsiType, text string) {
	r.b.WriteString("<" + name + ` xsi:type="` + xsiType + `">`)
	xml.EscapeText(&r.b, []byte(text))
	r.close(name)
}

// envelope wraps an operation's answer the way JAX-WS RI does.
func envelope(op string, ret []byte, hasReturn bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<S:Envelope xmlns:S="` + nsSOAP12 + `"><S:Body>`)
	b.WriteString(`<ns2:` + op + `Response xmlns:ns2="` + nsWS + `" xmlns:ns3="` + nsDomain + `" xmlns:xs="` + nsXS + `" xmlns:xsi="` + nsXSI + `">`)
	if hasReturn {
		b.WriteString("<return>")
		b.Write(ret)
		b.WriteString("</return>")
	}
	b.WriteString(`</ns2:` + op + `Response></S:Body></S:Envelope>`)
	return b.Bytes()
}

// faultEnvelope renders a SOAP 1.2 fault.
func faultEnvelope(fe *faultError) []byte {
	var b bytes.Buffer
	code := "S:Receiver"
	switch {
	case fe.versionMismatch:
		code = "S:VersionMismatch"
	case fe.sender:
		code = "S:Sender"
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<S:Envelope xmlns:S="` + nsSOAP12 + `"><S:Body><S:Fault><S:Code><S:Value>` + code + `</S:Value></S:Code>`)
	b.WriteString(`<S:Reason><S:Text xml:lang="en">`)
	xml.EscapeText(&b, []byte(fe.reason))
	b.WriteString(`</S:Text></S:Reason></S:Fault></S:Body></S:Envelope>`)
	return b.Bytes()
}

// soapMediaType is the SOAP 1.2 media type, the only one the service
// reads and the one it answers in.
const (
	soapMediaType   = "application/soap+xml"
	soapContentType = soapMediaType + "; charset=utf-8"
)
