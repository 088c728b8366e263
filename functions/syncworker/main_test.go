package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
)

func TestWire(t *testing.T) {
	env := map[string]string{
		"TABLE_NAME":           "hubsend",
		"HUBSEND_MASTER_KEY":   base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"CONTACTSEND_ENDPOINT": "http://127.0.0.1:1/soap/services",
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if _, err := wire(context.Background(), func(k string) string { return env[k] }); err != nil {
		t.Fatalf("wire: %v", err)
	}
	if _, err := wire(context.Background(), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "TABLE_NAME") {
		t.Fatalf("wire without environment = %v, want a TABLE_NAME error", err)
	}
}

// The sample event is what `sam local invoke` feeds the function: it must
// decode as an SQS event whose bodies are sync jobs.
func TestSampleEvent(t *testing.T) {
	data, err := os.ReadFile("../../events/syncworker-sqs.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	for _, r := range ev.Records {
		job, err := jobs.Decode(r.Body)
		if err != nil || job.CustomerID == "" || r.MessageId == "" || r.EventSource != "aws:sqs" {
			t.Fatalf("record %+v: job %+v, %v", r, job, err)
		}
	}
}
