package scheduler

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rotatord/rotatord/internal/clock"
)

// DefaultStopTimeout bounds how long Run waits for in-flight ticks after its
// context is cancelled before cancelling theirs.
const DefaultStopTimeout = 30 * time.Second

// HeartbeatInterval is the longest the loop sleeps between heartbeats, even
// when no job is due for a day, so /healthz can tell a wedged loop (no
// heartbeat for several intervals) from an idle one.
const HeartbeatInterval = time.Minute

// ErrStopTimeout is returned by Run when in-flight ticks outlived
// Options.StopTimeout and had their contexts cancelled.
var ErrStopTimeout = errors.New("scheduler: in-flight ticks cancelled at stop timeout")

// ErrTickRunning is returned by RunNow when the job is already running.
var ErrTickRunning = errors.New("scheduler: tick already running")

// ErrUnknownJob is returned by RunNow for a name that is not scheduled.
var ErrUnknownJob = errors.New("scheduler: unknown job")

// Options configure a Scheduler; every field is optional.
type Options struct {
	// Clock tells the time and makes timers; nil means clock.Real().
	Clock clock.Clock
	// Rand returns values in [0, 1) for jitter and backoff; nil means
	// math/rand/v2's Float64.
	Rand func() float64
	// Logger receives a warning per failed attempt that will be retried and
	// a debug line per tick; nil discards.
	Logger *slog.Logger
	// OnTick is called after every tick, possibly from several goroutines
	// at once; metrics, the state file and the one log line per outcome
	// hang off it.
	OnTick func(TickReport)
	// StopTimeout bounds the wait for in-flight ticks once Run's context is
	// done; zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// MaxRunning bounds the ticks Run starts at once; zero means no bound.
	// RunNow's ticks count towards it but are never held back: their
	// caller (Once) bounds them itself. A tick due beyond it stays due, holding no
	// goroutine, and starts when a tick ends, the longest due first, so
	// that a storm of due ticks costs a slot each, not a goroutine each,
	// and no job starves.
	MaxRunning int
	// Admit, when set, is asked before any tick starts; while it says
	// false no tick starts and the due ones stay due. A leader whose lease
	// may have passed to another process says false at once, before the
	// cancellation of Run's context has reached the loop.
	Admit func() bool
}

// TickReport describes one finished tick.
type TickReport struct {
	Job        string
	Start, End time.Time
	Attempts   int
	Err        error     // the last attempt's error; nil on success
	Next       time.Time // when the job runs next; zero if it was removed
	Reports    []any     // each attempt's Result.Report, in order; nil for an attempt that panicked
}

// Scheduler runs Jobs on their schedules. Make one with New.
type Scheduler struct {
	clk         clock.Clock
	rnd         func() float64
	log         *slog.Logger
	onTick      func(TickReport)
	stopTimeout time.Duration
	maxRunning  int           // 0: no bound
	admit       func() bool   // nil: every tick may start
	wake        chan struct{} // capacity 1: "the plan changed, look again"

	mu        sync.Mutex
	jobs      map[string]*entry
	live      bool // Run is running, so SetJobs plans against now
	heartbeat time.Time
}

// entry is the mutable record of one job, guarded by Scheduler.mu.
type entry struct {
	job       Job
	sched     cron.Schedule
	next      time.Time
	running   bool
	removed   bool
	lastStart time.Time
	expiresAt time.Time // from the last successful Result
}

// New returns a Scheduler with no jobs. It starts no goroutine; Run does.
func New(o Options) *Scheduler {
	s := &Scheduler{
		clk:         o.Clock,
		rnd:         o.Rand,
		log:         o.Logger,
		onTick:      o.OnTick,
		stopTimeout: o.StopTimeout,
		maxRunning:  max(o.MaxRunning, 0),
		admit:       o.Admit,
		wake:        make(chan struct{}, 1),
		jobs:        map[string]*entry{},
	}
	if s.clk == nil {
		s.clk = clock.Real()
	}
	if s.rnd == nil {
		s.rnd = rand.Float64 // the one place randomness is chosen; tests inject theirs
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "scheduler")
	if s.onTick == nil {
		s.onTick = func(TickReport) {}
	}
	if s.stopTimeout <= 0 {
		s.stopTimeout = DefaultStopTimeout
	}
	return s
}

// SetJobs replaces the job set, for the first load and for every reload.
// Every job is validated first; on any error nothing changes and the error
// lists every problem. A job whose Name and timing fields (Schedule, Jitter,
// Retry, RunAtStart, ExpiryMargin) are unchanged keeps its planned next run
// and its history, and takes the new Run function, so a reload that only
// changes what a rotation does never shifts when it happens. A changed job
// is replanned from now. A removed job runs no more ticks; one in flight
// finishes. A new job is planned from now, or runs at once if RunAtStart.
func (s *Scheduler) SetJobs(jobs []Job) error {
	scheds, err := validate(jobs)
	if err != nil {
		return fmt.Errorf("scheduler: refusing job set: %w", err)
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]bool, len(jobs))
	for i, j := range jobs {
		keep[j.Name] = true
		e, ok := s.jobs[j.Name]
		switch {
		case !ok || e.removed:
			// A removed job still finishing its tick keeps its entry, so a
			// quick re-add cannot start a second, overlapping tick.
			if !ok {
				e = &entry{}
				s.jobs[j.Name] = e
			}
			e.removed, e.job, e.sched = false, j, scheds[i]
			if s.live {
				e.next = s.firstRun(e, now)
			}
		case e.job.timing() != j.timing():
			e.job, e.sched = j, scheds[i]
			if s.live && !e.running { // a running tick replans when it ends
				e.next = s.plan(e, now)
			}
		default:
			e.job = j
		}
	}
	for name, e := range s.jobs {
		if keep[name] {
			continue
		}
		if e.running {
			e.removed, e.next = true, time.Time{}
		} else {
			delete(s.jobs, name)
		}
	}
	s.poke()
	return nil
}

// firstRun plans a job's first tick; s.mu must be held.
func (s *Scheduler) firstRun(e *entry, now time.Time) time.Time {
	if e.job.RunAtStart {
		return now
	}
	return s.plan(e, now)
}

// poke wakes the loop without blocking; one pending wake is enough because
// the loop re-reads the whole plan each time.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns when job name runs next; zero if it is unknown, removed or
// not planned yet. Metrics ask it per data source at every scrape.
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.jobs[name]; ok && !e.removed {
		return e.next
	}
	return time.Time{}
}

// Heartbeat returns when the loop last woke; it advances at least every
// HeartbeatInterval while Run is running, and is zero when Run is not
// (before, between and after Runs).
func (s *Scheduler) Heartbeat() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heartbeat
}
