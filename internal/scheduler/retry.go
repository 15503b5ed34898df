package scheduler

import (
	"errors"
	"time"

	"github.com/rotatord/rotatord/internal/budget"
)

// The retry of a tick when nothing says otherwise: the inventory's built-in
// defaults (internal/config) are these, and zero backoffs take them here.
const (
	DefaultAttempts       = 5
	DefaultInitialBackoff = 2 * time.Second
	DefaultMaxBackoff     = 2 * time.Minute
)

// Retry says how often one tick may try its job: Attempts tries in all,
// that is Attempts-1 retries, which the scheduler's own attempts and the
// retries of the clients the job calls take from one budget.Budget. Attempts
// below 1 mean a single attempt; zero backoffs take the defaults above.
type Retry struct {
	Attempts       int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// Backoff returns the wait after failed attempt n (1-based): the initial
// backoff doubled per attempt, capped at MaxBackoff, then scaled by
// U[0.5, 1) from rnd, so that replicas failing together do not retry in
// lockstep while the wait still grows.
func (r Retry) Backoff(n int, rnd func() float64) time.Duration {
	initial, ceiling := r.backoffs()
	d := initial
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + time.Duration(rnd()*float64(d/2))
}

// backoffs returns the initial and maximum backoff, defaults applied.
func (r Retry) backoffs() (initial, ceiling time.Duration) {
	initial, ceiling = r.InitialBackoff, r.MaxBackoff
	if initial <= 0 {
		initial = DefaultInitialBackoff
	}
	if ceiling <= 0 {
		ceiling = DefaultMaxBackoff
	}
	return initial, ceiling
}

// budget is one tick's retry budget: Attempts-1 retries in all, attempts
// below 1 meaning a single one.
func (r Retry) budget() *budget.Budget {
	initial, ceiling := r.backoffs()
	return budget.New(max(r.Attempts, 1)-1, initial, ceiling)
}

// Permanent marks err as not worth retrying within this tick (a 400 from
// Power BI, an invalid_grant from Entra). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }
