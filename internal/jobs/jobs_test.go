package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/testkit"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"customer job", `{"sourceId":"s1","customerId":"c1","reason":"feed","enqueuedAt":"2026-11-27T10:00:00Z"}`, true},
		{"subscriber job", `{"sourceId":"s1","subscriberId":2147483648,"reason":"reconcile"}`, true},
		{"job sent again", `{"sourceId":"s1","customerId":"c1","reason":"webhook","receives":7}`, true},
		{"negative receives", `{"sourceId":"s1","customerId":"c1","receives":-1}`, false},
		{"no source", `{"customerId":"c1"}`, false},
		{"no customer or subscriber", `{"sourceId":"s1"}`, false},
		{"not JSON", `hello`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jobs.Decode(tt.body)
			if (err == nil) != tt.ok {
				t.Fatalf("Decode(%s) = %v", tt.body, err)
			}
		})
	}
	if _, err := (jobs.Job{SourceID: "s1"}).Encode(); err == nil {
		t.Error("Encode accepted a job without customer or subscriber")
	}
}

func TestSendEveryJob(t *testing.T) {
	stack := testkit.Emulators(t)
	queues := testkit.Queues(t)
	q := jobs.NewQueue(stack.SQS(), queues.SyncURL)
	var sent []jobs.Job
	for i := range 25 {
		sent = append(sent, jobs.Job{SourceID: "s1", CustomerID: string(rune('a' + i)), Reason: jobs.FromFeed})
	}
	if err := q.Send(t.Context(), sent...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < len(sent) && time.Now().Before(deadline) {
		out, err := stack.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queues.SyncURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			j, err := jobs.Decode(*m.Body)
			if err != nil {
				t.Fatal(err)
			}
			if j.EnqueuedAt.IsZero() {
				t.Errorf("job %s has no enqueue time", j.CustomerID)
			}
			seen[j.CustomerID] = true
		}
	}
	if len(seen) != len(sent) {
		t.Fatalf("received %d distinct jobs, sent %d", len(seen), len(sent))
	}
}

func TestEventTimeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 31, 11, 482e6, time.UTC)
	body, err := jobs.Job{SourceID: "s", SubscriberID: 7, Reason: jobs.FromSendWebhook, EventAt: at}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	j, err := jobs.Decode(body)
	if err != nil || !j.EventAt.Equal(at) {
		t.Fatalf("decoded %+v, %v: event time lost from %s", j, err, body)
	}
	body, err = jobs.Job{SourceID: "s", CustomerID: "c", Reason: jobs.FromFeed}.Encode()
	if err != nil || strings.Contains(body, "eventAt") {
		t.Fatalf("a job without an event time encodes one: %s, %v", body, err)
	}
}
