package samtemplate

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/secret"
)

// loadProjectTemplate parses the module's real template.yaml.
func loadProjectTemplate(t *testing.T) (*Template, string) {
	t.Helper()
	path, err := Locate(".")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl, filepath.Dir(path)
}

var (
	tableResources = []any{GetAtt("Table", "Arn"), Sub("${Table.Arn}/index/*")}
	tableOnly      = []any{GetAtt("Table", "Arn")}
)

func TestTemplateFunctions(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)

	type grant struct {
		actions   []string
		resources []any
	}
	tests := []struct {
		id      string
		dir     string
		timeout time.Duration
		env     map[string]any
		grants  []grant
		// denied lists actions the function must not have on the table.
		denied []string
	}{
		{
			id: "ConfigApiFunction", dir: "functions/configapi", timeout: 30 * time.Second,
			env: map[string]any{
				"KMS_KEY_ID": Ref("SecretsKey"), "SYNC_QUEUE_URL": Ref("SyncQueue"),
				"CONTACTSEND_ENDPOINT": Ref("ContactsendEndpoint"), "WORKSPACE_CLAIM": Ref("WorkspaceClaim"),
				"ROLE_CLAIM": Ref("RoleClaim"), "GROUP_CLAIM": If("CreateUserPool", "cognito:groups", ""),
				"SIGNIN_ISSUER":        If("CreateUserPool", Sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"), Ref("JwtIssuer")),
				"SIGNIN_CLIENT_ID":     If("CreateUserPool", Ref("ConsoleClient"), Ref("ConsoleClientId")),
				"SIGNIN_AUTHORIZE_URL": If("CreateUserPool", Sub("https://${SignInDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/authorize"), ""),
				"SIGNIN_TOKEN_URL":     If("CreateUserPool", Sub("https://${SignInDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"), ""),
				"SIGNIN_LOGOUT_URL":    If("CreateUserPool", Sub("https://${SignInDomain}.auth.${AWS::Region}.amazoncognito.com/logout"), ""),
				"ALERT_TOPIC_ARN":      Ref("AlertTopic"),
			},
			grants: []grant{
				{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"}, tableResources},
				{[]string{"kms:GenerateDataKey", "kms:Decrypt"}, []any{GetAtt("SecretsKey", "Arn")}},
				{[]string{"sqs:SendMessage"}, []any{GetAtt("SyncQueue", "Arn")}},
				// "Send a test alert".
				{[]string{"sns:Publish"}, []any{Ref("AlertTopic")}},
			},
			// The config store writes item by item (conditional writes).
			denied: []string{"dynamodb:Scan", "dynamodb:BatchWriteItem"},
		},
		{
			id: "WebhookFunction", dir: "functions/webhook", timeout: 30 * time.Second,
			env: map[string]any{"KMS_KEY_ID": Ref("SecretsKey"), "SYNC_QUEUE_URL": Ref("SyncQueue"), "CONTACTSEND_ENDPOINT": Ref("ContactsendEndpoint")},
			grants: []grant{
				{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, tableOnly},
				{[]string{"kms:Decrypt"}, []any{GetAtt("SecretsKey", "Arn")}},
				{[]string{"sqs:SendMessage"}, []any{GetAtt("SyncQueue", "Arn")}},
			},
			denied: []string{"dynamodb:Scan", "dynamodb:DeleteItem", "kms:GenerateDataKey"},
		},
		{
			id: "SyncWorkerFunction", dir: "functions/syncworker", timeout: 60 * time.Second,
			env: map[string]any{
				"KMS_KEY_ID": Ref("SecretsKey"), "CONTACTSEND_ENDPOINT": Ref("ContactsendEndpoint"),
				"SYNC_QUEUE_URL": Ref("SyncQueue"),
			},
			grants: []grant{
				{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DeleteItem"}, tableResources},
				{[]string{"kms:Decrypt"}, []any{GetAtt("SecretsKey", "Arn")}},
				// Backs off a job it holds by changing its visibility, and sends
				// again a job that waits long for another run's claim.
				{[]string{"sqs:SendMessage", "sqs:ChangeMessageVisibility"}, []any{GetAtt("SyncQueue", "Arn")}},
			},
			denied: []string{"dynamodb:Scan", "kms:GenerateDataKey"},
		},
		{
			id: "BulkWorkerFunction", dir: "functions/bulkworker", timeout: 300 * time.Second,
			env: map[string]any{
				"KMS_KEY_ID": Ref("SecretsKey"), "CONTACTSEND_ENDPOINT": Ref("ContactsendEndpoint"),
				"BULK_QUEUE_URL": Ref("BulkQueue"),
			},
			grants: []grant{
				{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DeleteItem",
					"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"}, tableResources},
				{[]string{"kms:Decrypt"}, []any{GetAtt("SecretsKey", "Arn")}},
				// Hands customers over on its own queue, backs off jobs it holds.
				{[]string{"sqs:SendMessage", "sqs:ChangeMessageVisibility"}, []any{GetAtt("BulkQueue", "Arn")}},
			},
			// Never writes to the live queue.
			denied: []string{"dynamodb:Scan", "kms:GenerateDataKey", "sqs:SendMessage"},
		},
		{
			// The scheduled tick only lists the enabled sources and sends
			// their ticks.
			id: "SchedulerFunction", dir: "functions/scheduler", timeout: 30 * time.Second,
			env: map[string]any{
				"KMS_KEY_ID": Ref("SecretsKey"), "SYNC_QUEUE_URL": Ref("SyncQueue"),
				"SOURCE_TICK_QUEUE_URL": Ref("SourceTickQueue"), "CONTACTSEND_ENDPOINT": Ref("ContactsendEndpoint"),
			},
			grants: []grant{
				{[]string{"dynamodb:Query"}, []any{Sub("${Table.Arn}/index/gsi2")}},
				{[]string{"sqs:SendMessage"}, []any{GetAtt("SourceTickQueue", "Arn")}},
			},
			denied: []string{"dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "kms:Decrypt", "kms:GenerateDataKey", "sqs:SendMessage"},
		},
		{
			// One source's tick: its feed, backfill and reconciliation.
			id: "SourceTickFunction", dir: "functions/sourcetick", timeout: 60 * time.Second,
			env: map[string]any{
				"KMS_KEY_ID": Ref("SecretsKey"), "SYNC_QUEUE_URL": Ref("SyncQueue"),
				"CONTACTSEND_ENDPOINT": Ref("ContactsendEndpoint"), "ALERT_TOPIC_ARN": Ref("AlertTopic"),
				"BULK_QUEUE_URL": Ref("BulkQueue"),
			},
			grants: []grant{
				{[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, tableResources},
				{[]string{"kms:Decrypt"}, []any{GetAtt("SecretsKey", "Arn")}},
				{[]string{"sqs:SendMessage"}, []any{GetAtt("SyncQueue", "Arn")}},
				// Source alerts.
				{[]string{"sns:Publish"}, []any{Ref("AlertTopic")}},
				// Backfills feed the bulk queue while it is below its bound.
				{[]string{"sqs:SendMessage", "sqs:GetQueueAttributes"}, []any{GetAtt("BulkQueue", "Arn")}},
			},
			denied: []string{"dynamodb:Scan", "dynamodb:DeleteItem", "kms:GenerateDataKey"},
		},
	}
	if got, want := len(tmpl.Functions), len(tests); got != want {
		t.Errorf("template has %d functions %v, want %d", got, tmpl.FunctionIDs(), want)
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			f, ok := tmpl.Functions[tt.id]
			if !ok {
				t.Fatalf("function %s missing", tt.id)
			}
			if f.Dir != tt.dir {
				t.Errorf("Dir = %q, want %q", f.Dir, tt.dir)
			}
			if f.Handler != "bootstrap" || f.Runtime != "provided.al2023" || !slices.Equal(f.Architectures, []string{"arm64"}) {
				t.Errorf("handler/runtime/architectures = %q/%q/%v, want bootstrap/provided.al2023/[arm64]", f.Handler, f.Runtime, f.Architectures)
			}
			if f.CodeURI != "." || f.BuildMethod != "makefile" {
				t.Errorf("CodeUri/BuildMethod = %q/%q, want ./makefile", f.CodeURI, f.BuildMethod)
			}
			if f.MemorySize != 256 || f.Timeout != tt.timeout || f.Tracing != "Active" {
				t.Errorf("memory/timeout/tracing = %d/%v/%q, want 256/%v/Active", f.MemorySize, f.Timeout, f.Tracing, tt.timeout)
			}
			logging, _ := f.Properties["LoggingConfig"].(map[string]any)
			if logging["LogFormat"] != "JSON" {
				t.Errorf("LoggingConfig = %v, want LogFormat JSON", f.Properties["LoggingConfig"])
			}
			wantEnv := map[string]any{"TABLE_NAME": Ref("Table"), "LOG_LEVEL": "INFO"}
			for k, v := range tt.env {
				wantEnv[k] = v
			}
			if !Equal(f.Environment, wantEnv) {
				t.Errorf("environment =\n %v\nwant\n %v", f.Environment, wantEnv)
			}
			for _, g := range tt.grants {
				for _, action := range g.actions {
					for _, res := range g.resources {
						if !f.Allowed(action, res) {
							t.Errorf("missing %s on %v", action, res)
						}
					}
				}
			}
			// Least privilege: nothing beyond the listed grants.
			var allowed []string
			for _, g := range tt.grants {
				allowed = append(allowed, g.actions...)
			}
			for _, s := range f.Statements() {
				for _, a := range s.Actions {
					if !slices.Contains(allowed, a) {
						t.Errorf("unexpected action %s", a)
					}
				}
			}
			// A data key is only generated bound to its secret's purpose.
			for _, s := range f.Statements() {
				if !slices.Contains(s.Actions, "kms:GenerateDataKey") {
					continue
				}
				null, _ := s.Condition["Null"].(map[string]any)
				if len(s.Actions) != 1 || null["kms:EncryptionContext:"+secret.PurposeContextKey] != "false" {
					t.Errorf("kms:GenerateDataKey granted without requiring the %q encryption context: %v %v", secret.PurposeContextKey, s.Actions, s.Condition)
				}
			}
			for _, action := range tt.denied {
				for _, res := range []any{GetAtt("Table", "Arn"), GetAtt("SyncQueue", "Arn"), GetAtt("SecretsKey", "Arn")} {
					if f.Allowed(action, res) {
						t.Errorf("%s must not be granted on %v", action, res)
					}
				}
			}
		})
	}
}

func TestTemplateRoutes(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	routes, err := tmpl.Routes()
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ function, method, path string }
	got := map[key]Route{}
	for _, r := range routes {
		k := key{r.FunctionID, r.Method, r.Path}
		if _, dup := got[k]; dup {
			t.Errorf("duplicate route %v", k)
		}
		got[k] = r
		if r.API != "HttpApi" {
			t.Errorf("route %v is on API %q, want HttpApi", k, r.API)
		}
	}
	const api, hook = "ConfigApiFunction", "WebhookFunction"
	want := map[key]bool{ // value: public
		{api, "GET", "/v1/openapi.json"}:                              true,
		{api, "GET", "/console/{proxy+}"}:                             true,
		{api, "GET", "/"}:                                             true,
		{api, "GET", "/v1/workspace"}:                                 false,
		{api, "PUT", "/v1/workspace"}:                                 false,
		{api, "GET", "/v1/nodes"}:                                     false,
		{api, "GET", "/v1/sources"}:                                   false,
		{api, "POST", "/v1/sources"}:                                  false,
		{api, "GET", "/v1/sources/{id}"}:                              false,
		{api, "PUT", "/v1/sources/{id}"}:                              false,
		{api, "DELETE", "/v1/sources/{id}"}:                           false,
		{api, "POST", "/v1/sources/{id}/enable"}:                      false,
		{api, "POST", "/v1/sources/{id}/disable"}:                     false,
		{api, "GET", "/v1/sources/{id}/field-options"}:                false,
		{api, "POST", "/v1/field-options"}:                            false,
		{api, "GET", "/v1/sources/{id}/subscription-systems"}:         false,
		{api, "POST", "/v1/subscription-systems"}:                     false,
		{api, "POST", "/v1/connection-tests"}:                         false,
		{api, "POST", "/v1/sources/{id}/webhook-secret"}:              false,
		{api, "POST", "/v1/sources/{id}/resync"}:                      false,
		{api, "GET", "/v1/sources/{id}/status"}:                       false,
		{api, "GET", "/v1/sources/{id}/failures"}:                     false,
		{api, "POST", "/v1/sources/{id}/failures/{customerId}/retry"}: false,
		{api, "POST", "/v1/sources/{id}/preview"}:                     false,
		{api, "GET", "/v1/audit"}:                                     false,
		{api, "POST", "/v1/preview"}:                                  false,
		{hook, "POST", "/v1/webhooks/contacthub/{sourceId}"}:          true,
		{hook, "POST", "/v1/webhooks/contactsend/{sourceId}"}:         true,
	}
	// The sync history, the consent trail and alerts.
	for k, public := range map[key]bool{
		{api, "GET", "/v1/sources/{id}/runs"}:                               false,
		{api, "GET", "/v1/sources/{id}/customers"}:                          false,
		{api, "GET", "/v1/sources/{id}/customers/{customerId}/history"}:     false,
		{api, "GET", "/v1/sources/{id}/customers/{customerId}/history.csv"}: false,
		{api, "GET", "/v1/sources/{id}/alerts"}:                             false,
		{api, "PUT", "/v1/sources/{id}/alerts"}:                             false,
		{api, "POST", "/v1/sources/{id}/alerts/test"}:                       false,
		{api, "GET", "/v1/workspace/history-settings"}:                      false,
		{api, "PUT", "/v1/workspace/history-settings"}:                      false,
		{api, "POST", "/v1/sources/{id}/failures/retry"}:                    false,
		{api, "GET", "/v1/sources/{id}/failures.csv"}:                       false,
	} {
		want[k] = public
	}
	for k, public := range want {
		r, ok := got[k]
		switch {
		case !ok:
			t.Errorf("route %v missing", k)
		case public && r.Authorizer != AuthorizerNone:
			t.Errorf("route %v has authorizer %q, want NONE (public)", k, r.Authorizer)
		case !public && r.Authorizer != "WorkspaceJwt":
			t.Errorf("route %v has authorizer %q, want WorkspaceJwt", k, r.Authorizer)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected route %v", k)
		}
	}
}

