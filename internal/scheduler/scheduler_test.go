package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/scheduler"
)

func TestScheduleAndRunAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var oauth, nightly atomic.Int32
		h.setJobs(
			scheduler.Job{Name: "oauth", Schedule: "@every 1h", RunAtStart: true, Run: ok(&oauth)},
			scheduler.Job{Name: "nightly", Schedule: "0 3 * * *", Jitter: 10 * time.Minute, Run: ok(&nightly)},
		)
		h.start()
		if got := oauth.Load(); got != 1 {
			t.Fatalf("RunAtStart job ran %d times at start, want 1", got)
		}
		if got := nightly.Load(); got != 0 {
			t.Fatalf("cron job ran %d times at start, want 0", got)
		}
		h.advanceBy(4*time.Hour, time.Minute)
		if got, want := h.starts("oauth"), []time.Duration{0, time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour}; !slices.Equal(got, want) {
			t.Errorf("oauth started at %v, want %v", got, want)
		}
		if got, want := h.starts("nightly"), []time.Duration{3 * time.Hour}; !slices.Equal(got, want) {
			t.Errorf("nightly started at %v, want %v (rand 0: no jitter)", got, want)
		}
		if got, want := h.state("nightly").Next, t0.Add(27*time.Hour); !got.Equal(want) {
			t.Errorf("nightly Next = %v, want %v", got, want)
		}
		if err := h.stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

func TestJitterDelaysTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{Rand: constRand(0.5)})
		var calls atomic.Int32
		h.setJobs(scheduler.Job{Name: "j", Schedule: "0 * * * *", Jitter: 10 * time.Minute, Run: ok(&calls)})
		h.start()
		h.advanceBy(2*time.Hour+10*time.Minute, time.Minute)
		if got, want := h.starts("j"), []time.Duration{time.Hour + 5*time.Minute, 2*time.Hour + 5*time.Minute}; !slices.Equal(got, want) {
			t.Errorf("started at %v, want %v", got, want)
		}
		_ = h.stop()
	})
}

// TestNoOverlap runs a job that takes 150s on a 1-minute schedule: ticks
// that come due while it runs are skipped (and logged), never run alongside.
func TestNoOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var running, maxRunning atomic.Int32
		slow := func(ctx context.Context) (scheduler.Result, error) {
			n := running.Add(1)
			defer running.Add(-1)
			if n > maxRunning.Load() {
				maxRunning.Store(n)
			}
			tm := h.clk.NewTimer(150 * time.Second)
			defer tm.Stop()
			<-tm.C()
			return scheduler.Result{}, nil
		}
		h.setJobs(scheduler.Job{Name: "slow", Schedule: "@every 1m", RunAtStart: true, Run: slow})
		h.start()
		if err := h.s.RunNow(context.Background(), "slow"); !errors.Is(err, scheduler.ErrTickRunning) {
			t.Errorf("RunNow during a tick = %v, want ErrTickRunning", err)
		}
		// A reload that changes the running job's timing must not start a
		// second tick either; the one in flight replans when it ends.
		h.advance(10 * time.Second)
		h.setJobs(scheduler.Job{Name: "slow", Schedule: "@every 1m", Jitter: time.Second, RunAtStart: true, Run: slow})
		h.advanceBy(10*time.Minute-10*time.Second, 10*time.Second)

		if got := maxRunning.Load(); got != 1 {
			t.Errorf("at most %d ticks ran at once, want 1", got)
		}
		// Each tick takes 150s and the next is planned 60s after it ends.
		if got, want := h.starts("slow"), []time.Duration{0, 210 * time.Second, 420 * time.Second}; !slices.Equal(got, want) {
			t.Errorf("started at %v, want %v", got, want)
		}
		if got := h.logs.Lines("tick skipped, previous tick still running", "job=slow"); len(got) == 0 {
			t.Errorf("no skipped-tick log line; logs:\n%s", h.logs)
		}
		h.cancel() // the tick started at 630s is in flight: Run waits for it
		h.advance(150 * time.Second)
		if err := <-h.done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

func TestFailingJobsDoNotStopOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var good atomic.Int32
		h.setJobs(
			scheduler.Job{Name: "error", Schedule: "@every 1h", RunAtStart: true, Run: func(context.Context) (scheduler.Result, error) {
				return scheduler.Result{}, errors.New("source: key vault said 500")
			}},
			scheduler.Job{Name: "out-of-range", Schedule: "@every 1h", RunAtStart: true, Run: func(context.Context) (scheduler.Result, error) {
				return scheduler.Result{}, errors.New(pick(nil, 1)) // a runtime panic
			}},
			scheduler.Job{Name: "panic-value", Schedule: "@every 1h", RunAtStart: true, Run: func(context.Context) (scheduler.Result, error) {
				panic("hunter2-should-not-leak")
			}},
			scheduler.Job{Name: "good", Schedule: "@every 1h", RunAtStart: true, Run: ok(&good)},
		)
		h.start()
		h.advance(time.Hour)
		if got := good.Load(); got != 2 {
			t.Errorf("good job ran %d times, want 2", got)
		}
		tests := map[string]struct {
			wantErr string // substring of the last error; empty for success
		}{
			"error":        {"key vault said 500"},
			"out-of-range": {`job "out-of-range" panicked: runtime error: index out of range [1] with length 0`},
			"panic-value":  {`job "panic-value" panicked: a string`},
			"good":         {""},
		}
		for name, tc := range tests {
			ticks := h.ticks(name)
			if len(ticks) != 2 {
				t.Errorf("%s: %d ticks, want 2", name, len(ticks))
			}
			for i, r := range ticks {
				switch {
				case tc.wantErr == "" && r.Err != nil:
					t.Errorf("%s: tick %d: %v, want success", name, i+1, r.Err)
				case tc.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.wantErr)):
					t.Errorf("%s: tick %d: error %v, want it to contain %q", name, i+1, r.Err, tc.wantErr)
				}
			}
		}
		if strings.Contains(h.logs.String(), "hunter2") {
			t.Error("a panic value reached the logs")
		}
		if len(h.logs.Lines("job panicked", "job=out-of-range", "stack=")) == 0 {
			t.Errorf("no panic log line with a stack; logs:\n%s", h.logs)
		}
		_ = h.stop()
	})
}

func pick(xs []string, i int) string { return xs[i] }

func TestRetries(t *testing.T) {
	retry := scheduler.Retry{Attempts: 4, InitialBackoff: 2 * time.Second, MaxBackoff: 3 * time.Second}
	transient := errors.New("pbi: 503")
	tests := map[string]struct {
		failures     int   // attempts that fail before one succeeds
		err          error // what a failing attempt returns
		wantAttempts []time.Duration
		wantErr      error
	}{
		// rand 0 halves the backoff: 2s → 1s, then 4s capped to 3s → 1.5s, twice.
		"succeeds on the third attempt": {failures: 2, err: transient, wantAttempts: []time.Duration{0, time.Second, 2500 * time.Millisecond}},
		"gives up after Attempts":       {failures: 99, err: transient, wantAttempts: []time.Duration{0, time.Second, 2500 * time.Millisecond, 4 * time.Second}, wantErr: transient},
		"permanent stops at once":       {failures: 99, err: scheduler.Permanent(transient), wantAttempts: []time.Duration{0}, wantErr: transient},
		"first attempt succeeds":        {failures: 0, wantAttempts: []time.Duration{0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, scheduler.Options{})
				var attempts []time.Duration
				h.setJobs(scheduler.Job{Name: "r", Schedule: "@every 24h", RunAtStart: true, Retry: retry,
					Run: func(context.Context) (scheduler.Result, error) {
						attempts = append(attempts, h.clk.Now().Sub(t0))
						// Every attempt, failed or not, reports its number.
						if len(attempts) <= tc.failures {
							return scheduler.Result{Report: len(attempts)}, tc.err
						}
						return scheduler.Result{Report: len(attempts)}, nil
					}})
				h.start()
				h.advanceBy(10*time.Second, 500*time.Millisecond)
				if !slices.Equal(attempts, tc.wantAttempts) {
					t.Errorf("attempts at %v, want %v", attempts, tc.wantAttempts)
				}
				ticks := h.ticks("r")
				if len(ticks) != 1 {
					t.Fatalf("%d ticks, want 1", len(ticks))
				}
				if got := ticks[0]; got.Attempts != len(tc.wantAttempts) || !errors.Is(got.Err, tc.wantErr) || (tc.wantErr == nil) != (got.Err == nil) {
					t.Errorf("report: attempts %d, err %v; want %d, %v", got.Attempts, got.Err, len(tc.wantAttempts), tc.wantErr)
				}
				var wantReports []any
				for n := range tc.wantAttempts {
					wantReports = append(wantReports, n+1)
				}
				if !slices.Equal(ticks[0].Reports, wantReports) {
					t.Errorf("reports %v, want every attempt's in order: %v", ticks[0].Reports, wantReports)
				}
				if retries := h.logs.Lines("attempt failed", "job=r", "retrying_in=", "elapsed="); len(retries) != len(tc.wantAttempts)-1 {
					t.Errorf("%d retry log lines, want %d", len(retries), len(tc.wantAttempts)-1)
				}
				_ = h.stop()
			})
		})
	}
}

