package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/scheduler"
)

// TestMaxRunningBoundsTicks: six jobs on "@every 1s" whose ticks take 2s,
// at most two at once. Ticks beyond the bound wait, holding no goroutine,
// and start in due order as slots free, so no job starves: in a minute
// each gets its share of the sixty tick-seconds two slots give.
func TestMaxRunningBoundsTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{MaxRunning: 2})
		var running, peak atomic.Int32
		slow := func(context.Context) (scheduler.Result, error) {
			n := running.Add(1)
			defer running.Add(-1)
			if n > peak.Load() {
				peak.Store(n)
			}
			tm := h.clk.NewTimer(2 * time.Second)
			defer tm.Stop()
			<-tm.C()
			return scheduler.Result{}, nil
		}
		var jobs []scheduler.Job
		for i := range 6 {
			jobs = append(jobs, scheduler.Job{Name: fmt.Sprintf("j%d", i), Schedule: "@every 1s", Run: slow})
		}
		h.setJobs(jobs...)
		h.start()
		h.advance(time.Second) // all six due: two run, four wait
		if n := h.s.Waiting(); n != 4 {
			t.Errorf("%d ticks waiting, want 4", n)
		}
		h.advanceBy(time.Minute, time.Second)
		if p := peak.Load(); p != 2 {
			t.Errorf("peak ticks running = %d, want 2", p)
		}
		// Round robin, two by two: j0 and j1 at 1s, j2 and j3 at 3s (due
		// since 1s), j4 and j5 at 5s, then j0 and j1 (due since 4s) at 7s...
		// 2 slots × 60 s / 2 s per tick / 6 jobs = 10 ticks each.
		for i, j := range jobs {
			var want []time.Duration
			for at := time.Second + time.Duration(i/2)*2*time.Second; at <= time.Minute; at += 6 * time.Second {
				want = append(want, at)
			}
			if got := h.starts(j.Name); !slices.Equal(got, want) {
				t.Errorf("%s started at %v, want %v", j.Name, got, want)
			}
		}
		h.cancel() // two ticks are in flight: Run waits for them
		h.advance(2 * time.Second)
		if err := <-h.done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if n := running.Load(); n != 0 {
			t.Errorf("%d ticks still running after Run returned", n)
		}
	})
}