func TestTemplateHTTPAPI(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	api, ok := tmpl.HTTPAPIs["HttpApi"]
	if !ok {
		t.Fatal("HttpApi missing")
	}
	if api.DefaultAuthorizer != "WorkspaceJwt" {
		t.Errorf("DefaultAuthorizer = %q", api.DefaultAuthorizer)
	}
	jwt := api.Authorizers["WorkspaceJwt"]
	// The stack's user pool, or the issuer the parameters name.
	if jwt.IdentitySource != "$request.header.Authorization" ||
		!Equal(jwt.Issuer, If("CreateUserPool", Sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"), Ref("JwtIssuer"))) ||
		!Equal(jwt.Audience, If("CreateUserPool", []any{Ref("ConsoleClient")}, Ref("JwtAudience"))) {
		t.Errorf("WorkspaceJwt = %+v", jwt)
	}
	if _, cors := api.Properties["CorsConfiguration"]; cors {
		t.Error("CORS must stay off")
	}
	logs, _ := api.Properties["AccessLogSettings"].(map[string]any)
	if !Equal(logs["DestinationArn"], GetAtt("HttpApiAccessLogs", "Arn")) || logs["Format"] == nil {
		t.Errorf("AccessLogSettings = %v", logs)
	}
	if tmpl.Resources["HttpApiAccessLogs"].Type != "AWS::Logs::LogGroup" {
		t.Error("HttpApiAccessLogs must be a log group")
	}
}

func TestTemplateParameters(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	tests := []struct {
		name, typ  string
		hasDefault bool
		def        any
	}{
		{"Stage", "String", true, "dev"},
		// JwtIssuer and JwtAudience only count with an existing issuer (a
		// rule requires them then): the default creates a user pool.
		{"IdentityProvider", "String", true, "Cognito"},
		{"JwtIssuer", "String", true, ""},
		{"JwtAudience", "CommaDelimitedList", true, ""},
		{"ConsoleClientId", "String", true, ""},
		{"WorkspaceClaim", "String", true, "custom:workspace"},
		{"RoleClaim", "String", true, "custom:role"},
		{"Workspace", "String", true, "main"},
		{"ConsoleUrl", "String", true, ""},
		{"SignInDomainPrefix", "String", true, ""},
		{"ContactsendEndpoint", "String", true, "https://soap.contactlab.it/soap/services"},
		{"AlarmEmail", "String", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := tmpl.Parameters[tt.name]
			if !ok {
				t.Fatal("missing")
			}
			if p.Type != tt.typ || p.HasDefault != tt.hasDefault || !Equal(p.Default, tt.def) {
				t.Errorf("got %s default %v (%v), want %s default %v (%v)", p.Type, p.Default, p.HasDefault, tt.typ, tt.def, tt.hasDefault)
			}
		})
	}
	if tmpl.Transform != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v", tmpl.Transform)
	}
}

