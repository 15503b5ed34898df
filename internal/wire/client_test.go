package wire

import (
	"net/http"
	"testing"
)

// TestNewClientKeepsAConnectionPerSlot: the connections of a burst of
// max_concurrency requests stay open for the next burst.
func TestNewClientKeepsAConnectionPerSlot(t *testing.T) {
	for _, tc := range []struct{ slots, want int }{{0, 2}, {1, 2}, {16, 16}, {250, 250}} {
		tr := NewClient(tc.slots).Transport.(*http.Transport)
		if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns < tc.want {
			t.Errorf("NewClient(%d): %d idle connections per host, %d in all; want %d", tc.slots, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
	}
}
