package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/configstore"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/secret"
	"github.com/hubsend/hubsend/internal/simulators/hubsim"
	"github.com/hubsend/hubsend/internal/source"
)

// TestHandlerPollsTheFeed wires the function as Lambda would, from its
// environment, and runs it on the sample EventBridge event.
func TestHandlerPollsTheFeed(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile("../../events/scheduler.json")
	if err != nil {
		t.Fatal(err)
	}
	var event events.EventBridgeEvent
	if err := json.Unmarshal(data, &event); err != nil {
		t.Fatal(err)
	}
	if event.DetailType != "Scheduled Event" || event.Source != "aws.events" || len(event.Resources) != 1 {
		t.Fatalf("sample event is not a scheduled event: %+v", event)
	}

	stack := emulators.StartT(t)
	table := emulators.NewTableT(t, stack)
	queues := emulators.NewQueuesT(t, stack)
	masterKey := bytes.Repeat([]byte{3}, 32)
	for _, kv := range stack.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	env := map[string]string{
		"TABLE_NAME":         table,
		"SYNC_QUEUE_URL":     queues.SyncURL,
		"HUBSEND_MASTER_KEY": base64.StdEncoding.EncodeToString(masterKey),
		"LOG_LEVEL":          "ERROR",
	}

	// A source on a simulated Contacthub, stored as the config API would.
	seed, err := hubsim.ParseSeed([]byte(`{"workspaces":[{"id":"hub-ws","tokens":["hub-token"],"entryNodes":[{"id":"italy","name":"Italia"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	hub := hubsim.New(hubsim.Options{Seed: seed, RandomSeed: 1})
	server := httptest.NewServer(hub)
	defer server.Close()
	keys, err := secret.NewLocalKeys(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	store := configstore.New(stack.DynamoDB(), table, secret.NewBox(keys))
	if _, err := store.PutConnection(ctx, configstore.Connection{
		Workspace: "ws1", ContacthubBaseURL: server.URL + "/hub/v1", ContacthubWorkspaceID: "hub-ws", ContacthubToken: "hub-token",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, source.Source{
		ID: "s1", WorkspaceID: "ws1", Name: "Italia", Nodes: []string{"italy"}, Enabled: true,
		Properties: source.Properties{
			UserKey: "user-key", APIKey: "api-key", UserDBID: 1,
			FieldMapping: []source.FieldMapping{{HubField: "base.contacts.email", SendField: "EMAIL", Match: true}},
		},
	}); err != nil {
		t.Fatal(err)
	}

	handler, err := wire(ctx, func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	invoke := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := handler(ctx, event); err != nil {
			t.Fatalf("handler: %v", err)
		}
	}
	invoke() // starts the feed at its end
	created, err := hub.PutCustomer("hub-ws", map[string]any{"nodeId": "italy", "base": map[string]any{"firstName": "Giulia"}})
	if err != nil {
		t.Fatal(err)
	}
	invoke()

	out, err := stack.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queues.SyncURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("queue holds %d messages, want 1", len(out.Messages))
	}
	job, err := jobs.Decode(aws.ToString(out.Messages[0].Body))
	if err != nil || job.SourceID != "s1" || job.CustomerID != created["id"] || job.Reason != jobs.FromFeed {
		t.Fatalf("job = %+v, %v", job, err)
	}
}

func TestWireRefusesAnIncompleteEnvironment(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "t", "HUBSEND_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32))}
	if _, err := wire(context.Background(), func(name string) string { return env[name] }); err == nil || !strings.Contains(err.Error(), "SYNC_QUEUE_URL") {
		t.Fatalf("wire without SYNC_QUEUE_URL = %v", err)
	}
}