// TestRenewBeforeExpiry is the OAuth2 case: a token valid for an hour on a
// daily schedule must be renewed 10 minutes before it expires.
func TestRenewBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{Rand: constRand(0.9)})
		h.setJobs(scheduler.Job{Name: "lake-oauth", Schedule: "@every 24h", Jitter: 5 * time.Minute, RunAtStart: true,
			Run: func(context.Context) (scheduler.Result, error) {
				return scheduler.Result{ExpiresAt: h.clk.Now().Add(time.Hour)}, nil
			}})
		h.start()
		ticks := h.ticks("lake-oauth")
		if len(ticks) != 1 || !ticks[0].Next.Equal(t0.Add(50*time.Minute)) {
			t.Fatalf("after the first tick: %+v, want one tick with Next = t0+50m", ticks)
		}
		if got := h.state("lake-oauth").ExpiresAt; !got.Equal(t0.Add(time.Hour)) {
			t.Errorf("ExpiresAt = %v, want t0+1h", got)
		}
		h.advanceBy(3*time.Hour, time.Minute)
		if got, want := h.starts("lake-oauth"), []time.Duration{0, 50 * time.Minute, 100 * time.Minute, 150 * time.Minute}; !slices.Equal(got, want) {
			t.Errorf("started at %v, want %v", got, want)
		}
		_ = h.stop()
	})
}

// TestFailedRenewalKeepsExpiry: when a renewal fails, the token already in
// Power BI still expires when it did, so the retry comes before that.
func TestFailedRenewalKeepsExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var calls atomic.Int32
		h.setJobs(scheduler.Job{Name: "o", Schedule: "@every 24h", RunAtStart: true,
			Run: func(context.Context) (scheduler.Result, error) {
				if calls.Add(1) == 1 {
					return scheduler.Result{ExpiresAt: h.clk.Now().Add(time.Hour)}, nil
				}
				return scheduler.Result{}, errors.New("entra: 503")
			}})
		h.start()
		h.advanceBy(70*time.Minute, time.Minute)
		// 0: ok, expires 60m. 50m: fails, expiry kept, 60m−10m is past → floor 1m.
		want := []time.Duration{0, 50 * time.Minute, 51 * time.Minute, 52 * time.Minute}
		if got := h.starts("o"); !slices.Equal(got[:min(len(got), len(want))], want) {
			t.Errorf("started at %v, want it to begin with %v", got, want)
		}
		_ = h.stop()
	})
}

func TestSetJobsReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		var aOld, aNew, b, c, d atomic.Int32
		h.setJobs(
			scheduler.Job{Name: "a", Schedule: "@every 1h", Run: ok(&aOld)},
			scheduler.Job{Name: "b", Schedule: "@every 2h", Run: ok(&b)},
			scheduler.Job{Name: "c", Schedule: "@every 3h", Run: ok(&c)},
		)
		h.start()
		h.advance(30 * time.Minute)

		bad := []scheduler.Job{{Name: "a", Schedule: "@every 1h", Run: ok(&aNew)}, {Name: "x", Schedule: "nope", Run: ok(&d)}}
		if err := h.s.SetJobs(bad); err == nil {
			t.Fatal("SetJobs with a bad spec succeeded")
		}
		if got := len(h.s.Snapshot()); got != 3 {
			t.Fatalf("after a refused reload %d jobs, want the old 3", got)
		}

		h.setJobs(
			scheduler.Job{Name: "a", Schedule: "@every 1h", Run: ok(&aNew)},                 // unchanged timing, new work
			scheduler.Job{Name: "b", Schedule: "@every 4h", Run: ok(&b)},                    // changed: replanned from now
			scheduler.Job{Name: "d", Schedule: "@every 24h", RunAtStart: true, Run: ok(&d)}, // added
		)
		synctest.Wait()
		want := map[string]time.Time{
			"a": t0.Add(time.Hour),
			"b": t0.Add(30*time.Minute + 4*time.Hour),
			"d": t0.Add(30*time.Minute + 24*time.Hour),
		}
		snap := h.s.Snapshot()
		var names []string
		for _, st := range snap {
			names = append(names, st.Name)
			if !st.Next.Equal(want[st.Name]) {
				t.Errorf("%s: Next = %v, want %v", st.Name, st.Next, want[st.Name])
			}
			if got := h.s.Next(st.Name); !got.Equal(st.Next) {
				t.Errorf("Next(%q) = %v, Snapshot says %v", st.Name, got, st.Next)
			}
		}
		if got := h.s.Next("c"); !got.IsZero() { // removed
			t.Errorf("Next of a removed job = %v, want zero", got)
		}
		if !slices.Equal(names, []string{"a", "b", "d"}) {
			t.Errorf("Snapshot names = %v, want [a b d] in order", names)
		}
		if d.Load() != 1 {
			t.Errorf("added RunAtStart job ran %d times, want 1", d.Load())
		}

		h.advanceBy(4*time.Hour-time.Minute, time.Minute) // to t0+4h29m
		if aOld.Load() != 0 || aNew.Load() != 4 {
			t.Errorf("a ran old func %d times, new func %d times; want 0 and 4", aOld.Load(), aNew.Load())
		}
		if c.Load() != 0 {
			t.Errorf("removed job c ran %d times", c.Load())
		}
		if b.Load() != 0 {
			t.Errorf("b ran %d times before its new time", b.Load())
		}
		h.advance(time.Minute)
		if b.Load() != 1 {
			t.Errorf("b ran %d times by its new time, want 1", b.Load())
		}
		_ = h.stop()
	})
}

