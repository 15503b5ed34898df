package cipher

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/rotatord/rotatord/internal/secret"
)

// Pool bounds how many RSA operations run at once across every rotation, so
// a burst of rotations (start-up, a re-keyed gateway) cannot starve the
// scheduler and HTTP handlers of CPU. It starts no goroutines: each caller's
// goroutine does its own work once it holds one of the pool's slots, taken
// per RSA operation so that one long 1024-bit plaintext cannot hold a slot
// while shorter jobs wait.
//
// A Pool is safe for concurrent use.
type Pool struct {
	slots    *semaphore.Weighted
	segments atomic.Uint64
	waiting  atomic.Int64
}

// NewPool returns a Pool running at most workers RSA operations at a time;
// workers <= 0 means runtime.GOMAXPROCS(0).
func NewPool(workers int) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Pool{slots: semaphore.NewWeighted(int64(workers))}
}

// Encrypt returns the credentials string for plaintext under pub: the
// segmented RSA-OAEP-SHA1 scheme for a 1024-bit modulus, the SDK's hybrid
// scheme otherwise, with crypto/rand's randomness and its RSA operations
// run within the pool's bound. If ctx ends while waiting for a slot, it
// returns ctx.Err(). Errors never include plaintext.
func (p *Pool) Encrypt(ctx context.Context, pub *rsa.PublicKey, plaintext secret.Secret) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return encrypt(ctx, p, rand.Reader, pub, plaintext.Reveal())
}

// acquire waits for a slot. Context errors are returned as they are, so
// callers can hand back ctx.Err() itself.
func (p *Pool) acquire(ctx context.Context) error {
	if p.slots.TryAcquire(1) {
		return nil
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	return p.slots.Acquire(ctx, 1)
}

// release frees the slot acquire took and counts the operation if it
// succeeded.
func (p *Pool) release(done bool) {
	p.slots.Release(1)
	if done {
		p.segments.Add(1)
	}
}

// Segments returns how many RSA operations the pool has completed
// (rotatord_encrypt_segments_total).
func (p *Pool) Segments() uint64 { return p.segments.Load() }

// QueueLength returns how many RSA operations are waiting for a slot
// (rotatord_encrypt_queue_length).
func (p *Pool) QueueLength() int { return int(p.waiting.Load()) }
