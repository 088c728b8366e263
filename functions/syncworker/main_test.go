package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
)

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
