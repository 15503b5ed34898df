package rotate

import (
	"context"
	"crypto/rsa"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rotatord/rotatord/internal/clock"
)

// keyCache holds what encrypting for a gateway takes (its public key, or a
// cluster's member keys), fetched once per gateway and again after ttl or
// when a PATCH was rejected.
type keyCache[K any] struct {
	load  func(ctx context.Context, gatewayID string) (K, error)
	clock clock.Clock
	ttl   time.Duration
	group singleflight.Group // many data sources share one gateway: one GET

	mu   sync.Mutex
	keys map[string]cachedKey[K]
}

type cachedKey[K any] struct {
	key     K
	fetched time.Time
}

func newKeyCache[K any](load func(context.Context, string) (K, error), clk clock.Clock, ttl time.Duration) *keyCache[K] {
	return &keyCache[K]{load: load, clock: clk, ttl: ttl, keys: make(map[string]cachedKey[K])}
}

// get returns the gateway's key, from the cache while it is fresh.
func (kc *keyCache[K]) get(ctx context.Context, gatewayID string) (K, error) {
	kc.mu.Lock()
	k, ok := kc.keys[gatewayID]
	kc.mu.Unlock()
	if ok && kc.clock.Now().Sub(k.fetched) < kc.ttl {
		return k.key, nil
	}
	return kc.refresh(ctx, gatewayID)
}

// refresh fetches the gateway's key anew. Rotations waiting for the same
// gateway share one GET, made with the context of whichever came first; if
// that context ends, the others lead a fetch of their own rather than fail
// with a cancellation that was not theirs.
func (kc *keyCache[K]) refresh(ctx context.Context, gatewayID string) (K, error) {
	for tries := 1; ; tries++ {
		k, err := kc.fetch(ctx, gatewayID)
		// Only a cancellation: a timeout is the service's doing and counts
		// for everyone. Bounded, should leaders keep being cancelled.
		if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil && tries < 3 {
			continue
		}
		return k, err
	}
}

func (kc *keyCache[K]) fetch(ctx context.Context, gatewayID string) (K, error) {
	v, err, _ := kc.group.Do(gatewayID, func() (any, error) {
		k, err := kc.load(ctx, gatewayID)
		if err != nil {
			return nil, err
		}
		kc.mu.Lock()
		kc.keys[gatewayID] = cachedKey[K]{key: k, fetched: kc.clock.Now()}
		kc.mu.Unlock()
		return k, nil
	})
	if err != nil {
		var zero K
		return zero, err
	}
	return v.(K), nil
}

// sameKey reports whether two readings of a gateway's key agree.
func sameKey(a, b *rsa.PublicKey) bool { return a.Equal(b) }
