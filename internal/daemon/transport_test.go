package daemon

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowTransport answers after a pause and records the most requests it saw
// at once.
type slowTransport struct {
	inFlight, peak atomic.Int32
}

func (s *slowTransport) Do(*http.Request) (*http.Response, error) {
	n := s.inFlight.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	return &http.Response{StatusCode: 200, Body: &countingBody{Reader: strings.NewReader("{}"), done: &s.inFlight}}, nil
}

// countingBody ends the request's flight when closed, as a real response
// body holds its connection until then.
type countingBody struct {
	io.Reader
	done *atomic.Int32
}

func (b *countingBody) Close() error { b.done.Add(-1); return nil }

func TestLimitTransportBoundsRequestsInFlight(t *testing.T) {
	next := &slowTransport{}
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
			time.Sleep(time.Millisecond) // reading the body still holds the slot
			resp.Body.Close()
		})
	}
	wg.Wait()
	if p := next.peak.Load(); p != 3 {
		t.Errorf("peak requests in flight = %d, want 3", p)
	}
	if len(lt.slots) != 0 {
		t.Errorf("%d slots still held after every body was closed", len(lt.slots))
	}
}
