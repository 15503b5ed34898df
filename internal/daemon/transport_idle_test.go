package daemon

import (
	"net/http"
	"testing"
)

// TestDefaultClientKeepsAConnectionPerSlot: the connections of a burst of
// max_concurrency requests stay open for the next burst.
func TestDefaultClientKeepsAConnectionPerSlot(t *testing.T) {
	for _, tc := range []struct{ slots, want int }{{0, 2}, {1, 2}, {16, 16}, {250, 250}} {
		tr := defaultClient(tc.slots).Transport.(*http.Transport)
		if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns < tc.want {
			t.Errorf("defaultClient(%d): %d idle connections per host, %d in all; want %d", tc.slots, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
	}
}
