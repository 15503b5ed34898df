package scheduler

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/rotatord/rotatord/internal/budget"
	"github.com/rotatord/rotatord/internal/clock"
)

// RunNow runs the named job's tick in the caller's goroutine, with the
// caller's context, and returns its error. It returns ErrTickRunning rather
// than overlap a tick in flight, and ErrUnknownJob for an unknown name. The
// job's next run is replanned from the end of this tick.
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	s.mu.Lock()
	e, ok := s.jobs[name]
	switch {
	case !ok || e.removed:
		s.mu.Unlock()
		return fmt.Errorf("%w %q", ErrUnknownJob, name)
	case e.running:
		s.mu.Unlock()
		return fmt.Errorf("%w for job %q", ErrTickRunning, name)
	}
	l := s.beginLocked(name, e, s.clk.Now())
	s.mu.Unlock()
	s.poke() // the provisional next may be earlier than the loop's timer
	return s.runTick(ctx, l, nil).Err
}

// runTick runs one tick with its retries, records the outcome, plans the
// next run and reports. A nil stopping never stops retries early.
func (s *Scheduler) runTick(ctx context.Context, l launch, stopping <-chan struct{}) TickReport {
	res, reports, err := s.attempts(ctx, l, stopping)
	end := s.clk.Now()

	s.mu.Lock()
	e := l.e
	e.running = false
	// After a failure the credential set before is still there: keep its expiry.
	if err == nil {
		e.expiresAt = res.ExpiresAt
	}
	if e.removed {
		if s.jobs[l.name] == e {
			delete(s.jobs, l.name)
		}
		e.next = time.Time{}
	} else {
		e.next = s.plan(e, end)
	}
	r := TickReport{Job: l.name, Start: l.start, End: end, Attempts: len(reports), Err: err, Next: e.next, Reports: reports}
	s.mu.Unlock()
	s.poke()

	// Debug only: OnTick logs the outcome (rotatord's one "rotation" line),
	// and a second error line per failure would double every alert on logs.
	s.log.Debug("tick done", "job", r.Job, "attempts", r.Attempts, "elapsed", end.Sub(l.start), "next", r.Next, "failed", err != nil)
	s.onTick(r)
	return r
}

// attempts calls job.Run until it succeeds, fails permanently, the tick's
// retry budget or time runs out, its context ends, or the scheduler stops.
// It returns the last Result and every attempt's Report.
//
// The budget (Retry.Attempts-1 retries) and the deadline (l.timeout) travel
// in the context, so that the Power BI and Key Vault clients' own retries
// within an attempt spend the same budget as the attempts here.
func (s *Scheduler) attempts(ctx context.Context, l launch, stopping <-chan struct{}) (Result, []any, error) {
	job := l.job
	ctx, cancel := clock.WithTimeout(ctx, s.clk, l.timeout)
	defer cancel()
	b := job.Retry.budget()
	ctx = budget.NewContext(ctx, b)
	deadline, _ := ctx.Deadline()
	var reports []any
	for n := 1; ; n++ {
		res, err := s.call(ctx, job)
		reports = append(reports, res.Report)
		if err == nil {
			return res, reports, nil
		}
		if IsPermanent(err) || ctx.Err() != nil {
			return Result{}, reports, err
		}
		wait := job.Retry.Backoff(n, s.rnd)
		// A retry that would start after the deadline cannot finish before
		// it; one the budget has no room for is not made at all.
		if s.clk.Now().Add(wait).After(deadline) || !b.Take() {
			return Result{}, reports, err
		}
		s.log.Warn("attempt failed", "job", job.Name, "attempt", n, "retrying_in", wait, "elapsed", s.clk.Now().Sub(l.start), "error", err)
		if !s.sleep(ctx, wait, stopping) {
			return Result{}, reports, err
		}
	}
}

// sleep waits d on the injected clock and reports whether it did so
// without ctx ending or the scheduler stopping.
func (s *Scheduler) sleep(ctx context.Context, d time.Duration, stopping <-chan struct{}) bool {
	t := s.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	case <-stopping:
		return false
	}
}

// call runs job.Run, turning a panic into an error so that one broken job
// cannot take the daemon, and every other data source, down with it.
func (s *Scheduler) call(ctx context.Context, job Job) (res Result, err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		// The panic value may be anything, including a secret the job was
		// holding, so only a runtime error's own message is repeated; the
		// stack shows where it happened without showing values.
		what := fmt.Sprintf("a %T", v)
		if re, ok := v.(runtime.Error); ok {
			what = re.Error()
		}
		s.log.Error("job panicked", "job", job.Name, "panic", what, "stack", string(debug.Stack()))
		res, err = Result{}, fmt.Errorf("job %q panicked: %s", job.Name, what)
	}()
	return job.Run(ctx)
}
