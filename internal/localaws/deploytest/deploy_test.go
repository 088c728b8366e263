package deploytest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/webhook"
)

// requireTools skips the test when the Python tools are missing, with what
// to install, and fails it in CI, where they must be present.
func requireTools(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("moto_server"); err != nil {
		missing = append(missing, "moto_server")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		missing = append(missing, "python3")
	} else if out, err := exec.Command("python3", "-c", "import boto3, samtranslator").CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		missing = append(missing, fmt.Sprintf("the python3 modules boto3 and samtranslator (%s)", lines[len(lines)-1]))
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("the deploy test needs %s: pip install -r tools/requirements-deploy.txt", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (required in CI)")
	}
	t.Skip(msg)
}

// deployment is what tools/moto-deploy.py reports: the stack's outputs and
// the type of each resource CloudFormation created.
type deployment struct {
	Outputs   map[string]string
	Resources map[string]string
}

// deploy creates the stack from template.yaml in moto, as sam deploy would.
func deploy(t *testing.T, moto *emulators.Moto) deployment {
	t.Helper()
	templatePath, err := samtemplate.Locate(".")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(templatePath)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", filepath.Join(root, "tools", "moto-deploy.py"),
		"--endpoint", moto.Endpoint(), "--template", templatePath, "--stack", "hubsend",
		// moto's CloudFormation cannot create Cognito resources (it drops
		// them, then fails on their references): the stack trusts an
		// existing issuer here, and TestCognitoTokensThroughTheGateway
		// covers the user pool through Cognito's API.
		"--parameter", "IdentityProvider=ExistingOidc",
		"--parameter", "JwtIssuer=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_hubsend",
		"--parameter", "JwtAudience=hubsend-console",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("deploy to moto: %v\n%s", err, stderr.String())
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("deploy output %q: %v", out, err)
	}
	d := deployment{Outputs: map[string]string{}}
	for k, v := range raw {
		if k == "_Resources" {
			if err := json.Unmarshal(v, &d.Resources); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			t.Fatalf("output %s: %v", k, err)
		}
		d.Outputs[k] = s
	}
	return d
}

// awsConfig loads the SDK configuration the way `HUBSEND_AWS=1 make run`
// does (config.LoadDefaultConfig), from an environment that points at moto.
func awsConfig(t *testing.T, moto *emulators.Moto) aws.Config {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.Endpoint(), "AWS_REGION": emulators.Region,
		"AWS_ACCESS_KEY_ID": "hubsend-local", "AWS_SECRET_ACCESS_KEY": "hubsend-local", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDeployToMoto(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys a stack into moto and syncs through it; not in -short")
	}
	requireTools(t)
	started := time.Now()
	moto, err := emulators.StartMoto(t.Context(), emulators.MotoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { moto.Close() })
	d := deploy(t, moto)
	t.Logf("moto started and stack CREATE_COMPLETE in %s (%d resources)", time.Since(started).Round(time.Millisecond), len(d.Resources))
	cfg := awsConfig(t, moto)

	t.Run("resources", func(t *testing.T) { checkResources(t, cfg, d) })
	t.Run("kms", func(t *testing.T) { checkKMS(t, cfg, d.Outputs["SecretsKeyId"]) })
	t.Run("sync", func(t *testing.T) { checkSync(t, cfg, d) })
}

