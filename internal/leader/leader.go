package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rotatord/rotatord/internal/clock"
)

// ErrLost is a renewal's error when the lease is no longer this process's.
var ErrLost = errors.New("the lease is no longer ours")

// HeldError is Acquire's error while another process holds the lease.
type HeldError struct {
	Holder string // from the blob's metadata; "" if unknown
}

func (e *HeldError) Error() string {
	if e.Holder == "" {
		return "the lease is held by another process"
	}
	return "the lease is held by " + e.Holder
}

// Lock is a lease that one process at a time holds for a duration.
// BlobLock is the one rotatord uses.
type Lock interface {
	Acquire(ctx context.Context) error // *HeldError while another holds it
	Renew(ctx context.Context) error   // ErrLost (wrapped) when it is not ours
	Release(ctx context.Context) error
}

// Options configure an Elector.
type Options struct {
	Lock     Lock
	Duration time.Duration // the lease's
	Identity string        // this process, for the log lines
	Clock    clock.Clock   // nil: the real one
	Rand     func() float64
	Logger   *slog.Logger
	// OnChange is called with true when this process starts leading and
	// false when its term ends for new work (Term.Context is done), before
	// the work in flight has ended.
	OnChange func(leading bool)
}

// Elector campaigns for the lease and runs a term each time it wins.
type Elector struct {
	o Options
}

// New returns an Elector; it starts nothing.
func New(o Options) *Elector {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("component", "leader", "identity", o.Identity)
	if o.OnChange == nil {
		o.OnChange = func(bool) {}
	}
	return &Elector{o: o}
}

// RenewEvery is how often a leader renews a lease of duration d.
func RenewEvery(d time.Duration) time.Duration { return d / 3 }

// RetryEvery is how often a follower tries to acquire a lease of duration
// d, before jitter: after a leader's release, a follower leads within it.
func RetryEvery(d time.Duration) time.Duration { return d / 15 }

// margin is how much sooner than the lease a term ends.
func margin(d time.Duration) time.Duration { return d / 10 }

// Run campaigns until ctx is done. Each time it wins the lease it calls
// lead with the Term and, once lead has returned (its work ended), releases
// the lease if it is still held and campaigns again after a retry interval.
// It returns nil when ctx is done and any term has ended.
func (e *Elector) Run(ctx context.Context, lead func(*Term)) error {
	var holder string
	var lastErr string
	for ctx.Err() == nil {
		start := e.o.Clock.Now()
		actx, cancel := clock.WithTimeout(ctx, e.o.Clock, e.o.Duration-margin(e.o.Duration))
		err := e.o.Lock.Acquire(actx)
		cancel()
		var held *HeldError
		switch {
		case err == nil && e.o.Clock.Now().Before(start.Add(e.o.Duration-margin(e.o.Duration))):
			holder, lastErr = e.o.Identity, ""
			// Then a retry interval, as after a lost campaign: a term that
			// ends at once (its state unreadable) must not make a hot loop
			// of acquire, read, release.
			e.term(ctx, start, lead)
		case err == nil:
			lastErr = "acquired too late to use: the lease may end before the term could start"
			e.o.Logger.Warn("lease acquired too late; not leading", "took", e.o.Clock.Now().Sub(start))
		case errors.As(err, &held):
			if held.Holder != holder {
				holder = held.Holder
				e.o.Logger.Info("following", "leader", orUnknown(holder))
			}
			lastErr = ""
		case ctx.Err() != nil:
			return nil
		default:
			// Logged when the reason changes, not at every retry: an
			// outage of the storage account would flood the log.
			if err.Error() != lastErr {
				lastErr = err.Error()
				e.o.Logger.Error("cannot campaign for the lease; retrying", "error", lastErr, "every", RetryEvery(e.o.Duration))
			}
		}
		t := e.o.Clock.NewTimer(jitter(RetryEvery(e.o.Duration), e.o.Rand()))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C():
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown (no holder in the blob's metadata)"
	}
	return s
}

// jitter spreads d over ±20%, with r in [0, 1).
func jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*r))
}

