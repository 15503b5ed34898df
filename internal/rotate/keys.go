package rotate

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/clock"
)

// keyCache holds gateway public keys, fetched once per gateway and again
// after ttl or when a PATCH was rejected.
type keyCache struct {
	pbi   PowerBI
	clock clock.Clock
	ttl   time.Duration
	group singleflight.Group // many data sources share one gateway: one GET

	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	pub     *rsa.PublicKey
	fetched time.Time
}

func newKeyCache(c PowerBI, clk clock.Clock, ttl time.Duration) *keyCache {
	return &keyCache{pbi: c, clock: clk, ttl: ttl, keys: make(map[string]cachedKey)}
}

// get returns the gateway's key, from the cache while it is fresh.
func (kc *keyCache) get(ctx context.Context, gatewayID string) (*rsa.PublicKey, error) {
	kc.mu.Lock()
	k, ok := kc.keys[gatewayID]
	kc.mu.Unlock()
	if ok && kc.clock.Now().Sub(k.fetched) < kc.ttl {
		return k.pub, nil
	}
	return kc.refresh(ctx, gatewayID)
}

// refresh fetches the gateway's key from Power BI. Rotations waiting for
// the same gateway share one GET, made with the context of whichever came
// first; if that context ends, the others lead a fetch of their own rather
// than fail with a cancellation that was not theirs.
func (kc *keyCache) refresh(ctx context.Context, gatewayID string) (*rsa.PublicKey, error) {
	for tries := 1; ; tries++ {
		pub, err := kc.fetch(ctx, gatewayID)
		// Only a cancellation: a timeout is Power BI's doing and counts for
		// everyone. Bounded, should leaders keep being cancelled.
		if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil && tries < 3 {
			continue
		}
		return pub, err
	}
}

func (kc *keyCache) fetch(ctx context.Context, gatewayID string) (*rsa.PublicKey, error) {
	v, err, _ := kc.group.Do(gatewayID, func() (any, error) {
		gw, err := kc.pbi.GetGateway(ctx, gatewayID)
		if err != nil {
			return nil, err
		}
		pub, err := cipher.PublicKeyFromBase64(gw.PublicKey.Exponent, gw.PublicKey.Modulus)
		if err != nil {
			return nil, fmt.Errorf("%w: gateway %s: %v", errBadKey, gatewayID, err)
		}
		kc.mu.Lock()
		kc.keys[gatewayID] = cachedKey{pub: pub, fetched: kc.clock.Now()}
		kc.mu.Unlock()
		return pub, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*rsa.PublicKey), nil
}
