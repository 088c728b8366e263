package sendsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func subscriberItems(emails ...string) string {
	var b strings.Builder
	b.WriteString(`<subscribers><currentPageNumber>1</currentPageNumber><maxPageNumber>1</maxPageNumber>`)
	for _, e := range emails {
		b.WriteString(`<currentPageItems><attributes><key>EMAIL</key><value xsi:type="xs:string">` + e + `</value></attributes></currentPageItems>`)
	}
	b.WriteString(`</subscribers>`)
	return b.String()
}

func TestAddSubscribers(t *testing.T) {
	tests := []struct {
		name      string
		items     string
		wantCode  int
		wantCount string // the <return>, for a success
		wantFault string // words of the reason, for a fault
		wantAdded int
	}{
		{name: "creates every item and returns the count", items: subscriberItems("a@x", "b@x", "c@x"), wantCode: 200, wantCount: "<return>3</return>", wantAdded: 3},
		{name: "an empty page creates none", items: subscriberItems(), wantCode: 200, wantCount: "<return>0</return>"},
		{name: "a bad item creates none", items: strings.Replace(subscriberItems("a@x", "b@x"), "<key>EMAIL</key>", "<key>NOPE</key>", 1) + "", wantCode: 500, wantFault: "Invalid subscriber 1"},
		{name: "an item with an identifier is refused", items: strings.Replace(subscriberItems("a@x", "b@x"), "<currentPageItems><attributes><key>EMAIL</key><value xsi:type=\"xs:string\">b@x", "<currentPageItems><identifier>7</identifier><attributes><key>EMAIL</key><value xsi:type=\"xs:string\">b@x", 1), wantCode: 500, wantFault: "Invalid subscriber 2"},
		{name: "more than the bound is refused", items: subscriberItems(manyEmails(maxAddSubscribers + 1)...), wantCode: 500, wantFault: "Too many subscribers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			token := borrow(t, s)
			code, body := soap(t, s, "addSubscribers", tok(token)+`<sourceIdentifier>102</sourceIdentifier>`+tt.items)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d: %.300s", code, tt.wantCode, body)
			}
			if tt.wantCount != "" && !strings.Contains(body, tt.wantCount) {
				t.Errorf("answer %.300s lacks %s", body, tt.wantCount)
			}
			if tt.wantFault != "" {
				if _, text := reason(t, body); !strings.Contains(text, tt.wantFault) {
					t.Errorf("fault %q, want it to say %q", text, tt.wantFault)
				}
			}
			subs, _ := s.Subscribers(102)
			if len(subs) != tt.wantAdded {
				t.Fatalf("%d subscribers stored, want %d", len(subs), tt.wantAdded)
			}
			// Identifiers are incremental in the page's order.
			for i := 1; i < len(subs); i++ {
				if subs[i].ID != subs[i-1].ID+1 || subs[i].Attributes["EMAIL"] != fmt.Sprintf("%c@x", 'a'+i) {
					t.Errorf("subscriber %d: id %d email %v after id %d", i, subs[i].ID, subs[i].Attributes["EMAIL"], subs[i-1].ID)
				}
			}
		})
	}
}

func manyEmails(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%d@x", i)
	}
	return out
}

// TestSearchAfterBulkAdd checks what the bulk lane relies on: a page read by
// ascending identifier and an IN search on a text column (case-insensitive,
// as MySQL compares) see the subscribers a bulk add created.
func TestSearchAfterBulkAdd(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	if code, body := soap(t, s, "addSubscribers", tok(token)+`<sourceIdentifier>102</sourceIdentifier>`+subscriberItems(manyEmails(40)...)); code != http.StatusOK {
		t.Fatalf("add: %s", body)
	}
	in := `<whereAttribute><attributeName>EMAIL</attributeName><lookupMatchingMode>IN</lookupMatchingMode><attributeValues>` +
		`<attributeValues xsi:type="xs:string">M3@X</attributeValues><attributeValues xsi:type="xs:string">m39@x</attributeValues><attributeValues xsi:type="xs:string">none@x</attributeValues>` +
		`</attributeValues></whereAttribute>`
	_, body := soap(t, s, "findSubscribersBy", tok(token)+`<sourceIdentifier>102</sourceIdentifier><useBaseFilter>false</useBaseFilter><selectedAttribute>EMAIL</selectedAttribute>`+in+
		`<pagination><currentPage>1</currentPage><pageSize>10</pageSize></pagination>`)
	if strings.Count(body, "<currentPageItems>") != 2 || !strings.Contains(body, ">m3@x<") || !strings.Contains(body, ">m39@x<") {
		t.Fatalf("IN search: %.600s", body)
	}
	_, body = soap(t, s, "findSubscribersBy", tok(token)+`<sourceIdentifier>102</sourceIdentifier><useBaseFilter>false</useBaseFilter>`+
		`<pagination><sorting><sortField>identifier</sortField><sortOrder>ASC</sortOrder></sorting><currentPage>4</currentPage><pageSize>10</pageSize></pagination>`)
	if strings.Count(body, "<currentPageItems>") != 10 || !strings.Contains(body, ">m30@x<") || !strings.Contains(body, ">m39@x<") {
		t.Fatalf("page 4 by identifier: %.600s", body)
	}
}