// checkResources checks that CloudFormation made what the code relies on.
func checkResources(t *testing.T, cfg aws.Config, d deployment) {
	want := map[string]string{
		"Table":                        "AWS::DynamoDB::Table",
		"SyncQueue":                    "AWS::SQS::Queue",
		"SyncDeadLetterQueue":          "AWS::SQS::Queue",
		"SecretsKey":                   "AWS::KMS::Key",
		"SecretsKeyAlias":              "AWS::KMS::Alias",
		"ConfigApiFunction":            "AWS::Lambda::Function",
		"WebhookFunction":              "AWS::Lambda::Function",
		"SyncWorkerFunction":           "AWS::Lambda::Function",
		"SchedulerFunction":            "AWS::Lambda::Function",
		"ConfigApiLogGroup":            "AWS::Logs::LogGroup",
		"WebhookLogGroup":              "AWS::Logs::LogGroup",
		"SyncWorkerLogGroup":           "AWS::Logs::LogGroup",
		"SchedulerLogGroup":            "AWS::Logs::LogGroup",
		"SyncWorkerFunctionSyncJobs":   "AWS::Lambda::EventSourceMapping",
		"SchedulerFunctionEveryMinute": "AWS::Events::Rule",
	}
	for id, typ := range want {
		if got := d.Resources[id]; got != typ {
			t.Errorf("resource %s is %q, want %s", id, got, typ)
		}
	}
	for _, name := range []string{"TableName", "SyncQueueUrl", "SyncDeadLetterQueueUrl", "SecretsKeyId"} {
		if d.Outputs[name] == "" {
			t.Errorf("output %s missing (outputs %v)", name, d.Outputs)
		}
	}

	ctx := t.Context()
	table, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.Outputs["TableName"])})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(table.Table.DeletionProtectionEnabled) {
		t.Error("table created without deletion protection")
	}
	var indexes []string
	for _, g := range table.Table.GlobalSecondaryIndexes {
		indexes = append(indexes, aws.ToString(g.IndexName))
	}
	if strings.Join(indexes, ",") != "gsi1,gsi2,gsi3" {
		t.Errorf("table indexes %v, want gsi1, gsi2 and gsi3", indexes)
	}

	client := sqs.NewFromConfig(cfg)
	dlq, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(d.Outputs["SyncDeadLetterQueueUrl"]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(d.Outputs["SyncQueueUrl"]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	var redrive struct{ DeadLetterTargetArn string }
	if err := json.Unmarshal([]byte(q.Attributes["RedrivePolicy"]), &redrive); err != nil || redrive.DeadLetterTargetArn != dlq.Attributes["QueueArn"] {
		t.Errorf("sync queue RedrivePolicy %q, want the DLQ %s (%v)", q.Attributes["RedrivePolicy"], dlq.Attributes["QueueArn"], err)
	}
	if q.Attributes["VisibilityTimeout"] != "360" {
		t.Errorf("sync queue VisibilityTimeout %s, want 360", q.Attributes["VisibilityTimeout"])
	}
}

// checkKMS seals and opens through the stack's key: the data key is bound
// to the secret's purpose by an encryption context KMS enforces, and a value
// sealed as the previous release did (no context) still opens.
func checkKMS(t *testing.T, cfg aws.Config, keyID string) {
	ctx := t.Context()
	client := kms.NewFromConfig(cfg)
	const purpose = "source/s1/apiKey"
	sealed, err := secret.NewBox(secret.NewKMSKeys(client, keyID)).Seal(ctx, "api-key-0123456789abcdef", purpose)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := secret.NewBox(secret.NewKMSKeys(client, keyID)).Open(ctx, sealed, purpose); err != nil || got != "api-key-0123456789abcdef" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := secret.NewBox(secret.NewKMSKeys(client, keyID)).Open(ctx, sealed, "source/s2/apiKey"); err == nil {
		t.Error("a value opened for another purpose")
	}
	wrapped := sealed[3 : 3+int(binary.BigEndian.Uint16(sealed[1:3]))]
	for _, encryptionContext := range []map[string]string{nil, {secret.PurposeContextKey: "source/s2/apiKey"}} {
		_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wrapped, KeyId: &keyID, EncryptionContext: encryptionContext})
		var invalid *kmstypes.InvalidCiphertextException
		if !errors.As(err, &invalid) {
			t.Errorf("KMS unwrapped the data key with encryption context %v: %v, want InvalidCiphertextException", encryptionContext, err)
		}
	}

	// Format 1, as sealed before encryption contexts: the data key wrapped
	// without one, the purpose as GCM associated data.
	dataKey, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: kmstypes.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(dataKey.Plaintext)
	aead, _ := cipher.NewGCM(block)
	old := []byte{1}
	old = binary.BigEndian.AppendUint16(old, uint16(len(dataKey.CiphertextBlob)))
	old = append(old, dataKey.CiphertextBlob...)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	old = aead.Seal(append(old, nonce...), nonce, []byte("sealed-before-contexts"), []byte(purpose))
	if got, err := secret.NewBox(secret.NewKMSKeys(client, keyID)).Open(ctx, old, purpose); err != nil || got != "sealed-before-contexts" {
		t.Errorf("format 1 value: Open = %q, %v", got, err)
	}
}

