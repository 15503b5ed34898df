package leader

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/testutil"
)

const d = 15 * time.Second

// service is a lease as the storage service keeps it, on the bubble's clock.
type service struct {
	mu      sync.Mutex
	holder  string
	expires time.Time
	down    bool                     // every call fails
	stall   map[string]chan struct{} // by candidate: its calls wait on it (a slow link)
	grants  []grant                  // who was granted the lease, when
}

type grant struct {
	who  string
	from time.Time
}

type fakeLock struct {
	s  *service
	id string
}

func (l fakeLock) call(ctx context.Context, f func(now time.Time) error) error {
	l.s.mu.Lock()
	stall, down := l.s.stall[l.id], l.s.down
	l.s.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errors.New("connection refused")
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return f(time.Now())
}

func (l fakeLock) Acquire(ctx context.Context) error {
	return l.call(ctx, func(now time.Time) error {
		if l.s.holder != "" && l.s.holder != l.id && now.Before(l.s.expires) {
			return &HeldError{Holder: l.s.holder}
		}
		if l.s.holder != l.id || !now.Before(l.s.expires) {
			l.s.grants = append(l.s.grants, grant{l.id, now})
		}
		l.s.holder, l.s.expires = l.id, now.Add(d)
		return nil
	})
}

func (l fakeLock) Renew(ctx context.Context) error {
	return l.call(ctx, func(now time.Time) error {
		if l.s.holder != l.id || !now.Before(l.s.expires) {
			return ErrLost
		}
		l.s.expires = now.Add(d)
		return nil
	})
}

func (l fakeLock) Release(ctx context.Context) error {
	return l.call(ctx, func(now time.Time) error {
		if l.s.holder == l.id {
			l.s.holder = ""
		}
		return nil
	})
}

// candidate is one process: its elector and the record of its terms.
type candidate struct {
	id      string
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	terms   []span // [start, work done] of each term
	leading bool
}

type span struct{ from, to time.Time }

func start(t *testing.T, s *service, id string, logs *testutil.SyncBuffer) *candidate {
	c := &candidate{id: id, done: make(chan struct{})}
	e := New(Options{
		Lock: fakeLock{s, id}, Duration: d, Identity: id,
		Rand:   func() float64 { return 0.5 },
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OnChange: func(l bool) {
			c.mu.Lock()
			c.leading = l
			c.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		_ = e.Run(ctx, func(term *Term) {
			from := time.Now()
			<-term.Context().Done()
			// In-flight work ends when the lease may be gone, or now.
			select {
			case <-term.Work().Done():
			case <-time.After(time.Second):
			}
			c.mu.Lock()
			c.terms = append(c.terms, span{from, time.Now()})
			c.mu.Unlock()
		})
	}()
	return c
}

func (c *candidate) isLeading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

func (c *candidate) stop() {
	c.cancel()
	<-c.done
}

// noOverlap fails if two candidates' terms overlap in time.
func noOverlap(t *testing.T, cs ...*candidate) {
	t.Helper()
	for i, a := range cs {
		for _, b := range cs[i+1:] {
			for _, x := range a.terms {
				for _, y := range b.terms {
					if x.from.Before(y.to) && y.from.Before(x.to) {
						t.Errorf("%s's term %v–%v overlaps %s's %v–%v", a.id, x.from, x.to, b.id, y.from, y.to)
					}
				}
			}
		}
	}
}

func TestOneLeadsTheOtherTakesOverAfterRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{}
		logs := &testutil.SyncBuffer{}
		a := start(t, s, "a", logs)
		time.Sleep(time.Second)
		b := start(t, s, "b", logs)
		time.Sleep(time.Minute) // several renewals
		synctest.Wait()
		if !a.isLeading() || b.isLeading() {
			t.Fatalf("leading: a %v, b %v; want a only", a.isLeading(), b.isLeading())
		}
		a.cancel() // SIGTERM: the term ends, the lease is released
		for !b.isLeading() {
			time.Sleep(100 * time.Millisecond)
		}
		a.stop()
		if took := time.Since(a.terms[0].to); took > RetryEvery(d)*6/5 {
			t.Errorf("b led %v after a stopped, want within a retry interval (%v)", took, RetryEvery(d)*6/5)
		}
		b.stop()
		noOverlap(t, a, b)
		if len(s.grants) != 2 {
			t.Errorf("grants %v, want a's then b's", s.grants)
		}
	})
}

