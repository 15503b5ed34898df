package clock

import (
	"context"
	"sync"
	"time"
)

// WithTimeout is context.WithTimeout on c: the returned context is done, with
// context.DeadlineExceeded, once c has moved d past its Now, and its Deadline
// is on c's time line. On the real clock it is context.WithTimeout itself.
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := c.(realClock); ok {
		return context.WithTimeout(parent, d)
	}
	inner, cancel := context.WithCancel(parent)
	t := &timeoutCtx{Context: inner, deadline: c.Now().Add(d), done: make(chan struct{})}
	timer := c.NewTimer(d)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-timer.C():
			t.end(context.DeadlineExceeded)
			cancel()
		case <-inner.Done():
			timer.Stop()
			t.end(inner.Err())
		}
	}()
	return t, func() {
		cancel()
		<-stopped // no goroutine outlives the cancel
	}
}

// timeoutCtx has a Done channel of its own, not inner's: so a context made
// from it waits on it like on any foreign context and takes its Err,
// DeadlineExceeded, instead of inheriting inner's Canceled directly.
type timeoutCtx struct {
	context.Context
	deadline time.Time
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	err      error
}

func (t *timeoutCtx) end(err error) {
	t.once.Do(func() {
		t.mu.Lock()
		t.err = err
		t.mu.Unlock()
		close(t.done)
	})
}

func (t *timeoutCtx) Deadline() (time.Time, bool) {
	if d, ok := t.Context.Deadline(); ok && d.Before(t.deadline) {
		return d, true
	}
	return t.deadline, true
}

func (t *timeoutCtx) Done() <-chan struct{} { return t.done }

func (t *timeoutCtx) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
