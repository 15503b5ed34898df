package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/scheduler"
)

func TestGracefulStopWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		release := make(chan struct{})
		var ctxErrAtEnd atomic.Value
		h.setJobs(scheduler.Job{Name: "patch", Schedule: "@every 1h", RunAtStart: true, Run: func(ctx context.Context) (scheduler.Result, error) {
			<-release
			ctxErrAtEnd.Store(fmt.Sprint(ctx.Err()))
			return scheduler.Result{}, nil
		}})
		h.start()
		h.cancel()
		h.advance(29 * time.Second) // still inside the default 30s StopTimeout
		select {
		case err := <-h.done:
			t.Fatalf("Run returned %v with a tick in flight", err)
		default:
		}
		close(release)
		synctest.Wait()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		default:
			t.Fatal("Run did not return after the in-flight tick finished")
		}
		if got := ctxErrAtEnd.Load(); got != "<nil>" {
			t.Errorf("in-flight tick's ctx.Err() = %v, want <nil> before the stop timeout", got)
		}
		if n := len(h.ticks("patch")); n != 1 {
			t.Errorf("%d ticks reported, want 1", n)
		}
	})
}

func TestStopTimeoutCancelsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{StopTimeout: 5 * time.Second})
		h.setJobs(scheduler.Job{Name: "stuck", Schedule: "@every 1h", RunAtStart: true, Run: func(ctx context.Context) (scheduler.Result, error) {
			<-ctx.Done()
			return scheduler.Result{}, ctx.Err()
		}})
		h.start()
		h.cancel()
		h.advance(4 * time.Second)
		if len(h.done) != 0 {
			t.Fatal("Run returned before the stop timeout")
		}
		h.advance(time.Second)
		if err := <-h.done; !errors.Is(err, scheduler.ErrStopTimeout) {
			t.Errorf("Run = %v, want ErrStopTimeout", err)
		}
		if r := h.ticks("stuck"); len(r) != 1 || !errors.Is(r[0].Err, context.Canceled) {
			t.Errorf("reports %+v, want one with context.Canceled", r)
		}
	})
}

// TestStopAbandonsRetries: a tick waiting out a backoff does not hold up
// shutdown for it.
func TestStopAbandonsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		h.setJobs(scheduler.Job{Name: "flaky", Schedule: "@every 1h", RunAtStart: true,
			Retry: scheduler.Retry{Attempts: 5, InitialBackoff: 10 * time.Minute, MaxBackoff: 10 * time.Minute},
			Run:   func(context.Context) (scheduler.Result, error) { return scheduler.Result{}, errors.New("pbi: 429") }})
		h.start()
		if err := h.stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if r := h.ticks("flaky"); len(r) != 1 || r[0].Attempts != 1 {
			t.Errorf("reports %+v, want one tick of 1 attempt", r)
		}
	})
}

func TestHeartbeatWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var calls atomic.Int32
		h.setJobs(scheduler.Job{Name: "daily", Schedule: "@every 24h", Run: ok(&calls)})
		if !h.s.Heartbeat().IsZero() {
			t.Error("Heartbeat before Run is not zero")
		}
		h.start()
		h.advanceBy(10*time.Minute, scheduler.HeartbeatInterval)
		if got, want := h.s.Heartbeat(), t0.Add(10*time.Minute); !got.Equal(want) {
			t.Errorf("Heartbeat = %v, want %v", got, want)
		}
		_ = h.stop()
	})
}

func TestRunNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var calls atomic.Int32
		h.setJobs(scheduler.Job{Name: "j", Schedule: "@every 24h", Run: ok(&calls)})
		h.start()
		h.advance(time.Hour)
		if err := h.s.RunNow(context.Background(), "j"); err != nil {
			t.Fatalf("RunNow = %v", err)
		}
		if calls.Load() != 1 {
			t.Errorf("job ran %d times, want 1", calls.Load())
		}
		if got, want := h.state("j").Next, t0.Add(25*time.Hour); !got.Equal(want) {
			t.Errorf("Next after RunNow = %v, want %v", got, want)
		}
		if err := h.s.RunNow(context.Background(), "nope"); !errors.Is(err, scheduler.ErrUnknownJob) {
			t.Errorf("RunNow(unknown) = %v, want ErrUnknownJob", err)
		}
		if err := h.s.Run(context.Background()); err == nil {
			t.Error("a second Run succeeded")
		}
		_ = h.stop()
	})
}

func TestRunWithDoneContextStartsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var calls atomic.Int32
		h.setJobs(scheduler.Job{Name: "j", Schedule: "@every 1h", RunAtStart: true, Run: ok(&calls)})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := h.s.Run(ctx); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if calls.Load() != 0 {
			t.Errorf("job ran %d times with a done context", calls.Load())
		}
	})
}