func TestTemplateTable(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	tbl, ok := tmpl.Tables["Table"]
	if !ok {
		t.Fatal("Table missing")
	}
	if tbl.TTLAttribute != "expiresAt" {
		t.Errorf("TTLAttribute = %q, want expiresAt", tbl.TTLAttribute)
	}
	if tbl.DeletionPolicy != "Retain" {
		t.Errorf("DeletionPolicy = %q, want Retain", tbl.DeletionPolicy)
	}
	pitr, _ := tbl.Properties["PointInTimeRecoverySpecification"].(map[string]any)
	sse, _ := tbl.Properties["SSESpecification"].(map[string]any)
	if pitr["PointInTimeRecoveryEnabled"] != true || sse["SSEEnabled"] != true {
		t.Errorf("PITR %v, SSE %v: both must be enabled", pitr, sse)
	}

	in := tbl.CreateTableInput("hubsend-test")
	if aws.ToString(in.TableName) != "hubsend-test" || in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("name/billing = %q/%q", aws.ToString(in.TableName), in.BillingMode)
	}
	attrs := map[string]types.ScalarAttributeType{}
	for _, a := range in.AttributeDefinitions {
		attrs[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	wantAttrs := map[string]types.ScalarAttributeType{"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S", "gsi2pk": "S", "gsi2sk": "S", "gsi3pk": "S", "gsi3sk": "N"}
	if !mapsEqual(attrs, wantAttrs) {
		t.Errorf("attributes = %v, want %v", attrs, wantAttrs)
	}
	if got := keys(in.KeySchema); !slices.Equal(got, []string{"pk HASH", "sk RANGE"}) {
		t.Errorf("key schema = %v", got)
	}
	if len(in.GlobalSecondaryIndexes) != 3 {
		t.Fatalf("GSIs = %d, want 3", len(in.GlobalSecondaryIndexes))
	}
	gsi := in.GlobalSecondaryIndexes[0]
	if aws.ToString(gsi.IndexName) != "gsi1" || !slices.Equal(keys(gsi.KeySchema), []string{"gsi1pk HASH", "gsi1sk RANGE"}) || gsi.Projection.ProjectionType != types.ProjectionTypeAll || gsi.Projection.NonKeyAttributes != nil {
		t.Errorf("gsi1 = %s %v %v", aws.ToString(gsi.IndexName), keys(gsi.KeySchema), gsi.Projection.ProjectionType)
	}
	enabled := in.GlobalSecondaryIndexes[1]
	if aws.ToString(enabled.IndexName) != "gsi2" || !slices.Equal(keys(enabled.KeySchema), []string{"gsi2pk HASH", "gsi2sk RANGE"}) || enabled.Projection.ProjectionType != types.ProjectionTypeKeysOnly {
		t.Errorf("gsi2 = %s %v %v", aws.ToString(enabled.IndexName), keys(enabled.KeySchema), enabled.Projection.ProjectionType)
	}
	bySubscriber := in.GlobalSecondaryIndexes[2]
	if aws.ToString(bySubscriber.IndexName) != "gsi3" || !slices.Equal(keys(bySubscriber.KeySchema), []string{"gsi3pk HASH", "gsi3sk RANGE"}) ||
		bySubscriber.Projection.ProjectionType != types.ProjectionTypeInclude ||
		!slices.Equal(bySubscriber.Projection.NonKeyAttributes, []string{"customerId", "subscriberId", "subscriptions"}) {
		t.Errorf("gsi3 = %s %v %v %v", aws.ToString(bySubscriber.IndexName), keys(bySubscriber.KeySchema), bySubscriber.Projection.ProjectionType, bySubscriber.Projection.NonKeyAttributes)
	}
}

func keys(ks []types.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return out
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestTemplateQueues(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	sync, dlq := tmpl.Queues["SyncQueue"], tmpl.Queues["SyncDeadLetterQueue"]
	if sync.LogicalID == "" || dlq.LogicalID == "" {
		t.Fatalf("queues = %v, want SyncQueue and SyncDeadLetterQueue", sortedKeys(tmpl.Queues))
	}
	worker := tmpl.Functions["SyncWorkerFunction"]
	if want := 6 * int(worker.Timeout/time.Second); sync.VisibilityTimeout != want {
		t.Errorf("SyncQueue VisibilityTimeout = %d, want %d (6x the worker timeout)", sync.VisibilityTimeout, want)
	}
	if sync.DeadLetterQueue != "SyncDeadLetterQueue" || sync.MaxReceiveCount != 12 {
		t.Errorf("redrive = %q x%d, want SyncDeadLetterQueue x12", sync.DeadLetterQueue, sync.MaxReceiveCount)
	}
	if sync.Properties["SqsManagedSseEnabled"] != true {
		t.Error("SyncQueue must have SqsManagedSseEnabled")
	}
	if dlq.MessageRetentionPeriod != 1209600 || dlq.DeadLetterQueue != "" {
		t.Errorf("DLQ retention %d redrive %q, want 1209600 and none", dlq.MessageRetentionPeriod, dlq.DeadLetterQueue)
	}
	if got := sync.Attributes(); got["VisibilityTimeout"] != "360" || got["RedrivePolicy"] != "" {
		t.Errorf("SyncQueue attributes = %v", got)
	}
	if got, want := sync.RedrivePolicy("arn:aws:sqs:us-east-1:000000000000:dlq"), `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":12}`; got != want {
		t.Errorf("RedrivePolicy = %s, want %s", got, want)
	}

	subs, err := tmpl.QueueSubscriptions()
	if err != nil {
		t.Fatal(err)
	}
	// Live changes and the bulk lane each have their queue, function and
	// concurrency, so a backfill never delays a live change.
	want := []QueueSubscription{{
		FunctionID: "BulkWorkerFunction", Event: "BulkJobs", Queue: "BulkQueue", BatchSize: 5,
		MaximumBatchingWindow: time.Second, ReportBatchItemFailures: true, MaximumConcurrency: 10,
	}, {
		FunctionID: "SourceTickFunction", Event: "SourceTicks", Queue: "SourceTickQueue", BatchSize: 1,
		ReportBatchItemFailures: true, MaximumConcurrency: 50,
	}, {
		FunctionID: "SyncWorkerFunction", Event: "SyncJobs", Queue: "SyncQueue", BatchSize: 10,
		MaximumBatchingWindow: time.Second, ReportBatchItemFailures: true, MaximumConcurrency: 10,
	}}
	if !slices.Equal(subs, want) {
		t.Errorf("queue subscriptions = %+v, want %+v", subs, want)
	}

	bulk, bulkDLQ := tmpl.Queues["BulkQueue"], tmpl.Queues["BulkDeadLetterQueue"]
	bulkWorker := tmpl.Functions["BulkWorkerFunction"]
	if want := 6 * int(bulkWorker.Timeout/time.Second); bulk.VisibilityTimeout != want {
		t.Errorf("BulkQueue VisibilityTimeout = %d, want %d (6x the bulk worker timeout)", bulk.VisibilityTimeout, want)
	}
	if bulk.DeadLetterQueue != "BulkDeadLetterQueue" || bulk.Properties["SqsManagedSseEnabled"] != true {
		t.Errorf("BulkQueue redrive %q, encryption %v", bulk.DeadLetterQueue, bulk.Properties["SqsManagedSseEnabled"])
	}
	// Issue 13: 14 days on every queue, longer than any outage or backfill.
	for _, q := range []Queue{sync, dlq, bulk, bulkDLQ} {
		if q.MessageRetentionPeriod != 1209600 {
			t.Errorf("%s retention %d, want 1209600 (14 days)", q.LogicalID, q.MessageRetentionPeriod)
		}
	}
	if len(tmpl.Queues) != 6 {
		t.Errorf("queues = %v, want the sync, bulk and source tick queues and their DLQs", sortedKeys(tmpl.Queues))
	}
}

// TestTemplateSourceTickQueue: one tick per source at a time (FIFO,
// grouped by source), deduplicated by the sender, a dead-letter queue for
// what cannot be a tick, 14 days' retention.
func TestTemplateSourceTickQueue(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	q, dlq := tmpl.Queues["SourceTickQueue"], tmpl.Queues["SourceTickDeadLetterQueue"]
	if q.LogicalID == "" || dlq.LogicalID == "" {
		t.Fatalf("queues = %v, want SourceTickQueue and SourceTickDeadLetterQueue", sortedKeys(tmpl.Queues))
	}
	if !q.FIFO || !dlq.FIFO {
		t.Errorf("FIFO = %v / %v, want both (a FIFO queue's dead-letter queue is FIFO too)", q.FIFO, dlq.FIFO)
	}
	if q.Properties["ContentBasedDeduplication"] != false {
		t.Errorf("ContentBasedDeduplication = %v, want false: ticks carry their own deduplication id", q.Properties["ContentBasedDeduplication"])
	}
	if q.DeadLetterQueue != "SourceTickDeadLetterQueue" || q.MaxReceiveCount != 3 {
		t.Errorf("redrive = %q x%d, want SourceTickDeadLetterQueue x3", q.DeadLetterQueue, q.MaxReceiveCount)
	}
	timeout := int(tmpl.Functions["SourceTickFunction"].Timeout / time.Second)
	if q.VisibilityTimeout <= timeout {
		t.Errorf("VisibilityTimeout %d, want more than the function's timeout %d", q.VisibilityTimeout, timeout)
	}
	for _, queue := range []Queue{q, dlq} {
		if queue.MessageRetentionPeriod != 1209600 || queue.Properties["SqsManagedSseEnabled"] != true {
			t.Errorf("%s retention %d SSE %v, want 14 days and SSE", queue.LogicalID, queue.MessageRetentionPeriod, queue.Properties["SqsManagedSseEnabled"])
		}
	}
	if got := q.Attributes(); got["FifoQueue"] != "true" {
		t.Errorf("SourceTickQueue attributes = %v, want FifoQueue", got)
	}
}

func TestTemplateSchedule(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	schedules, err := tmpl.Schedules()
	if err != nil {
		t.Fatal(err)
	}
	if len(schedules) != 1 || schedules[0].FunctionID != "SchedulerFunction" || !schedules[0].Enabled {
		t.Fatalf("schedules = %+v, want one enabled on SchedulerFunction", schedules)
	}
	if d, err := schedules[0].RatePeriod(); err != nil || d != time.Minute {
		t.Errorf("period = %v, %v; want 1m", d, err)
	}
}

func TestTemplateKeyAndAlarms(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)

	key := tmpl.Resources["SecretsKey"]
	if key.Type != "AWS::KMS::Key" || key.Properties["EnableKeyRotation"] != true {
		t.Errorf("SecretsKey = %s rotation %v", key.Type, key.Properties["EnableKeyRotation"])
	}
	if alias := tmpl.Resources["SecretsKeyAlias"]; alias.Type != "AWS::KMS::Alias" || !Equal(alias.Properties["TargetKeyId"], Ref("SecretsKey")) {
		t.Errorf("SecretsKeyAlias = %+v", alias)
	}

	topic := tmpl.Resources["AlarmTopic"]
	sub := tmpl.Resources["AlarmEmailSubscription"]
	if topic.Type != "AWS::SNS::Topic" || sub.Condition != "HasAlarmEmail" || !Equal(sub.Properties["Endpoint"], Ref("AlarmEmail")) {
		t.Errorf("alarm topic %s, subscription condition %q endpoint %v", topic.Type, sub.Condition, sub.Properties["Endpoint"])
	}
	if _, ok := tmpl.Conditions["HasAlarmEmail"]; !ok {
		t.Error("condition HasAlarmEmail missing")
	}

	type alarm struct {
		metric    string
		dimension any
		threshold int
	}
	want := []alarm{
		{"ApproximateNumberOfMessagesVisible", GetAtt("SyncDeadLetterQueue", "QueueName"), 0},
		{"ApproximateAgeOfOldestMessage", GetAtt("SyncQueue", "QueueName"), 300},
		{"ApproximateNumberOfMessagesVisible", GetAtt("SourceTickDeadLetterQueue", "QueueName"), 0},
		// Sources no longer read every minute.
		{"ApproximateAgeOfOldestMessage", GetAtt("SourceTickQueue", "QueueName"), 120},
		{"ApproximateNumberOfMessagesVisible", GetAtt("BulkDeadLetterQueue", "QueueName"), 0},
		// The bulk queue is kept short by the scheduler: an hour-old
		// message means stuck, not busy.
		{"ApproximateAgeOfOldestMessage", GetAtt("BulkQueue", "QueueName"), 3600},
	}
	for _, id := range tmpl.FunctionIDs() {
		want = append(want, alarm{"Errors", Ref(id), 0})
	}
	alarms := tmpl.ResourcesOfType("AWS::CloudWatch::Alarm")
	for _, w := range want {
		found := false
		for _, a := range alarms {
			p := a.Properties
			dims, _ := p["Dimensions"].([]any)
			if p["MetricName"] != w.metric || len(dims) != 1 || !Equal(dims[0].(map[string]any)["Value"], w.dimension) {
				continue
			}
			found = true
			threshold, _ := asInt(p["Threshold"], "Threshold")
			if threshold != w.threshold || p["ComparisonOperator"] != "GreaterThanThreshold" {
				t.Errorf("alarm %s: %v %v, want > %d", a.LogicalID, p["ComparisonOperator"], p["Threshold"], w.threshold)
			}
			if actions, _ := p["AlarmActions"].([]any); len(actions) != 1 || !Equal(actions[0], Ref("AlarmTopic")) {
				t.Errorf("alarm %s actions = %v, want the alarm topic", a.LogicalID, p["AlarmActions"])
			}
		}
		if !found {
			t.Errorf("no alarm on %s of %v", w.metric, w.dimension)
		}
	}
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d", len(alarms), len(want))
	}
}

