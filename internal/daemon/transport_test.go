package daemon

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldTransport holds every request until release is closed, and records
// the most requests it saw at once.
type heldTransport struct {
	inFlight, peak atomic.Int32
	release        chan struct{}
}

func (s *heldTransport) Do(*http.Request) (*http.Response, error) {
	n := s.inFlight.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-s.release
	return &http.Response{StatusCode: 200, Body: &countingBody{Reader: strings.NewReader("{}"), done: &s.inFlight}}, nil
}

// countingBody ends the request's flight when closed, as a real response
// body holds its connection until then.
type countingBody struct {
	io.Reader
	done *atomic.Int32
}

func (b *countingBody) Close() error { b.done.Add(-1); return nil }

// TestLimitTransportBoundsRequestsInFlight: twenty requests, three slots.
// The transport holds the requests until three are in, so the peak is
// exactly three however the goroutines are scheduled; a limiter letting more
// through shows as a higher peak.
func TestLimitTransportBoundsRequestsInFlight(t *testing.T) {
	next := &heldTransport{release: make(chan struct{})}
	lt := newLimitTransport(next, 3)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "https://example.invalid/", nil)
			resp, err := lt.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			// Reading the body still holds the slot: a limiter that freed
			// it when Do returned would let more in during this pause.
			time.Sleep(time.Millisecond)
			resp.Body.Close()
		})
	}
	for next.inFlight.Load() < 3 {
		runtime.Gosched()
	}
	close(next.release)
	wg.Wait()
	if p := next.peak.Load(); p != 3 {
		t.Errorf("peak requests in flight = %d, want 3", p)
	}
	if len(lt.slots) != 0 {
		t.Errorf("%d slots still held after every body was closed", len(lt.slots))
	}
}
