package configapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/audit"
	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/source"
	"github.com/hubsend/hubsend/internal/testkit"
)

// failingPuts refuses the first failures PutItem calls, as DynamoDB does
// when it throttles past the SDK's retries or is unreachable.
type failingPuts struct {
	audit.DynamoDB
	failures int64
	calls    atomic.Int64
}

func (f *failingPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.calls.Add(1) <= f.failures {
		return nil, errors.New("ProvisionedThroughputExceededException (test)")
	}
	return f.DynamoDB.PutItem(ctx, in, opts...)
}

// TestAuditRecordOfAMadeChangeIsNeverLostSilently: the change is made
// before its audit record is written. A write that fails is tried once
// more; one that fails again puts the whole record in the error log, so
// who changed what is still known.
func TestAuditRecordOfAMadeChangeIsNeverLostSilently(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		failures int64
		stored   bool
	}{
		{"a write that fails once is tried again", 1, true},
		{"a write that keeps failing goes to the log", 1 << 30, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			table := testkit.Table(t)
			store := configstore.New(testkit.Emulators(t).DynamoDB(), table, testkit.Box(t))
			src, err := store.Create(t.Context(), source.Source{
				ID: "s1", WorkspaceID: "ws1", Name: "News", Nodes: []string{"n1"}, Enabled: true,
				Properties: source.Properties{UserKey: "user-key-s1", APIKey: "account-api-key-0001", UserDBID: 4,
					FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			auditLog := audit.New(&failingPuts{DynamoDB: testkit.Emulators(t).DynamoDB(), failures: tt.failures}, table)
			var logs bytes.Buffer
			api := configapi.New(configapi.Config{Store: store, Audit: auditLog, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			resp, err := api.Handle(t.Context(), events.APIGatewayV2HTTPRequest{
				Version: "2.0", RawPath: "/v1/sources/s1/disable", Headers: map[string]string{},
				RequestContext: events.APIGatewayV2HTTPRequestContext{
					HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/sources/s1/disable"},
					Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
						Claims: map[string]string{"custom:workspace": "ws1", "custom:role": "admin", "sub": "sub-anna", "email": "anna@ws1.example"},
					}},
				},
			})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("disable: %d %s %v", resp.StatusCode, resp.Body, err)
			}
			page, err := audit.New(testkit.Emulators(t).DynamoDB(), table).List(t.Context(), "ws1", audit.ListOptions{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if stored := len(page.Entries) == 1; stored != tt.stored {
				t.Fatalf("%d records stored, want stored=%v", len(page.Entries), tt.stored)
			}
			logged := logs.String()
			if tt.stored {
				if strings.Contains(logged, "audit record") {
					t.Fatalf("a stored record was also logged as lost: %s", logged)
				}
				return
			}
			for _, want := range []string{`"audit record not stored; logged instead"`, `"source.disable"`, `"anna@ws1.example"`, `"enabled"`} {
				if !strings.Contains(logged, want) {
					t.Fatalf("the log lacks %s: %s", want, logged)
				}
			}
			for _, secret := range []string{src.Properties.UserKey, src.Properties.APIKey} {
				if strings.Contains(logged, secret) {
					t.Fatalf("the log holds a secret: %s", logged)
				}
			}
		})
	}
}