func TestTemplateOutputs(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	want := map[string]any{
		"TableName":              Ref("Table"),
		"SyncQueueUrl":           Ref("SyncQueue"),
		"SyncDeadLetterQueueUrl": Ref("SyncDeadLetterQueue"),
	}
	for name, v := range want {
		if got := tmpl.Outputs[name].Value; !Equal(got, v) {
			t.Errorf("output %s = %v, want %v", name, got, v)
		}
	}
	// The local stack's HUBSEND_KMS_KEY_ID comes from here (README).
	if got := tmpl.Outputs["SecretsKeyId"].Value; !Equal(got, Ref("SecretsKey")) {
		t.Errorf("output SecretsKeyId = %v, want the key's id", got)
	}
	if in, ok := tmpl.Outputs["ApiUrl"].Value.(Intrinsic); !ok || in.Name != "Fn::Sub" {
		t.Errorf("ApiUrl = %v, want a !Sub of the API id", tmpl.Outputs["ApiUrl"].Value)
	}
}

// TestFunctionFolders checks that functions/<name> folders and function
// resources correspond one to one, by the Dir convention the Makefile uses.
func TestFunctionFolders(t *testing.T) {
	tmpl, root := loadProjectTemplate(t)
	for _, id := range []string{"ConfigApiFunction", "WebhookFunction", "SyncWorkerFunction", "SchedulerFunction", "SourceTickFunction"} {
		if _, ok := tmpl.Functions[id]; !ok {
			t.Errorf("function resource %s missing", id)
		}
	}

	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, e.Name())
		}
	}
	sort.Strings(folders)
	for _, name := range folders {
		t.Run("folder "+name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, "functions", name, "main.go")); err != nil {
				t.Skipf("functions/%s has no main.go yet", name)
			}
			if _, ok := tmpl.FunctionByDir("functions/" + name); !ok {
				t.Errorf("functions/%s has no function resource in template.yaml", name)
			}
		})
	}
	for _, id := range tmpl.FunctionIDs() {
		f := tmpl.Functions[id]
		t.Run("resource "+id, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(f.Dir), "main.go")); err != nil {
				t.Skipf("%s/main.go not written yet", f.Dir)
			}
		})
	}
	seen := map[string]string{}
	for _, id := range tmpl.FunctionIDs() {
		dir := tmpl.Functions[id].Dir
		if other, dup := seen[dir]; dup {
			t.Errorf("%s and %s both build from %s", other, id, dir)
		}
		seen[dir] = id
	}
}

