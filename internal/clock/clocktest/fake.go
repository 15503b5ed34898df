package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/rotatord/rotatord/internal/clock"
)

// Fake is a Clock whose time moves only when a test calls Advance or Set.
// Timers fire, in deadline order, when the fake time reaches their deadline.
// It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	armed  []*fakeTimer
	change chan struct{} // closed and replaced whenever the armed set changes
}

var _ clock.Clock = (*Fake)(nil)

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, change: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a Timer that fires when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) clock.Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(t, d)
	return t
}

// Advance moves the fake time forward by d and fires every timer due by then.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the fake time to t and fires every timer due by then. Setting a
// time in the past is allowed (a wall-clock step) and fires nothing.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(t)
}

// Timers returns how many timers are armed (created or reset, and neither
// fired nor stopped).
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.armed)
}

// BlockUntil waits until at least n timers are armed. Tests call it before
// Advance so that the code under test has armed its timer first; otherwise
// the timer would be armed after the advance, relative to the new time.
func (f *Fake) BlockUntil(n int) {
	for {
		f.mu.Lock()
		armed, change := len(f.armed), f.change
		f.mu.Unlock()
		if armed >= n {
			return
		}
		<-change
	}
}

func (f *Fake) setLocked(now time.Time) {
	f.now = now
	// Fire in deadline order so that a test reading several timer channels
	// sees them in the order real time would have produced.
	sort.SliceStable(f.armed, func(i, j int) bool { return f.armed[i].deadline.Before(f.armed[j].deadline) })
	kept := f.armed[:0]
	fired := false
	for _, t := range f.armed {
		if t.deadline.After(now) {
			kept = append(kept, t)
			continue
		}
		t.fire(now)
		fired = true
	}
	clear(f.armed[len(kept):])
	f.armed = kept
	if fired {
		f.notifyLocked()
	}
}

func (f *Fake) arm(t *fakeTimer, d time.Duration) {
	t.deadline = f.now.Add(d)
	if d <= 0 {
		t.fire(f.now)
		return
	}
	f.armed = append(f.armed, t)
	f.notifyLocked()
}

// disarm removes t from the armed set and reports whether it was there.
func (f *Fake) disarm(t *fakeTimer) bool {
	for i, a := range f.armed {
		if a == t {
			f.armed = append(f.armed[:i], f.armed[i+1:]...)
			f.notifyLocked()
			return true
		}
	}
	return false
}

func (f *Fake) notifyLocked() {
	close(f.change)
	f.change = make(chan struct{})
}

type fakeTimer struct {
	f        *Fake
	c        chan time.Time // capacity 1, like a pre-1.23 time.Timer
	deadline time.Time      // guarded by f.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drain()
	return t.f.disarm(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drain()
	was := t.f.disarm(t)
	t.f.arm(t, d)
	return was
}

// fire delivers now without blocking; the buffer holds at most one value and
// Stop/Reset drain it, so a send can only find the buffer empty.
func (t *fakeTimer) fire(now time.Time) {
	select {
	case t.c <- now:
	default:
	}
}

// drain drops an undelivered value, matching the Go 1.23+ guarantee that no
// stale time is received after Stop or Reset.
func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}
