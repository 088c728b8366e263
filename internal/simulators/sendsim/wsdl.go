package sendsim

import (
	_ "embed"
	"encoding/xml"
	"net/http"
	"strings"
)

// wsdl is hubsend's own description of the operations the simulator
// implements, written from the reference notes (ids as xs:long).
//
//go:embed clabservice.wsdl
var wsdl string

// WSDL returns the simulator's WSDL with the service address set to address.
func WSDL(address string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(address))
	return strings.Replace(wsdl, `location="ADDRESS"`, `location="`+b.String()+`"`, 1)
}

// serveWSDL answers GET /soap/services?wsdl.
func (s *Server) serveWSDL(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.URL.Query()["wsdl"]; !ok {
		http.Error(w, "POST SOAP requests here, or GET ?wsdl", http.StatusMethodNotAllowed)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write([]byte(WSDL(scheme + "://" + r.Host + ServicePath)))
}