// TestMakefileBuildsEveryFunction keeps the Makefile's build-<LogicalId>
// targets, which sam build calls for BuildMethod makefile, in step with the
// template.
func TestMakefileBuildsEveryFunction(t *testing.T) {
	tmpl, root := loadProjectTemplate(t)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`\bbuild-([A-Za-z0-9]+Function)\b`).FindAllStringSubmatch(string(makefile), -1)
	found := map[string]bool{}
	for _, m := range targets {
		found[m[1]] = true
	}
	for _, id := range tmpl.FunctionIDs() {
		if !found[id] {
			t.Errorf("Makefile has no build-%s target", id)
		}
		delete(found, id)
	}
	for id := range found {
		t.Errorf("Makefile target build-%s has no function resource", id)
	}
}

// TestTemplateRetainsState checks that what holds state outlives a stack
// deletion and a replacing update, and that the table cannot be deleted by
// accident.
func TestTemplateRetainsState(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	stateful := []string{
		"Table", "SecretsKey", "SyncQueue", "SyncDeadLetterQueue", "HttpApiAccessLogs",
		"ConfigApiLogGroup", "WebhookLogGroup", "SyncWorkerLogGroup", "SchedulerLogGroup", "SourceTickLogGroup",
	}
	for _, id := range stateful {
		t.Run(id, func(t *testing.T) {
			r, ok := tmpl.Resources[id]
			if !ok {
				t.Fatal("missing")
			}
			if r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain" {
				t.Errorf("DeletionPolicy/UpdateReplacePolicy = %q/%q, want Retain/Retain", r.DeletionPolicy, r.UpdateReplacePolicy)
			}
		})
	}
	if got := tmpl.Tables["Table"].Properties["DeletionProtectionEnabled"]; got != true {
		t.Errorf("Table DeletionProtectionEnabled = %v, want true", got)
	}
}

