package scheduler

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Run schedules the jobs until ctx is done, then stops starting ticks, lets
// in-flight ticks finish (abandoning their pending retries), and returns nil.
// If ticks are still running after Options.StopTimeout, their contexts are
// cancelled and Run returns ErrStopTimeout once they have returned. Run may
// be called again after it returned, as a new leader does: every job is
// planned afresh from then, and RunAtStart jobs run at once. Two Runs at
// once are refused.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.live {
		s.mu.Unlock()
		return errors.New("scheduler: Run called while running")
	}
	s.live = true
	now := s.clk.Now()
	for _, e := range s.jobs {
		if !e.running && !e.removed {
			e.next = s.firstRun(e, now)
		}
	}
	s.mu.Unlock()

	// Ticks must not die the moment a SIGTERM arrives: a PATCH cut in half
	// leaves Power BI with an unknown credential. So they get a context that
	// keeps ctx's values but is cancelled only by stop, at the timeout.
	tickCtx, cancelTicks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTicks()
	stopping := make(chan struct{})
	var inflight sync.WaitGroup

	timer := s.clk.NewTimer(HeartbeatInterval)
	defer timer.Stop()
	for {
		if ctx.Err() != nil { // checked first: a done ctx must not start ticks
			return s.stop(stopping, &inflight, cancelTicks)
		}
		timer.Reset(s.dispatch(tickCtx, stopping, &inflight))
		select {
		case <-ctx.Done():
			return s.stop(stopping, &inflight, cancelTicks)
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// launch is a tick the loop decided to start.
type launch struct {
	name    string
	e       *entry
	job     Job
	start   time.Time
	timeout time.Duration // TickTimeout of this tick
}

// skip is a due tick dropped because the job's previous tick is running.
type skip struct {
	name       string
	runningFor time.Duration
	next       time.Time
}

// dispatch starts every due tick, up to MaxRunning at once, and returns
// how long the loop may sleep. It decides under the lock and logs and
// starts goroutines outside it. A due tick it cannot start yet stays due
// and needs no timer: the end of a running tick wakes the loop.
func (s *Scheduler) dispatch(ctx context.Context, stopping <-chan struct{}, inflight *sync.WaitGroup) time.Duration {
	var launches []launch
	var skips []skip
	var due []dueTick
	s.mu.Lock()
	now := s.clk.Now()
	s.heartbeat = now
	wait := HeartbeatInterval
	if s.admit != nil && !s.admit() {
		// Nothing starts; the caller ends this Run (see Options.Admit).
		s.mu.Unlock()
		return wait
	}
	running := 0
	for name, e := range s.jobs {
		if e.running {
			running++
		}
		if !e.next.IsZero() && !e.next.After(now) {
			if !e.running {
				due = append(due, dueTick{name, e})
				continue
			}
			// Only a reload or a re-add can make a running job due: the
			// tick that is running will plan the real next run when it
			// ends, so plan a provisional one and say we skipped.
			e.next = s.plan(e, now)
			skips = append(skips, skip{name, now.Sub(e.lastStart), e.next})
		}
		if !e.next.IsZero() {
			wait = min(wait, e.next.Sub(now))
		}
	}
	// Longest due first (by name among equals): a job whose tick just
	// ended is due again later than those that waited for its slot.
	slices.SortFunc(due, func(a, b dueTick) int {
		return cmp.Or(a.e.next.Compare(b.e.next), cmp.Compare(a.name, b.name))
	})
	for _, d := range due {
		if s.maxRunning > 0 && running >= s.maxRunning {
			break
		}
		launches = append(launches, s.beginLocked(d.name, d.e, now))
		running++
		wait = min(wait, d.e.next.Sub(now))
	}
	s.mu.Unlock()

	for _, k := range skips {
		s.log.Warn("tick skipped, previous tick still running", "job", k.name, "running_for", k.runningFor, "next", k.next)
	}
	for _, l := range launches {
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			s.runTick(ctx, l, stopping)
		}()
	}
	return wait
}

// dueTick is a job due to start a tick.
type dueTick struct {
	name string
	e    *entry
}

// beginLocked marks e running from now and returns the tick to launch; s.mu
// must be held. The next run it shows meanwhile is provisional: the tick
// replans from its end and result.
func (s *Scheduler) beginLocked(name string, e *entry, now time.Time) launch {
	e.running, e.lastStart = true, now
	e.next = s.plan(e, now)
	return launch{name, e, e.job, now, TickTimeout(e.sched, now, e.job.margin())}
}

// plan is e's next run counted from from; s.mu must be held.
func (s *Scheduler) plan(e *entry, from time.Time) time.Time {
	return NextRun(from, e.sched, e.job.Jitter, e.expiresAt, e.job.margin(), s.rnd)
}

// stop closes stopping so in-flight ticks abandon pending retries, waits
// for them up to the stop timeout, then cancels them and waits again.
func (s *Scheduler) stop(stopping chan struct{}, inflight *sync.WaitGroup, cancelTicks context.CancelFunc) error {
	s.mu.Lock()
	running := 0
	for _, e := range s.jobs {
		if e.running {
			running++
		}
	}
	s.mu.Unlock()
	close(stopping)
	s.log.Info("stopping", "in_flight", running, "stop_timeout", s.stopTimeout)

	done := make(chan struct{})
	go func() {
		inflight.Wait()
		close(done)
	}()
	// Not live until the last tick ended: a Run again before then would
	// start a second tick of a job still running.
	defer func() {
		s.mu.Lock()
		s.live, s.heartbeat = false, time.Time{}
		s.mu.Unlock()
	}()
	timeout := s.clk.NewTimer(s.stopTimeout)
	defer timeout.Stop()
	select {
	case <-done:
		s.log.Info("stopped")
		return nil
	case <-timeout.C():
		s.log.Warn("stop timeout reached, cancelling in-flight ticks", "stop_timeout", s.stopTimeout)
		cancelTicks()
		<-done // a Run func that ignores its context holds us here; that is its bug to fix
		return ErrStopTimeout
	}
}
