package daemon

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/emulator"
)

// hostCounter is the daemon's transport, counting the requests in flight
// per host (each emulated service has its own) and keeping the peaks.
type hostCounter struct {
	next policy.Transporter

	mu             sync.Mutex
	inFlight, peak map[string]int
}

func (c *hostCounter) Do(req *http.Request) (*http.Response, error) {
	h := req.URL.Host
	c.mu.Lock()
	c.inFlight[h]++
	c.peak[h] = max(c.peak[h], c.inFlight[h])
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight[h]--
		c.mu.Unlock()
	}()
	// Counted until Do returns: limit.Transport holds its slot longer,
	// until the body is closed, so a peak here never exceeds its bound.
	return c.next.Do(req)
}

// TestKeyVaultRequestsBounded: with max_concurrency 1, the four rotations
// Once runs at once send Key Vault one request at a time, as they do
// Power BI. Unbounded, slow Key Vault answers piled up one per rotation.
func TestKeyVaultRequestsBounded(t *testing.T) {
	dm, cfg := startDemo(t, "")
	cfg.PowerBI.MaxConcurrency = 1 // workers: 4 rotations at once
	counter := &hostCounter{next: demoClient(t, dm), inFlight: map[string]int{}, peak: map[string]int{}}
	d, err := New(cfg, Options{Transport: counter, LookupEnv: dm.LookupEnv})
	if err != nil {
		t.Fatal(err)
	}
	dm.Stack.KeyVault.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Latency: 50 * time.Millisecond})
	if failed, err := d.Once(context.Background(), nil); err != nil || failed != 0 {
		t.Fatalf("Once: %d failed, %v", failed, err)
	}
	kv := strings.TrimPrefix(dm.Stack.KeyVaultURL, "https://")
	pbiHost := strings.TrimPrefix(strings.Split(dm.Stack.PowerBIURL, "/v1.0")[0], "https://")
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.peak[kv] != 1 {
		t.Errorf("Key Vault saw %d requests at once, want 1 (max_concurrency)", counter.peak[kv])
	}
	if counter.peak[pbiHost] != 1 {
		t.Errorf("Power BI saw %d requests at once, want 1 (max_concurrency)", counter.peak[pbiHost])
	}
}
