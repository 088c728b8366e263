package scheduler_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/scheduler"
)

// recorder keeps the runs the scheduler records.
type recorder struct {
	mu   sync.Mutex
	runs []runs.Run
}

func (r *recorder) Record(_ context.Context, run runs.Run) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, run)
	return nil
}

func (r *recorder) take() []runs.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.runs
	r.runs = nil
	return out
}

// TestPassesAreRecordedAsRuns: a pass that enqueues jobs is a run whose id
// its jobs carry and whose count is theirs; a pass that fails is recorded
// with its error; a pass with nothing to do is not recorded.
func TestPassesAreRecordedAsRuns(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHarness(t, options{configure: func(c *scheduler.Config) { c.Runs = rec }})
	h.addSource("s1", "ws1", "italy", true)
	h.tick() // the feed starts at the last offset: nothing enqueued
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("a pass that enqueued nothing was recorded: %+v", got)
	}

	h.change("it-1", "Giulia 2")
	h.change("it-2", "Marco 2")
	h.tick()
	batch := h.drain()
	got := rec.take()
	if len(got) != 1 || got[0].Trigger != runs.Feed || got[0].Read != 2 || got[0].SourceID != "s1" || got[0].Error != "" || got[0].EndedAt.Before(got[0].StartedAt) {
		t.Fatalf("runs %+v, want one feed run of 2 customers", got)
	}
	if ids := customers(t, batch, "s1", jobs.FromFeed); !slices.Equal(ids, []string{"it-1", "it-2"}) {
		t.Fatalf("enqueued %v", ids)
	}
	for _, j := range batch {
		if j.RunID != got[0].ID {
			t.Fatalf("job %+v carries run %q, want %q", j, j.RunID, got[0].ID)
		}
	}

	h.change("it-1", "Giulia 3")
	h.sender.failOnce()
	h.tick()
	if got := rec.take(); len(got) != 1 || got[0].Read != 0 || got[0].Error == "" {
		t.Fatalf("runs of a failing pass %+v, want one with its error", got)
	}
}
