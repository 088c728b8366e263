package scheduler_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/scheduler"
	"github.com/hubsend/hubsend/internal/testkit"
	"github.com/hubsend/hubsend/internal/ticks"
)

// fanOut returns a scheduler of the harness that dispatches to its tick
// queue.
func (h *harness) fanOut() *scheduler.Scheduler {
	h.t.Helper()
	cfg := h.config
	cfg.Ticks = ticks.NewQueue(testkit.Emulators(h.t).SQS(), h.tickURL).WithRetry(retry.Policy{Attempts: 2, Sleep: instant})
	return newScheduler(h.t, cfg)
}

// receiveTicks receives and deletes every tick in the tick queue. A FIFO
// queue delivers a source's next tick only once the one before is deleted.
func (h *harness) receiveTicks() []ticks.Tick {
	h.t.Helper()
	var out []ticks.Tick
	for {
		res, err := testkit.Emulators(h.t).SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(h.tickURL), MaxNumberOfMessages: 10})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			tick, err := ticks.Decode(aws.ToString(m.Body))
			if err != nil {
				h.t.Fatal(err)
			}
			out = append(out, tick)
			if _, err := testkit.Emulators(h.t).SQS().DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(h.tickURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				h.t.Fatal(err)
			}
		}
	}
}

func TestDispatchSendsOneTickPerEnabledSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.addSource("s2", "ws1", "uk", true)
	h.addSource("off", "ws1", "europe", false)
	s := h.fanOut()
	at := h.clock.Now()
	n, err := s.Dispatch(context.Background(), at)
	if err != nil || n != 2 {
		t.Fatalf("Dispatch = %d, %v; want 2 ticks", n, err)
	}
	// The same scheduled tick delivered again sends nothing new.
	if _, err := s.Dispatch(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tick := range h.receiveTicks() {
		if !tick.At.Equal(at) {
			t.Errorf("tick %+v, want it stamped %v", tick, at)
		}
		got = append(got, tick.SourceID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("ticks for %v, want one each for s1 and s2", got)
	}
	if len(h.drain()) != 0 {
		t.Error("dispatching enqueued sync jobs itself")
	}
	if _, err := h.sched.Dispatch(context.Background(), at); err == nil {
		t.Error("a scheduler without a tick queue dispatched")
	}
}

// TestRunSourceWorksOneSourceAndSkipsCoveredTicks: a tick runs its source
// as a tick of every source would; a tick that waited behind a run which
// read the feed after it was sent is covered and costs no Contacthub read.
func TestRunSourceWorksOneSourceAndSkipsCoveredTicks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.addSource("s1", "ws1", "italy", true)
	h.addSource("s2", "ws1", "uk", true)
	s := h.fanOut()
	ctx := context.Background()
	first := h.clock.Now()
	if rep := s.RunSource(ctx, ticks.Tick{SourceID: "s1", At: first}); rep.Outcome != scheduler.Worked {
		t.Fatalf("first tick of s1: %+v", rep)
	}
	if _, found, _ := h.checkpoints.Feed(ctx, "s2"); found {
		t.Fatal("s1's tick worked on s2")
	}
	h.clock.Advance(time.Minute)
	id := h.create("italy", "nuovo@example.it")
	late := h.clock.Now()
	h.clock.Advance(time.Second)
	rep := s.RunSource(ctx, ticks.Tick{SourceID: "s1", At: late})
	if rep.Outcome != scheduler.Worked || rep.FeedEnqueued != 1 {
		t.Fatalf("tick after a change: %+v, want one feed job", rep)
	}
	if got := customers(t, h.drain(), "s1", jobs.FromFeed); !slices.Equal(got, []string{id}) {
		t.Fatalf("enqueued %v, want %s", got, id)
	}
	// A tick sent before that run read the feed queued up behind it.
	reads := h.hub.Calls().Counts()["updates.get"]
	if rep := s.RunSource(ctx, ticks.Tick{SourceID: "s1", At: late}); rep.Outcome != scheduler.Covered {
		t.Fatalf("a covered tick: %+v, want covered", rep)
	}
	if n := h.hub.Calls().Counts()["updates.get"] - reads; n != 0 {
		t.Fatalf("a covered tick read the feed %d times", n)
	}
	if rep := s.RunSource(ctx, ticks.Tick{SourceID: "gone", At: late}); rep.Outcome != scheduler.Skipped {
		t.Fatalf("a deleted source's tick: %+v, want skipped", rep)
	}
}
