package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/budget"
	"github.com/rotatord/rotatord/internal/scheduler"
)

// TestTickBudgetIsShared: the retries a job's clients make inside an attempt
// come out of the same budget as the scheduler's own attempts, so a tick
// tries Attempts times in all, never Attempts times per layer.
func TestTickBudgetIsShared(t *testing.T) {
	transient := errors.New("pbi: 503")
	tests := map[string]struct {
		innerRetries int // retries one attempt's client takes, if it can
		wantAttempts int
		wantTries    int // attempts plus inner retries
	}{
		"no inner retries: the scheduler has the budget": {0, 5, 5},
		"one inner retry per attempt":                    {1, 3, 5}, // 2 + 2 + 1
		"the inner layer spends it all":                  {9, 1, 5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, scheduler.Options{})
				attempts, tries := 0, 0
				h.setJobs(scheduler.Job{Name: "b", Schedule: "@every 24h", RunAtStart: true,
					Retry: scheduler.Retry{Attempts: 5, InitialBackoff: time.Second, MaxBackoff: time.Second},
					Run: func(ctx context.Context) (scheduler.Result, error) {
						attempts++
						tries++
						b := budget.FromContext(ctx)
						if b == nil {
							t.Fatal("the tick's context carries no budget")
						}
						for range tc.innerRetries {
							if !b.Take() {
								break
							}
							tries++
						}
						return scheduler.Result{}, transient
					}})
				h.start()
				h.advanceBy(time.Minute, 500*time.Millisecond)
				if attempts != tc.wantAttempts || tries != tc.wantTries {
					t.Errorf("%d attempts, %d tries in all; want %d, %d", attempts, tries, tc.wantAttempts, tc.wantTries)
				}
				if ticks := h.ticks("b"); len(ticks) != 1 || ticks[0].Attempts != tc.wantAttempts || !errors.Is(ticks[0].Err, transient) {
					t.Errorf("reports %+v, want one tick of %d attempts failing with %v", ticks, tc.wantAttempts, transient)
				}
				_ = h.stop()
			})
		})
	}
}

// TestTickDeadline: a tick ends at its TickTimeout on the scheduler's clock
// (here the expiry margin, shorter than the schedule's period): a hung
// attempt sees context.DeadlineExceeded, and no retry starts that could not
// finish before the deadline.
func TestTickDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var starts []time.Duration
		h.setJobs(scheduler.Job{Name: "d", Schedule: "@every 1h", RunAtStart: true, ExpiryMargin: 5 * time.Minute,
			Retry: scheduler.Retry{Attempts: 10, InitialBackoff: 2 * time.Minute, MaxBackoff: 2 * time.Minute},
			Run: func(ctx context.Context) (scheduler.Result, error) {
				starts = append(starts, h.clk.Now().Sub(t0))
				if deadline, ok := ctx.Deadline(); !ok || !deadline.Equal(t0.Add(5*time.Minute)) {
					t.Errorf("attempt deadline = %v, %v; want t0+5m on the scheduler's clock", deadline, ok)
				}
				if len(starts) == 1 {
					return scheduler.Result{}, errors.New("transient")
				}
				<-ctx.Done() // hangs until the tick's deadline
				return scheduler.Result{}, ctx.Err()
			}})
		h.start()
		h.advanceBy(10*time.Minute, 10*time.Second)
		// rand 0 halves the 2m backoff: the second attempt starts at 1m and
		// hangs until 5m; a third would start after the deadline.
		if len(starts) != 2 || starts[1] != time.Minute {
			t.Errorf("attempts started at %v, want [0s 1m0s]", starts)
		}
		ticks := h.ticks("d")
		if len(ticks) != 1 || !errors.Is(ticks[0].Err, context.DeadlineExceeded) || ticks[0].End.Sub(t0) != 5*time.Minute {
			t.Fatalf("reports %+v, want one tick ending at 5m with context.DeadlineExceeded", ticks)
		}
		_ = h.stop()
	})
}

func TestTickTimeout(t *testing.T) {
	start := time.Date(2026, 3, 1, 2, 59, 59, 0, time.UTC)
	for _, tc := range []struct {
		spec   string
		margin time.Duration
		want   time.Duration
	}{
		{"0 3 * * *", 10 * time.Minute, 10 * time.Minute}, // daily: the margin
		{"@every 1m", 10 * time.Minute, time.Minute},      // the period, not the second left before the next fire
		{"*/5 * * * *", 10 * time.Minute, 5 * time.Minute},
		{"@every 45m", 30 * time.Minute, 30 * time.Minute},
	} {
		sched, err := scheduler.ParseSchedule(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := scheduler.TickTimeout(sched, start, tc.margin); got != tc.want {
			t.Errorf("TickTimeout(%q, margin %s) = %s, want %s", tc.spec, tc.margin, got, tc.want)
		}
	}
}
