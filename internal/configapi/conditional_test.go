package configapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/ledger"
)

// TestIfMatchOnReplace reads If-Match as RFC 9110 writes it: "*", or a
// list of quoted entity tags, any of which may match; a value that is
// neither is refused rather than read as some version.
func TestIfMatchOnReplace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id := created.body["id"].(string)
	tests := []struct {
		name    string
		ifMatch string // {v} stands for the current version
		want    int
	}{
		{"the current tag", `"{v}"`, http.StatusOK},
		{"a list holding the current tag", `"0", "{v}"`, http.StatusOK},
		{"a list without spaces", `"{v}","999"`, http.StatusOK},
		{"a list with empty elements", `, "{v}" ,`, http.StatusOK},
		{"any version", `*`, http.StatusOK},
		{"the current tag, weakened (as by a compressing CDN)", `W/"{v}"`, http.StatusOK},
		{"a stale weak tag and the current strong one", `W/"0", "{v}"`, http.StatusOK},
		{"a stale weak tag", `W/"0"`, http.StatusPreconditionFailed},
		{"a stale tag", `"0"`, http.StatusPreconditionFailed},
		{"a list of stale tags", `"0", "999"`, http.StatusPreconditionFailed},
		{"a tag hubsend never made", `"abc"`, http.StatusPreconditionFailed},
		{"a zero-padded tag", `"0{v}"`, http.StatusPreconditionFailed},
		{"an unquoted version", `{v}`, http.StatusBadRequest},
		{"an opening quote only", `"{v}`, http.StatusBadRequest},
		{"a closing quote only", `{v}"`, http.StatusBadRequest},
		{"a tag and junk", `"{v}" junk`, http.StatusBadRequest},
		{"a star in a list", `*, "{v}"`, http.StatusBadRequest},
		{"commas only", `,,`, http.StatusBadRequest},
		{"a space inside the tag", `"{v} "`, http.StatusBadRequest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current := e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusOK)
			version := strings.Trim(current.headers["ETag"], `"`)
			body := current.body
			body["name"] = "Renamed " + strconv.Itoa(i)
			r := e.call("ws1", "PUT", "/v1/sources/"+id, body, map[string]string{"If-Match": strings.ReplaceAll(tt.ifMatch, "{v}", version)})
			if r.status != tt.want {
				t.Fatalf("If-Match %s: answer %d %s, want %d", tt.ifMatch, r.status, r.raw, tt.want)
			}
			after := e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusOK)
			if changed := after.body["name"] == body["name"]; changed != (tt.want == http.StatusOK) {
				t.Errorf("If-Match %s answered %d, but the name is now %q", tt.ifMatch, r.status, after.body["name"])
			}
			if tt.want == http.StatusBadRequest && !strings.Contains(strings.Join(r.errorPaths(), ","), "If-Match") {
				t.Errorf("the refusal does not name If-Match: %s", r.raw)
			}
		})
	}
}

// TestIfMatchOnDeleteEnableDisable: a client that sends If-Match on a
// change other than PUT means it as much as on PUT (RFC 9110: the method
// must not be performed when the condition is false). Without it these
// calls change a source someone else changed since the client read it.
func TestIfMatchOnDeleteEnableDisable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated)
	id := created.body["id"].(string)
	read := created.headers["ETag"] // "1": what this client saw
	// Someone else disables the source after the client read it.
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)

	stale := map[string]string{"If-Match": read}
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, stale), http.StatusPreconditionFailed)
	e.expect(e.call("ws1", "DELETE", "/v1/sources/"+id, nil, stale), http.StatusPreconditionFailed)
	if r := e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusOK); r.body["enabled"] != false {
		t.Fatalf("a stale If-Match enabled the source: %s", r.raw)
	}
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, map[string]string{"If-Match": `"2"`}), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, map[string]string{"If-Match": "1"}), http.StatusBadRequest)

	// Another workspace gets the 404 of a missing source, whatever it sends.
	for _, ifMatch := range []string{"*", `"2"`, `"0"`} {
		e.expect(e.call("ws2", "DELETE", "/v1/sources/"+id, nil, map[string]string{"If-Match": ifMatch}), http.StatusNotFound)
		e.expect(e.call("ws2", "POST", "/v1/sources/"+id+"/enable", nil, map[string]string{"If-Match": ifMatch}), http.StatusNotFound)
	}
	e.expect(e.call("ws1", "DELETE", "/v1/sources/"+id, nil, map[string]string{"If-Match": `"2"`}), http.StatusNoContent)
	e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusNotFound)
}

// TestRetryNamesCustomersWhereTheyWereSent: a customer without a failed
// record is named by its place in the list the client sent, not in the
// sorted list of distinct ids the handler reads.
func TestRetryNamesCustomersWhereTheyWereSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	if err := e.ledger.RecordFailure(t.Context(), ledger.Failure{SourceID: id, CustomerID: "c1", Reason: "cannot coerce", Kind: ledger.Coercion}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"before one with a record", []string{"nobody", "c1"}, []string{"customerIds[0]"}},
		{"after a repeated one", []string{"c1", "c1", "zz"}, []string{"customerIds[2]"}},
		{"two, out of order", []string{"zz", "c1", "aa"}, []string{"customerIds[0]", "customerIds[2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/failures/retry", map[string]any{"customerIds": tt.ids}, nil), http.StatusUnprocessableEntity)
			if got := r.errorPaths(); !slices.Equal(got, tt.want) {
				t.Errorf("customerIds %q: problems at %v, want %v", tt.ids, got, tt.want)
			}
		})
	}
}

// TestIfMatchOnTheWorkspaceConnection: the connection has an ETag; a PUT
// naming in If-Match a version another admin has since replaced is
// refused. (A write landing between a PUT's own read and write is
// configstore's TestReplaceConnectionRefusesAWriteInBetween.)
func TestIfMatchOnTheWorkspaceConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	read := e.expect(e.call("ws1", "GET", "/v1/workspace", nil, nil), http.StatusOK)
	tag := read.headers["ETag"]
	if tag == "" {
		t.Fatal("GET /v1/workspace has no ETag")
	}
	body := func(token string) map[string]any {
		return map[string]any{"contacthub": map[string]any{"baseUrl": e.hubURL, "workspaceId": "hub-ws", "token": token}}
	}
	// Another admin saves a new token.
	saved := e.expect(e.call("ws1", "PUT", "/v1/workspace", body("hub-token-from-the-other-admin-0001"), map[string]string{"If-Match": tag}), http.StatusOK)
	if saved.headers["ETag"] == "" || saved.headers["ETag"] == tag {
		t.Fatalf("ETag after a write %q, want a new one (was %q)", saved.headers["ETag"], tag)
	}
	// This admin's save, made on what they read before, is refused.
	e.expect(e.call("ws1", "PUT", "/v1/workspace", body(hubToken), map[string]string{"If-Match": tag}), http.StatusPreconditionFailed)
	e.expect(e.call("ws1", "PUT", "/v1/workspace", body(hubToken), map[string]string{"If-Match": "3"}), http.StatusBadRequest)
	e.expect(e.call("ws1", "PUT", "/v1/workspace", body(hubToken), map[string]string{"If-Match": "*"}), http.StatusOK)
	e.expect(e.call("ws1", "PUT", "/v1/workspace", body(hubToken), nil), http.StatusOK)
}