// checkSync runs the local stack against the deployed table, queue and key
// and takes one source through a whole sync: create, enable, backfill, a
// customer from the change feed, one from a webhook, and a resync of the
// converged node that writes nothing.
func checkSync(t *testing.T, cfg aws.Config, d deployment) {
	ctx := t.Context()
	logs := testkit.NewLogs()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the stack's log:\n%s", logs)
		}
	})
	stack, err := devstack.Start(ctx, devstack.Options{
		Logger:        logs.Logger(),
		DemoCustomers: 20,
		ScheduleEvery: time.Hour, // ticks only when the test says so
		// moto applies an UpdateItem without a lock: two batches adding to
		// the hour's counters at once lose increments (397 of 400 ADDs kept,
		// ten threads), which DynamoDB never does. One batch at a time keeps
		// the counters this test reads exact.
		BatchesAtOnce: 1,
		AWS: &devstack.RealAWS{
			Config: cfg, Table: d.Outputs["TableName"],
			SyncQueueURL: d.Outputs["SyncQueueUrl"], KMSKeyID: d.Outputs["SecretsKeyId"],
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	if stack.AWS != nil {
		t.Fatal("the stack started the emulators instead of using moto")
	}

	all := stack.Hub.Customers(devstack.DemoHubWorkspace)
	node := all[0]["nodeId"].(string)
	var customers []string
	for _, c := range all {
		if c["nodeId"] == node {
			customers = append(customers, emailOf(c))
		}
	}
	status, body := stack.CallT(t, "POST", "/v1/sources", map[string]any{
		"name": "Newsletter Italia", "nodes": []string{node}, "enabled": false,
		"properties": map[string]any{
			"apiKey": devstack.DemoSendAPIKey, "userKey": devstack.DemoSendUserKey, "userDbId": devstack.DemoUserDB,
			"fieldMapping": []map[string]any{
				{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
				{"hubField": "base.firstName", "sendField": "FIRST_NAME"},
			},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("create source: %d %v", status, body)
	}
	sourceID := body["id"].(string)
	if status, body := stack.CallT(t, "GET", "/v1/sources/"+sourceID, nil); status != http.StatusOK || body["enabled"] != false {
		t.Fatalf("read back the source (its secrets opened through KMS): %d %v", status, body)
	}
	if status, body := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/enable", nil); status != http.StatusOK {
		t.Fatalf("enable: %d %v", status, body)
	}
	tick(t, stack)
	testkit.Eventually(t, 60*time.Second, func() string {
		subs := stack.SubscribersByEmailT(t)
		for _, email := range customers {
			if _, ok := subs[email]; !ok {
				return "no subscriber yet for " + email
			}
		}
		return ""
	})

	hub, err := contacthub.New(contacthub.Config{BaseURL: stack.ContacthubURL + "/hub/v1", WorkspaceID: devstack.DemoHubWorkspace, Token: devstack.DemoHubToken})
	if err != nil {
		t.Fatal(err)
	}
	// A customer arrives through the change feed.
	arrived, err := hub.CreateCustomer(ctx, contacthub.Customer{NodeID: node, Base: &contacthub.Base{
		FirstName: "Arrivata", Contacts: &contacthub.Contacts{Email: "arrivata@example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tick(t, stack)
	waitSubscriber(t, stack, "arrivata@example.com")

	// Another through the webhook, without a tick.
	status, hookSecret := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/webhook-secret", nil)
	if status != http.StatusCreated {
		t.Fatalf("webhook secret: %d %v", status, hookSecret)
	}
	hooked, err := hub.CreateCustomer(ctx, contacthub.Customer{NodeID: node, Base: &contacthub.Base{
		FirstName: "Webhook", Contacts: &contacthub.Contacts{Email: "webhook@example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`{"customerId":%q,"eventType":"customerCreated","eventId":"evt-deploy-1"}`, hooked.ID)
	req, _ := http.NewRequestWithContext(ctx, "POST", stack.APIURL+"/v1/webhooks/contacthub/"+sourceID, strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(hookSecret["secret"].(string), []byte(payload)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	waitSubscriber(t, stack, "webhook@example.com")

	// A resync of the converged node: every customer is read and found
	// unchanged, and Contactsend gets no write.
	total := int64(len(customers) + 2)
	since := time.Now().Add(-time.Hour)
	baseline, err := stack.Ledger.Stats(ctx, sourceID, since)
	if err != nil {
		t.Fatal(err)
	}
	before := stack.Send.Calls().Counts()
	if status, body := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/resync", nil); status != http.StatusAccepted {
		t.Fatalf("resync: %d %v", status, body)
	}
	tick(t, stack)
	testkit.Eventually(t, 60*time.Second, func() string {
		st, err := stack.Ledger.Stats(ctx, sourceID, since)
		if err != nil {
			return err.Error()
		}
		if n := st.Counts.Unchanged - baseline.Counts.Unchanged; n < total {
			return fmt.Sprintf("%d of %d customers found unchanged so far (counts %+v, before the resync %+v)", n, total, st.Counts, baseline.Counts)
		}
		return ""
	})
	after := stack.Send.Calls().Counts()
	for _, op := range []string{"addSubscriber", "updateSubscriber"} {
		if n := after[op] - before[op]; n != 0 {
			t.Errorf("resync of a converged node made %d %s calls, want 0", n, op)
		}
	}
	if got := stack.SubscribersByEmailT(t)["arrivata@example.com"]["FIRST_NAME"]; fmt.Sprint(got) != arrived.Base.FirstName {
		t.Errorf("arrivata's FIRST_NAME = %v, want %s", got, arrived.Base.FirstName)
	}
}

func tick(t *testing.T, stack *devstack.Stack) {
	t.Helper()
	if _, err := stack.Scheduler.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func waitSubscriber(t *testing.T, stack *devstack.Stack, email string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() string {
		if _, ok := stack.SubscribersByEmailT(t)[email]; !ok {
			return "no subscriber yet for " + email
		}
		return ""
	})
}

func emailOf(c map[string]any) string {
	return strings.ToLower(c["base"].(map[string]any)["contacts"].(map[string]any)["email"].(string))
}
