package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
)

func TestWithTimeoutFollowsTheClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := clocktest.NewFake(start)
	ctx, cancel := clock.WithTimeout(t.Context(), f, time.Minute)
	defer cancel()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()

	if d, ok := ctx.Deadline(); !ok || !d.Equal(start.Add(time.Minute)) {
		t.Errorf("Deadline() = %v, %v; want the fake clock's now + 1m", d, ok)
	}
	f.BlockUntil(1)
	f.Advance(59 * time.Second)
	select {
	case <-ctx.Done():
		t.Fatal("done before the fake clock reached the deadline")
	default:
	}
	f.Advance(time.Second)
	<-ctx.Done()
	<-child.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("Err() = %v, child %v; want context.DeadlineExceeded for both", ctx.Err(), child.Err())
	}
}

func TestWithTimeoutCancel(t *testing.T) {
	f := clocktest.NewFake(time.Unix(0, 0))
	parent, cancelParent := context.WithCancel(t.Context())
	ctx, cancel := clock.WithTimeout(parent, f, time.Hour)
	defer cancel()
	cancelParent()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() = %v after the parent was cancelled, want context.Canceled", ctx.Err())
	}
	if f.Timers() != 0 {
		t.Errorf("%d fake timers still armed after the context ended", f.Timers())
	}

	ctx, cancel = clock.WithTimeout(t.Context(), f, time.Hour)
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() = %v after cancel, want context.Canceled", ctx.Err())
	}
}

func TestWithTimeoutRealClockIsTheStandardOne(t *testing.T) {
	ctx, cancel := clock.WithTimeout(t.Context(), clock.Real(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err() = %v, want context.DeadlineExceeded", ctx.Err())
	}
}