// TestTemplateFunctionLogs checks that each function writes to a log group
// the template declares, with a retention (Lambda's own groups keep logs
// forever).
func TestTemplateFunctionLogs(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	groups := map[string]bool{}
	for _, id := range tmpl.FunctionIDs() {
		t.Run(id, func(t *testing.T) {
			logging, _ := tmpl.Functions[id].Properties["LoggingConfig"].(map[string]any)
			group, ok := RefTarget(logging["LogGroup"])
			if !ok {
				t.Fatalf("LoggingConfig.LogGroup = %v, want a !Ref of a declared log group", logging["LogGroup"])
			}
			if groups[group] {
				t.Errorf("log group %s is shared", group)
			}
			groups[group] = true
			r := tmpl.Resources[group]
			if r.Type != "AWS::Logs::LogGroup" {
				t.Fatalf("%s is a %q, want AWS::Logs::LogGroup", group, r.Type)
			}
			if days, err := asInt(r.Properties["RetentionInDays"], "RetentionInDays"); err != nil || days <= 0 {
				t.Errorf("%s RetentionInDays = %v, want a retention", group, r.Properties["RetentionInDays"])
			}
		})
	}
}

func TestTemplateConcurrencyAndRetries(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	reserved := func(id string) int {
		t.Helper()
		n, err := asInt(tmpl.Functions[id].Properties["ReservedConcurrentExecutions"], id+".ReservedConcurrentExecutions")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	subs, err := tmpl.QueueSubscriptions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		// Below the mapping's maximum, Lambda throttles the poller's
		// invocations and jobs are redelivered towards the DLQ.
		if got := reserved(s.FunctionID); got < s.MaximumConcurrency || s.MaximumConcurrency == 0 {
			t.Errorf("%s reserved concurrency %d, want at least the mapping's maximum concurrency %d", s.FunctionID, got, s.MaximumConcurrency)
		}
	}
	if got := reserved("WebhookFunction"); got <= 0 {
		t.Errorf("WebhookFunction reserved concurrency %d, want a cap", got)
	}

	invoke, _ := tmpl.Functions["SchedulerFunction"].Properties["EventInvokeConfig"].(map[string]any)
	if retries, err := asInt(invoke["MaximumRetryAttempts"], "MaximumRetryAttempts"); err != nil || retries != 0 || invoke["MaximumRetryAttempts"] == nil {
		t.Errorf("SchedulerFunction EventInvokeConfig = %v, want MaximumRetryAttempts 0 (the next tick is the retry)", invoke)
	}
}

