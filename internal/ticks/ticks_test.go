package ticks_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/localaws/emulators"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/ticks"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // part of the error; "" for none
	}{
		{"tick", `{"sourceId":"s1","at":"2026-11-27T09:32:00Z"}`, ""},
		{"no source", `{"at":"2026-11-27T09:32:00Z"}`, "sourceId is required"},
		{"blank source", `{"sourceId":" ","at":"2026-11-27T09:32:00Z"}`, "sourceId is required"},
		{"no time", `{"sourceId":"s1"}`, "at is required"},
		{"long source", `{"sourceId":"` + strings.Repeat("s", 129) + `","at":"2026-11-27T09:32:00Z"}`, "longer than 128"},
		{"a member of a later release", `{"sourceId":"s1","at":"2026-11-27T09:32:00Z","pass":"p1"}`, ""},
		{"a sync job", `{"sourceId":"s1","customerId":"c1","reason":"webhook"}`, "at is required"},
		{"not JSON", `tick`, "decode tick"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tick, err := ticks.Decode(tt.body)
			if tt.want == "" {
				if err != nil || tick.SourceID != "s1" || !tick.At.Equal(time.Date(2026, 11, 27, 9, 32, 0, 0, time.UTC)) {
					t.Fatalf("Decode = %+v, %v", tick, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestDeduplicationID(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 32, 0, 0, time.UTC)
	a := ticks.Tick{SourceID: "s1", At: at}
	if a.DeduplicationID() != (ticks.Tick{SourceID: "s1", At: at.In(time.FixedZone("CET", 3600))}).DeduplicationID() {
		t.Error("the same instant in another zone has another deduplication id")
	}
	for _, other := range []ticks.Tick{{SourceID: "s2", At: at}, {SourceID: "s1", At: at.Add(time.Second)}} {
		if a.DeduplicationID() == other.DeduplicationID() {
			t.Errorf("%+v and %+v share a deduplication id", a, other)
		}
	}
	if id := (ticks.Tick{SourceID: strings.Repeat("s", 128), At: at}).DeduplicationID(); len(id) > 128 {
		t.Errorf("deduplication id of %d characters, SQS allows 128", len(id))
	}
}

// TestSendFansOutOnceBySource sends 25 sources' ticks (three batches) to
// the template's tick queue, twice: SQS keeps one of each.
func TestSendFansOutOnceBySource(t *testing.T) {
	stack := emulators.StartT(t)
	url := emulators.NewQueuesT(t, stack).TickURL
	q := ticks.NewQueue(stack.SQS(), url).WithRetry(retry.Policy{Attempts: 2, Sleep: func(context.Context, time.Duration) error { return nil }})
	at := time.Now().UTC()
	var batch []ticks.Tick
	for i := range 25 {
		batch = append(batch, ticks.Tick{SourceID: fmt.Sprintf("s%02d", i), At: at})
	}
	for range 2 {
		if err := q.Send(t.Context(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for {
		out, err := stack.SQS().ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			tick, err := ticks.Decode(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			if m.Attributes["MessageGroupId"] != tick.SourceID || !tick.At.Equal(at) {
				t.Errorf("message group %q for tick %+v, want the source's", m.Attributes["MessageGroupId"], tick)
			}
			got = append(got, tick.SourceID)
		}
	}
	slices.Sort(got)
	want := make([]string, 0, len(batch))
	for _, tick := range batch {
		want = append(want, tick.SourceID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("queue held %v, want each source once: %v", got, want)
	}
	if err := q.Send(t.Context(), ticks.Tick{SourceID: "s1"}); err == nil {
		t.Error("a tick without a time was sent")
	}
}