// TestRemoveRunningJob: a removed job's tick in flight finishes, and
// re-adding the name meanwhile does not start a second one alongside it.
func TestRemoveRunningJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scheduler.Options{})
		release := make(chan struct{})
		var running, maxRunning, finished atomic.Int32
		job := scheduler.Job{Name: "x", Schedule: "@every 1h", RunAtStart: true, Run: func(ctx context.Context) (scheduler.Result, error) {
			if n := running.Add(1); n > maxRunning.Load() {
				maxRunning.Store(n)
			}
			defer running.Add(-1)
			<-release
			finished.Add(1)
			return scheduler.Result{}, ctx.Err()
		}}
		h.setJobs(job)
		h.start()
		h.setJobs()
		if n := len(h.s.Snapshot()); n != 0 {
			t.Errorf("Snapshot has %d jobs after removal, want 0", n)
		}
		h.setJobs(job)
		h.advance(time.Minute)
		close(release)
		synctest.Wait()
		if maxRunning.Load() != 1 {
			t.Errorf("%d ticks of x ran at once, want 1", maxRunning.Load())
		}
		if finished.Load() != 1 {
			t.Errorf("%d ticks finished, want the one in flight", finished.Load())
		}
		if err := h.ticks("x")[0].Err; err != nil {
			t.Errorf("removed job's tick was cancelled: %v", err)
		}
		_ = h.stop()
	})
}

func TestSetJobsValidation(t *testing.T) {
	run := func(context.Context) (scheduler.Result, error) { return scheduler.Result{}, nil }
	tests := map[string]struct {
		jobs []scheduler.Job
		want string // the exact error
	}{
		"bad spec": {
			jobs: []scheduler.Job{{Name: "a", Schedule: "0 3 * *", Run: run}},
			want: `scheduler: refusing job set: jobs[0] "a": schedule "0 3 * *": expected exactly 5 fields, found 4: [0 3 * *]`,
		},
		"seconds field is not accepted": {
			jobs: []scheduler.Job{{Name: "a", Schedule: "0 0 3 * * *", Run: run}},
			want: `scheduler: refusing job set: jobs[0] "a": schedule "0 0 3 * * *": expected exactly 5 fields, found 6: [0 0 3 * * *]`,
		},
		"never fires": {
			jobs: []scheduler.Job{{Name: "a", Schedule: "0 0 30 2 *", Run: run}},
			want: `scheduler: refusing job set: jobs[0] "a": schedule "0 0 30 2 *": never fires: no such date in any year`,
		},
		"every problem at once": {
			jobs: []scheduler.Job{
				{Name: "a", Schedule: "@every 1h", Run: run},
				{Name: "a", Schedule: "@every 1h", Jitter: -1, Run: run},
				{Schedule: "@daily", Retry: scheduler.Retry{InitialBackoff: time.Minute, MaxBackoff: time.Second}},
				{Name: "m", Schedule: "@daily", ExpiryMargin: -time.Second, Retry: scheduler.Retry{Attempts: -1}, Run: run},
			},
			want: `scheduler: refusing job set: jobs[1] "a": name is used by an earlier job
jobs[1] "a": jitter -1ns is negative
jobs[2] "": name is empty
jobs[2] "": Run is nil
jobs[2] "": retry initial backoff 1m0s exceeds max backoff 1s
jobs[3] "m": expiry margin -1s is negative
jobs[3] "m": retry {attempts: -1, initial_backoff: 0s, max_backoff: 0s} has a negative value`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := scheduler.New(scheduler.Options{})
			err := s.SetJobs(tc.jobs)
			if err == nil || err.Error() != tc.want {
				t.Errorf("SetJobs error:\n%v\nwant:\n%s", err, tc.want)
			}
			if len(s.Snapshot()) != 0 {
				t.Error("a refused job set was partly applied")
			}
		})
	}
}