// term runs one term from a lease acquired by a request sent at start.
func (e *Elector) term(ctx context.Context, start time.Time, lead func(*Term)) {
	t := newTerm(ctx, e.o.Clock, start.Add(e.o.Duration-margin(e.o.Duration)))
	e.o.OnChange(true)
	// Not leading from the moment no tick may start, though the work in
	// flight and the last state write may take a while yet.
	off := make(chan struct{})
	context.AfterFunc(t.ctx, func() {
		e.o.OnChange(false)
		close(off)
	})
	e.o.Logger.Info("leading", "leader", e.o.Identity, "lease_duration", e.o.Duration)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		e.renew(t, start)
	}()
	lead(t)
	left := t.left() // before finish: a term whose work ended is over, not its lease
	t.finish(errors.New("the term's work ended"))
	<-renewed
	<-off
	e.o.Logger.Info("stepped down", "leader", e.o.Identity, "why", context.Cause(t.ctx).Error())
	if left > 0 {
		// Given up at once, so a stand-by need not wait for the lease to
		// run out. Not after it could have passed to another: the release
		// would be refused anyway, and is not worth the wait.
		rctx, cancel := clock.WithTimeout(context.WithoutCancel(ctx), e.o.Clock, left)
		if err := e.o.Lock.Release(rctx); err != nil {
			e.o.Logger.Warn("lease not released; a stand-by takes over when it expires", "error", err.Error())
		}
		cancel()
	}
}

// renew renews the lease every RenewEvery until the term ends or a
// renewal fails or comes back too late, which ends the term for new work.
func (e *Elector) renew(t *Term, last time.Time) {
	for {
		wait := last.Add(RenewEvery(e.o.Duration)).Sub(e.o.Clock.Now())
		timer := e.o.Clock.NewTimer(wait)
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		}
		start := e.o.Clock.Now()
		rctx, cancel := clock.WithTimeout(t.work, e.o.Clock, t.until().Sub(start))
		err := e.o.Lock.Renew(rctx)
		cancel()
		switch {
		case t.ctx.Err() != nil:
			return
		case err != nil:
			t.stop(fmt.Errorf("renewal failed: %w", err))
			e.o.Logger.Warn("lease renewal failed: no new rotations; those in flight may finish while the lease lasts", "error", err.Error(), "lease_left", t.left())
			return
		case !e.o.Clock.Now().Before(t.until()):
			t.stop(errors.New("renewal came back after the term's end"))
			e.o.Logger.Warn("lease renewal came back too late: no new rotations", "took", e.o.Clock.Now().Sub(start))
			return
		}
		t.extend(start.Add(e.o.Duration - margin(e.o.Duration)))
		last = start
	}
}

// Term is one stretch of leadership.
type Term struct {
	clk  clock.Clock
	ctx  context.Context // done: start nothing new
	stop context.CancelCauseFunc
	work context.Context // done: the lease may be another's; cancel what is in flight
	end  context.CancelCauseFunc

	mu     sync.Mutex
	valid  time.Time // the term's end by this process's clock
	expiry clock.Timer
	done   chan struct{} // closed when the expiry goroutine has returned
}

func newTerm(parent context.Context, clk clock.Clock, until time.Time) *Term {
	t := &Term{clk: clk, valid: until, done: make(chan struct{})}
	t.work, t.end = context.WithCancelCause(context.WithoutCancel(parent))
	t.ctx, t.stop = context.WithCancelCause(t.work)
	stopParent := context.AfterFunc(parent, func() { t.stop(errors.New("rotatord is stopping")) })
	t.expiry = clk.NewTimer(until.Sub(clk.Now()))
	go func() {
		defer close(t.done)
		defer stopParent()
		select {
		case <-t.expiry.C():
			t.end(errors.New("the lease ran out before it was renewed"))
		case <-t.work.Done():
			t.expiry.Stop()
		}
	}()
	return t
}

// Context is done as soon as no new work may start: a renewal failed, the
// lease ran out, or rotatord is stopping.
func (t *Term) Context() context.Context { return t.ctx }

// Work is done when the lease may have passed to another process: work
// still in flight then must be cancelled. It outlives Context while the
// lease lasts, so that in-flight work can finish.
func (t *Term) Work() context.Context { return t.work }

// Valid reports whether new work may start: Context is not done and the
// lease is held by this process's clock, which keeps counting while the
// process is paused, so a resumed process says false at once.
func (t *Term) Valid() bool {
	return t.ctx.Err() == nil && t.clk.Now().Before(t.until())
}

// Stop ends the term for new work, as a failed renewal does: the process
// found that another leads (its state write was refused).
func (t *Term) Stop(cause error) { t.stop(cause) }

func (t *Term) until() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.valid
}

// left is what remains of the term; negative once it is over.
func (t *Term) left() time.Duration { return t.until().Sub(t.clk.Now()) }

func (t *Term) extend(until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.valid = until
	t.expiry.Reset(until.Sub(t.clk.Now()))
}

// finish ends the term and waits for its expiry goroutine.
func (t *Term) finish(cause error) {
	t.end(cause)
	<-t.done
}