// TestTemplatePublicRoutesThrottled checks that every route without an
// authorizer that reaches the webhook function has a stage throttle.
func TestTemplatePublicRoutesThrottled(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	hook := tmpl.Functions["WebhookFunction"]
	checked := 0
	for name, ev := range hook.Events {
		if ev.Type != "HttpApi" {
			continue
		}
		checked++
		t.Run(name, func(t *testing.T) {
			settings, _ := ev.Properties["RouteSettings"].(map[string]any)
			for _, key := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
				if n, err := asInt(settings[key], key); err != nil || n <= 0 {
					t.Errorf("RouteSettings.%s = %v, want a limit", key, settings[key])
				}
			}
		})
	}
	if checked != 2 {
		t.Errorf("checked %d webhook routes, want 2", checked)
	}
}

// TestTemplateSignIn: with IdentityProvider=Cognito the stack has a user
// pool only admins add people to, kept with the data, a hosted sign-in
// domain, a public console client for the authorization code flow (PKCE,
// no secret, no implicit flow) and the groups that carry the workspace and
// the role.
func TestTemplateSignIn(t *testing.T) {
	tmpl, _ := loadProjectTemplate(t)
	if !Equal(tmpl.Conditions["CreateUserPool"], Intrinsic{Name: "Fn::Equals", Arg: []any{Ref("IdentityProvider"), "Cognito"}}) {
		t.Errorf("CreateUserPool = %v", tmpl.Conditions["CreateUserPool"])
	}
	resource := func(id, typ string) Resource {
		t.Helper()
		r, ok := tmpl.Resources[id]
		if !ok || r.Type != typ || r.Condition != "CreateUserPool" {
			t.Fatalf("%s: %+v, want a %s under CreateUserPool", id, r, typ)
		}
		return r
	}
	pool := resource("UserPool", "AWS::Cognito::UserPool")
	admin, _ := pool.Properties["AdminCreateUserConfig"].(map[string]any)
	if pool.DeletionPolicy != "Retain" || pool.UpdateReplacePolicy != "Retain" || pool.Properties["DeletionProtection"] != "ACTIVE" || admin["AllowAdminCreateUserOnly"] != true {
		t.Errorf("UserPool: %+v", pool)
	}
	domain := resource("SignInDomain", "AWS::Cognito::UserPoolDomain")
	if !Equal(domain.Properties["UserPoolId"], Ref("UserPool")) {
		t.Errorf("SignInDomain: %v", domain.Properties)
	}
	client := resource("ConsoleClient", "AWS::Cognito::UserPoolClient").Properties
	if client["GenerateSecret"] != false || client["AllowedOAuthFlowsUserPoolClient"] != true ||
		!Equal(client["AllowedOAuthFlows"], []any{"code"}) || !Equal(client["AllowedOAuthScopes"], []any{"openid", "email", "profile"}) ||
		!Equal(client["CallbackURLs"], []any{If("HasConsoleUrl", Ref("ConsoleUrl"), "http://localhost/")}) {
		t.Errorf("ConsoleClient: %v", client)
	}
	for id, role := range map[string]string{"AdminGroup": "admin", "ViewerGroup": "viewer"} {
		g := resource(id, "AWS::Cognito::UserPoolGroup").Properties
		if !Equal(g["GroupName"], Sub("hubsend:${Workspace}:"+role)) {
			t.Errorf("%s: GroupName %v", id, g["GroupName"])
		}
	}
}
