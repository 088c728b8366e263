package sendsim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestIndexedSearchesFollowEveryWrite checks that an equality search
// answered through the index finds what a scan of every row finds, after
// each kind of write made once the index exists.
func TestIndexedSearchesFollowEveryWrite(t *testing.T) {
	s := newTestServer(t)
	token := borrow(t, s)
	var ids []int64
	for i := range 6 {
		id, err := s.AddSubscriber(101, map[string]string{"EMAIL": fmt.Sprintf("Person%d@x.example", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	check := func(step string) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		db := s.st.userDBs[101]
		email, cls := db.byName["EMAIL"], db.byName["__cls1"]
		for _, c := range []condition{
			{field: email, mode: "EQUALS", value: "person1@x.example"},
			{field: email, mode: "EQUALS", value: "moved@x.example"},
			{field: email, mode: "IN", values: []string{"PERSON2@x.example", "person3@x.example", "added@x.example", "person0@x.example"}},
			{field: cls, mode: "EQUALS", value: "1"},
			{field: cls, mode: "IN", values: []string{"0", "-1"}},
		} {
			var got, want []int64
			for _, row := range db.query([]condition{c}, nil) {
				got = append(got, row.id)
			}
			for _, row := range db.subscribers {
				if c.matches(row) {
					want = append(want, row.id)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s %s %q%q: index found %v, a scan %v", step, c.field.Name, c.mode, c.value, c.values, got, want)
			}
		}
	}
	check("before any write") // builds the indexes the later checks use
	if err := s.SetAttributes(101, ids[1], map[string]string{"EMAIL": "moved@x.example"}); err != nil {
		t.Fatal(err)
	}
	check("an edit in the console")
	if code, body := soap(t, s, "updateSubscriber", tok(token)+fmt.Sprintf(`<sourceIdentifier>101</sourceIdentifier><subscriber><identifier>%d</identifier><attributes><key>EMAIL</key><value xsi:type="xs:string">person1@x.example</value></attributes></subscriber>`, ids[2])); code != 200 {
		t.Fatalf("updateSubscriber: %d %s", code, body)
	}
	check("updateSubscriber")
	if code, body := soap(t, s, "removeSubscriber", tok(token)+fmt.Sprintf(`<sourceIdentifier>101</sourceIdentifier><recipientIdentifier>%d</recipientIdentifier>`, ids[3])); code != 200 {
		t.Fatalf("removeSubscriber: %d %s", code, body)
	}
	check("removeSubscriber")
	if code, body := soap(t, s, "addSubscriber", tok(token)+`<sourceIdentifier>101</sourceIdentifier><subscriber><attributes><key>EMAIL</key><value xsi:type="xs:string">Added@x.example</value></attributes></subscriber>`); code != 200 {
		t.Fatalf("addSubscriber: %d %s", code, body)
	}
	check("addSubscriber")
	if err := s.SetSubscriptionStatus(101, ids[0], "230004001355", 1); err != nil {
		t.Fatal(err)
	}
	check("a subscribe link")
	if code, body := soap(t, s, "modifySubscriberSubscriptionStatus", tok(token)+fmt.Sprintf(`<webFormCode>230004001355</webFormCode><subscriberIdentifier>%d</subscriberIdentifier><isSubscribed>false</isSubscribed>`, ids[0])); code != 200 {
		t.Fatalf("modifySubscriberSubscriptionStatus: %d %s", code, body)
	}
	check("modifySubscriberSubscriptionStatus")

	// Uniqueness (userdb 101's EMAIL, exact values) reads the same index.
	if _, err := s.AddSubscriber(101, map[string]string{"EMAIL": "moved@x.example"}); err == nil {
		t.Error("a second subscriber with an e-mail moved by an edit was accepted")
	}
	if _, err := s.AddSubscriber(101, map[string]string{"EMAIL": "Person3@x.example"}); err != nil {
		t.Errorf("the e-mail of a removed subscriber was refused: %v", err)
	}
	if code, body := soap(t, s, "addSubscribers", tok(token)+`<sourceIdentifier>101</sourceIdentifier><subscribers><currentPageItems><attributes><key>EMAIL</key><value xsi:type="xs:string">fresh@x.example</value></attributes></currentPageItems><currentPageItems><attributes><key>EMAIL</key><value xsi:type="xs:string">Person4@x.example</value></attributes></currentPageItems></subscribers>`); code != 500 || !strings.Contains(body, "Duplicate value") {
		t.Errorf("addSubscribers with a stored e-mail: %d %s", code, body)
	}
}
