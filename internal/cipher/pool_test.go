package cipher

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

func TestPoolCountsSegments(t *testing.T) {
	p := NewPool(2)
	steps := []struct {
		bits, n int
		want    uint64 // running total
	}{
		{1024, 85, 1}, {1024, 86, 3}, {1024, 170, 5}, {1024, 171, 8}, {2048, 1000, 9}, {4096, 5, 10},
	}
	for _, s := range steps {
		priv := testKey(t, s.bits)
		plain := secret.New([]byte(strings.Repeat("p", s.n)))
		out, err := p.Encrypt(t.Context(), &priv.PublicKey, plain)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ciphertest.Decrypt(priv, out); err != nil || string(got) != plain.RevealString() {
			t.Fatalf("rsa%d %dB: round trip failed: %v", s.bits, s.n, err)
		}
		if got := p.Segments(); got != s.want {
			t.Errorf("after rsa%d %dB: Segments() = %d, want %d", s.bits, s.n, got, s.want)
		}
	}
	if p.QueueLength() != 0 {
		t.Errorf("QueueLength() = %d after all work finished", p.QueueLength())
	}
}

func TestPoolWaitsForSlotAndHonoursCancel(t *testing.T) {
	p := NewPool(1)
	// Occupy the only slot, as a long encryption would.
	if !p.slots.TryAcquire(1) {
		t.Fatal("new pool has no free slot")
	}
	pub := &testKey(t, 2048).PublicKey
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	type result struct {
		out string
		err error
	}
	results := make(chan result, 2)
	go func() {
		out, err := p.Encrypt(ctx, pub, secret.FromString("waits then gives up"))
		results <- result{out, err}
	}()
	testutil.WaitFor(t, "one queued operation", 10*time.Second, func() bool { return p.QueueLength() == 1 })
	cancel()
	r := <-results
	if r.err != context.Canceled {
		t.Fatalf("Encrypt after cancel = %q, %v; want context.Canceled itself", r.out, r.err)
	}
	if p.QueueLength() != 0 || p.Segments() != 0 {
		t.Errorf("after cancel: QueueLength=%d Segments=%d, want 0 0", p.QueueLength(), p.Segments())
	}

	// A waiter proceeds once the slot is released.
	go func() {
		out, err := p.Encrypt(t.Context(), pub, secret.FromString("waits then runs"))
		results <- result{out, err}
	}()
	testutil.WaitFor(t, "the second queued operation", 10*time.Second, func() bool { return p.QueueLength() == 1 })
	p.slots.Release(1)
	if r := <-results; r.err != nil || r.out == "" {
		t.Fatalf("Encrypt after release = %q, %v", r.out, r.err)
	}
	if p.Segments() != 1 {
		t.Errorf("Segments() = %d, want 1", p.Segments())
	}
}

func TestPoolAlreadyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewPool(0).Encrypt(ctx, &testKey(t, 1024).PublicKey, secret.FromString("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Many rotations sharing one pool at once: all succeed, the count is exact,
// and nothing is left queued.
func TestPoolConcurrent(t *testing.T) {
	p := NewPool(2)
	const goroutines, each = 8, 5
	plain := secret.New([]byte(strings.Repeat("c", 200))) // 3 segments at 1024 bits
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		priv := testKey(t, []int{1024, 2048}[g%2])
		wg.Go(func() {
			for range each {
				out, err := p.Encrypt(t.Context(), &priv.PublicKey, plain)
				if err == nil {
					_, err = ciphertest.Decrypt(priv, out)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := uint64(goroutines / 2 * each * (3 + 1)); p.Segments() != want {
		t.Errorf("Segments() = %d, want %d", p.Segments(), want)
	}
	if p.QueueLength() != 0 {
		t.Errorf("QueueLength() = %d", p.QueueLength())
	}
}

// BenchmarkPool pushes realistic credentials JSON through one shared pool
// from every core: ~250 bytes (3 segments) for 1024-bit keys, ~100 bytes for
// 2048-bit ones. segments/s is the pool's rate of RSA operations.
//
// In the same run, alternating with the pool in rounds of poolRound
// credentials so that both see the same machine, as many bare rsa.EncryptOAEP
// calls of one segment (or key blob) run on every core without the pool, the
// segmenting, AES, HMAC or base64: raw-segments/s is that ceiling, and
// pool/raw the share of it the pool reaches. ns/op, B/op and allocs/op are
// the pool's, per credential.
//
//	go test -run '^$' -bench 'BenchmarkPool$' -benchtime 3s -count 5 ./internal/cipher/
func BenchmarkPool(b *testing.B) {
	for _, bc := range []struct {
		bits, size int
		hash       func() hash.Hash
		rsaInput   int // bytes one RSA operation encrypts
	}{{1024, 250, sha1.New, SegmentBytes}, {2048, 100, sha256.New, keyBlobBytes}} {
		b.Run(fmt.Sprintf("rsa%d", bc.bits), func(b *testing.B) {
			pub := &testKey(b, bc.bits).PublicKey
			plain := benchPlaintext(bc.size)
			p := NewPool(0)
			workers := runtime.GOMAXPROCS(0)
			msg := make([]byte, bc.rsaInput)
			var rawTime time.Duration
			raw := 0
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += poolRound {
				n := min(poolRound, b.N-done)
				before := p.Segments()
				onCores(workers, n, func() error {
					_, err := p.Encrypt(context.Background(), pub, plain)
					return err
				}, b)
				b.StopTimer()
				segs := int(p.Segments() - before)
				start := time.Now()
				onCores(workers, segs, func() error {
					_, err := rsa.EncryptOAEP(bc.hash(), rand.Reader, pub, msg, nil)
					return err
				}, b)
				rawTime += time.Since(start)
				raw += segs
				b.StartTimer()
			}
			b.StopTimer()
			pool := float64(p.Segments()) / b.Elapsed().Seconds()
			ceiling := float64(raw) / rawTime.Seconds()
			b.ReportMetric(pool, "segments/s")
			b.ReportMetric(ceiling, "raw-segments/s")
			b.ReportMetric(pool/ceiling, "pool/raw")
		})
	}
}

// poolRound is how many credentials BenchmarkPool encrypts through the pool
// before it measures the bare RSA operations again.
const poolRound = 1024

// onCores runs op n times, spread over workers goroutines.
func onCores(workers, n int, op func() error, b *testing.B) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range n/workers + btoi(w < n%workers) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func benchPlaintext(size int) secret.Secret {
	s := `{"credentialData":[{"name":"username","value":"CONTOSO\\svc_powerbi"},{"name":"password","value":"`
	s += strings.Repeat("x", max(size-len(s)-4, 1)) + `"}]}`
	return secret.FromString(s)
}
