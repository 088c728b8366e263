package configapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/testkit"
)

// TestAuditRecordsEachChangeOnce makes every kind of change once (disable
// twice) and reads the trail back: one record per change, with who, when
// and what, and no secret in it. Refused and failed calls record nothing.
func TestAuditRecordsEachChangeOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // connects ws1 and ws2: one workspace.connection each
	fx := e.table
	id := e.expect(e.call("ws1", "POST", "/v1/sources", validSource(), nil), http.StatusCreated).body["id"].(string)
	current := e.expect(e.call("ws1", "GET", "/v1/sources/"+id, nil, nil), http.StatusOK)
	replaced := current.body
	replaced["name"] = "Newsletter Italia (renamed)"
	// The same userKey sent again is no change.
	replaced["properties"].(map[string]any)["userKey"] = sendUserKey
	e.expect(e.call("ws1", "PUT", "/v1/sources/"+id, replaced, map[string]string{"If-Match": current.headers["ETag"]}), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/webhook-secret", nil, nil), http.StatusCreated)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/resync", nil, nil), http.StatusAccepted)
	if err := ledger.New(testkit.Emulators(t).DynamoDB(), fx).RecordFailure(t.Context(), ledger.Failure{SourceID: id, CustomerID: "c9", Reason: "EMAIL is not an e-mail address", Kind: ledger.Coercion}); err != nil {
		t.Fatal(err)
	}
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/failures/c9/retry", nil, nil), http.StatusAccepted)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/enable", nil, nil), http.StatusOK)
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/disable", nil, nil), http.StatusOK)
	// Calls that change nothing record nothing.
	e.expect(e.call("ws1", "POST", "/v1/sources/"+id+"/failures/unknown/retry", nil, nil), http.StatusNotFound)
	e.expect(e.callAs("ws1", "viewer", "DELETE", "/v1/sources/"+id, nil, nil), http.StatusForbidden)
	e.expect(e.call("ws1", "POST", "/v1/sources", map[string]any{"name": "x"}, nil), http.StatusUnprocessableEntity)
	e.expect(e.call("ws1", "DELETE", "/v1/sources/"+id, nil, nil), http.StatusNoContent)
	e.expect(e.call("ws1", "PUT", "/v1/workspace", map[string]any{
		"contacthub": map[string]any{"baseUrl": e.hubURL, "workspaceId": "hub-ws", "token": "fresh-hub-token-0123456789"},
	}, nil), http.StatusOK)

	// Read it all back, two at a time, as the console pages it.
	var entries []map[string]any
	cursor := ""
	for {
		path := "/v1/audit?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		page := e.expect(e.callAs("ws1", "viewer", "GET", path, nil, nil), http.StatusOK)
		for _, el := range page.body["elements"].([]any) {
			entries = append(entries, el.(map[string]any))
		}
		next, _ := page.body["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en["action"].(string))
	}
	want := []string{"workspace.connection", "source.delete", "source.disable", "source.enable", "source.disable", "failure.retry",
		"source.resync", "source.webhook-secret", "source.replace", "source.create", "workspace.connection"}
	if !slices.Equal(actions, want) {
		t.Fatalf("actions, newest first:\n got %v\nwant %v", actions, want)
	}
	byAction := map[string]map[string]any{}
	// Newest first: for an action made twice, the older record stays.
	for _, en := range entries {
		byAction[en["action"].(string)] = en
		actor := en["actor"].(map[string]any)
		if actor["subject"] != "sub-admin-ws1" || actor["email"] != "admin@ws1.example" {
			t.Errorf("%s: actor %v", en["action"], actor)
		}
		at, err := time.Parse(time.RFC3339Nano, en["at"].(string))
		if err != nil || time.Since(at) > time.Minute {
			t.Errorf("%s: at %v", en["action"], en["at"])
		}
		if en["action"] != "workspace.connection" && en["sourceId"] != id {
			t.Errorf("%s: sourceId %v", en["action"], en["sourceId"])
		}
	}
	changes := func(action string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, c := range byAction[action]["changes"].([]any) {
			out[c.(map[string]any)["path"].(string)] = c.(map[string]any)
		}
		return out
	}
	replace := changes("source.replace")
	if len(replace) != 1 || replace["name"]["before"] != "Newsletter Italia" || replace["name"]["after"] != "Newsletter Italia (renamed)" {
		t.Errorf("replace changes: %v", replace)
	}
	create := changes("source.create")
	if create["properties.fieldMapping[0].hubField"]["after"] != "base.contacts.email" || create["properties.apiKey"]["secret"] != true || create["properties.apiKey"]["after"] != nil {
		t.Errorf("create changes: %v", create)
	}
	if c := changes("source.webhook-secret"); c["webhookSecret"]["secret"] != true {
		t.Errorf("webhook-secret changes: %v", c)
	}
	// The first connection sets everything; the second only the token.
	if c := changes("workspace.connection"); c["contacthub.token"]["secret"] != true || c["contacthub.workspaceId"]["after"] != "hub-ws" {
		t.Errorf("first connection changes: %v", c)
	}
	if c := entries[0]["changes"].([]any); len(c) != 1 || c[0].(map[string]any)["path"] != "contacthub.token" || c[0].(map[string]any)["secret"] != true {
		t.Errorf("token rotation changes: %v", c)
	}
	if byAction["failure.retry"]["customerId"] != "c9" {
		t.Errorf("retry: %v", byAction["failure.retry"])
	}
	if c := changes("source.delete"); c["name"]["before"] != "Newsletter Italia (renamed)" || c["name"]["after"] != nil {
		t.Errorf("delete changes: %v", c)
	}
	raw, _ := json.Marshal(entries)
	for _, s := range []string{sendAPIKey, sendUserKey, hubToken, "fresh-hub-token-0123456789", "••••"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("the audit trail holds %q", s)
		}
	}

	t.Run("filtered by source", func(t *testing.T) {
		page := e.expect(e.call("ws1", "GET", "/v1/audit?sourceId="+id+"&limit=100", nil, nil), http.StatusOK)
		if n := len(page.body["elements"].([]any)); n != len(want)-2 {
			t.Errorf("%d records of the source, want %d", n, len(want)-2)
		}
		e.expect(e.call("ws1", "GET", "/v1/audit?sourceId=nope!", nil, nil), http.StatusBadRequest)
		e.expect(e.call("ws1", "GET", "/v1/audit?cursor=bm9wZQ", nil, nil), http.StatusBadRequest)
	})
	t.Run("workspaces never see each other's", func(t *testing.T) {
		page := e.expect(e.call("ws2", "GET", "/v1/audit", nil, nil), http.StatusOK)
		if n := len(page.body["elements"].([]any)); n != 1 {
			t.Errorf("ws2 sees %d records, want its own connection only", n)
		}
	})
	t.Run("kept 400 days by TTL", func(t *testing.T) {
		out, err := testkit.Emulators(t).DynamoDB().Query(t.Context(), &dynamodb.QueryInput{
			TableName: aws.String(fx), KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "AUDIT#ws1"}},
		})
		if err != nil || len(out.Items) == 0 {
			t.Fatalf("query: %v", err)
		}
		expires, _ := strconv.ParseInt(out.Items[0]["expiresAt"].(*types.AttributeValueMemberN).Value, 10, 64)
		if left := time.Until(time.Unix(expires, 0)); left < audit.Retention-time.Hour || left > audit.Retention {
			t.Errorf("expires in %s, want %s", left, audit.Retention)
		}
	})
}