// A leader whose renewals fail stops its term at the first failure, its work
// ends before the service's lease does, and the other leads after that.
func TestFailedRenewalEndsTermBeforeTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{}
		logs := &testutil.SyncBuffer{}
		a := start(t, s, "a", logs)
		time.Sleep(time.Second)
		// a's link stalls: its renewals hang and its term must end on its own.
		s.mu.Lock()
		s.stall = map[string]chan struct{}{"a": make(chan struct{})}
		s.mu.Unlock()
		b := start(t, s, "b", logs)
		time.Sleep(2 * d)
		synctest.Wait()
		if !b.isLeading() {
			t.Error("b does not lead while a's link is stalled")
		}
		s.mu.Lock()
		close(s.stall["a"])
		s.stall = nil
		s.mu.Unlock()
		time.Sleep(d)
		synctest.Wait()
		a.stop()
		b.stop()
		noOverlap(t, a, b)
		if len(a.terms) == 0 || len(b.terms) == 0 {
			t.Fatalf("terms: a %v, b %v; want a term each", a.terms, b.terms)
		}
		if len(s.grants) < 2 || s.grants[1].who != "b" {
			t.Fatalf("grants %v, want a then b", s.grants)
		}
		if end := a.terms[0].to; !end.Before(s.grants[1].from) {
			t.Errorf("a's work ended at %v, after b was granted the lease at %v", end, s.grants[1].from)
		}
		// The renewal's deadline is the term's end: whichever of the two
		// fires first names the cause.
		if out := logs.String(); !strings.Contains(out, "the lease ran out before it was renewed") && !strings.Contains(out, "renewal failed: context deadline exceeded") {
			t.Errorf("no log line of the lost renewal:\n%s", logs)
		}
	})
}

// A paused leader (its clock moved on, its timers not yet fired) is not
// Valid at once on waking, before its term's context is cancelled.
func TestValidCountsThePause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		term := newTerm(context.Background(), clock.Real(), time.Now().Add(10*time.Second))
		if !term.Valid() {
			t.Fatal("a fresh term is not Valid")
		}
		term.extend(time.Now().Add(-time.Millisecond)) // as if the process woke past its term
		if term.Valid() {
			t.Error("Valid past the term's end")
		}
		term.finish(errors.New("test over"))
	})
}

// While the storage service is down nobody leads, and leadership resumes
// when it is back.
func TestOutageLeavesNoLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{}
		logs := &testutil.SyncBuffer{}
		a := start(t, s, "a", logs)
		b := start(t, s, "b", logs)
		time.Sleep(time.Second)
		s.mu.Lock()
		s.down = true
		s.mu.Unlock()
		time.Sleep(d)
		synctest.Wait()
		if a.isLeading() || b.isLeading() {
			t.Errorf("leading during the outage: a %v, b %v", a.isLeading(), b.isLeading())
		}
		s.mu.Lock()
		s.down = false
		s.mu.Unlock()
		time.Sleep(d + 2*RetryEvery(d))
		synctest.Wait()
		if a.isLeading() == b.isLeading() {
			t.Errorf("after the outage: a %v, b %v; want one leader", a.isLeading(), b.isLeading())
		}
		a.stop()
		b.stop()
		noOverlap(t, a, b)
		if n := strings.Count(logs.String(), "cannot campaign"); n > 2 {
			t.Errorf("%d 'cannot campaign' lines for one outage, want one per process", n)
		}
	})
}
