// Package budget is the retry budget of one tick: how many times, in all,
// rotatord may try again while rotating one data source — the scheduler
// running the rotation again, the Power BI or Key Vault client sending a
// request again — and how long each wait between tries is.
//
// The scheduler makes one Budget per tick and puts it in the tick's context;
// every layer that retries takes from that one Budget, so retries add up to
// the inventory's retry.attempts instead of multiplying layer by layer.
package budget

import (
	"context"
	"sync/atomic"
	"time"
)

// Budget is one tick's allowance of retries. A nil *Budget is unlimited:
// callers outside a tick (plan, tests) keep their own limits.
type Budget struct {
	// InitialBackoff and MaxBackoff shape the waits of every layer that
	// retries within the tick.
	InitialBackoff, MaxBackoff time.Duration
	left                       atomic.Int64
}

// New returns a Budget of retries further tries after the first.
func New(retries int, initialBackoff, maxBackoff time.Duration) *Budget {
	b := &Budget{InitialBackoff: initialBackoff, MaxBackoff: maxBackoff}
	b.left.Store(int64(max(retries, 0)))
	return b
}

// Take spends one retry and reports whether there was one to spend. A nil
// Budget always has one.
func (b *Budget) Take() bool {
	if b == nil {
		return true
	}
	for {
		n := b.left.Load()
		if n <= 0 {
			return false
		}
		if b.left.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Left returns how many retries remain; ok is false for a nil (unlimited)
// Budget.
func (b *Budget) Left() (n int, ok bool) {
	if b == nil {
		return 0, false
	}
	return int(b.left.Load()), true
}

type key struct{}

// NewContext returns ctx carrying b.
func NewContext(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, key{}, b)
}

// FromContext returns the Budget ctx carries, or nil.
func FromContext(ctx context.Context) *Budget {
	b, _ := ctx.Value(key{}).(*Budget)
	return b
}
