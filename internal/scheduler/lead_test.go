package scheduler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/scheduler"
)

// A leader that loses its lease and wins it back runs the same Scheduler
// again: the second Run plans afresh and runs RunAtStart jobs at once.
func TestRunAgainPlansAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		ok := func(context.Context) (scheduler.Result, error) { return scheduler.Result{}, nil }
		h.setJobs(
			scheduler.Job{Name: "oauth", Schedule: "@every 1h", RunAtStart: true, Run: ok},
			scheduler.Job{Name: "daily", Schedule: "@every 24h", Run: ok},
		)
		h.start()
		if err := h.stop(); err != nil {
			t.Fatalf("first Run = %v", err)
		}
		if hb := h.s.Heartbeat(); !hb.IsZero() {
			t.Errorf("Heartbeat after Run = %v, want zero (not running)", hb)
		}
		h.advance(10 * time.Hour) // a follower's while
		h.start()
		if n := len(h.ticks("oauth")); n != 2 {
			t.Errorf("oauth ticked %d times, want 2: once per Run, at its start", n)
		}
		if n := len(h.ticks("daily")); n != 0 {
			t.Errorf("daily ticked %d times, want 0", n)
		}
		if got, want := h.s.Next("daily"), t0.Add(34*time.Hour); !got.Equal(want) {
			t.Errorf("daily next = %v, want %v: 24h from the second Run", got, want)
		}
		if err := h.stop(); err != nil {
			t.Fatalf("second Run = %v", err)
		}
	})
}

func TestRunTwiceAtOnceRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		h.start()
		if err := h.s.Run(context.Background()); err == nil {
			t.Error("a second Run while the first runs returned nil")
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Admit false holds every tick, due ones stay due; true lets them start.
func TestAdmitHoldsTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var admit atomic.Bool
		h := newHarness(t, scheduler.Options{Admit: admit.Load})
		var runs atomic.Int32
		h.setJobs(scheduler.Job{Name: "oauth", Schedule: "@every 1m", RunAtStart: true, Run: func(context.Context) (scheduler.Result, error) {
			runs.Add(1)
			return scheduler.Result{}, nil
		}})
		h.start()
		h.advance(5 * time.Minute)
		if n := runs.Load(); n != 0 {
			t.Fatalf("%d ticks started while Admit said false", n)
		}
		admit.Store(true)
		h.advance(scheduler.HeartbeatInterval) // the loop looks again at its next wake
		if n := runs.Load(); n != 1 {
			t.Errorf("%d ticks after Admit said true, want 1 (the due one, once)", n)
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
	})
}
