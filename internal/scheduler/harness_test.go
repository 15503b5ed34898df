package scheduler_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/testutil"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness runs a Scheduler on a fake clock inside a synctest bubble, where
// synctest.Wait means "every goroutine has done all it can at this instant".
type harness struct {
	t    *testing.T
	clk  *clocktest.Fake
	s    *scheduler.Scheduler
	logs *testutil.SyncBuffer

	mu      sync.Mutex
	reports []scheduler.TickReport

	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, o scheduler.Options) *harness {
	h := &harness{t: t, clk: clocktest.NewFake(t0), logs: &testutil.SyncBuffer{}}
	o.Clock = h.clk
	if o.Rand == nil {
		o.Rand = constRand(0)
	}
	o.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.OnTick = func(r scheduler.TickReport) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.reports = append(h.reports, r)
	}
	h.s = scheduler.New(o)
	return h
}

func (h *harness) setJobs(jobs ...scheduler.Job) {
	h.t.Helper()
	if err := h.s.SetJobs(jobs); err != nil {
		h.t.Fatalf("SetJobs: %v", err)
	}
}

// start runs the scheduler and lets it settle.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
	synctest.Wait()
}

// advance moves the fake clock once everything is idle, then lets the
// scheduler and its ticks react.
func (h *harness) advance(d time.Duration) {
	synctest.Wait()
	h.clk.Advance(d)
	synctest.Wait()
}

// advanceBy moves the clock in steps, as time really passes.
func (h *harness) advanceBy(total, step time.Duration) {
	for elapsed := time.Duration(0); elapsed < total; elapsed += step {
		h.advance(step)
	}
}

// stop cancels Run and returns its error; Run must return without the
// clock moving.
func (h *harness) stop() error {
	h.t.Helper()
	h.cancel()
	synctest.Wait()
	select {
	case err := <-h.done:
		return err
	default:
		h.t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (h *harness) ticks(job string) []scheduler.TickReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []scheduler.TickReport
	for _, r := range h.reports {
		if r.Job == job {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) state(job string) scheduler.JobState {
	h.t.Helper()
	for _, st := range h.s.Snapshot() {
		if st.Name == job {
			return st
		}
	}
	h.t.Fatalf("job %q not in Snapshot", job)
	return scheduler.JobState{}
}

// starts returns the offsets from t0 at which job's ticks started.
func (h *harness) starts(job string) []time.Duration {
	var out []time.Duration
	for _, r := range h.ticks(job) {
		out = append(out, r.Start.Sub(t0))
	}
	return out
}

// ok is a Run func that succeeds and counts its calls.
func ok(calls *atomic.Int32) func(context.Context) (scheduler.Result, error) {
	return func(context.Context) (scheduler.Result, error) {
		calls.Add(1)
		return scheduler.Result{}, nil
	}
}
