package limit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// peakCounter records the most requests it saw in flight at once.
type peakCounter struct{ inFlight, peak atomic.Int32 }

func (c *peakCounter) enter() {
	n := c.inFlight.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *peakCounter) leave() { c.inFlight.Add(-1) }

// heldTransport holds every request until release is closed.
type heldTransport struct {
	peakCounter
	release chan struct{}
}

func (s *heldTransport) Do(*http.Request) (*http.Response, error) {
	s.enter()
	<-s.release
	return &http.Response{StatusCode: 200, Body: &countingBody{Reader: strings.NewReader("{}"), done: s.leave}}, nil
}

// countingBody ends the request's flight when closed, as a real response
// body holds its connection until then.
type countingBody struct {
	io.Reader
	done func()
}

func (b *countingBody) Close() error { b.done(); return nil }

// TestTransportBoundsRequestsInFlight: twenty requests, three slots. The
// transport holds the requests until three are in, so the peak is exactly
// three however the goroutines are scheduled; a limiter letting more through
// shows as a higher peak.
func TestTransportBoundsRequestsInFlight(t *testing.T) {
	next := &heldTransport{release: make(chan struct{})}
	lt := NewTransport(next, 3)
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
	if n := inFlight(lt); n != 0 {
		t.Errorf("%d slots still held after every body was closed", n)
	}
}

// TestTransportBoundsAServer: over real connections, a server sees no more
// requests at once than the limit, and opens no more connections.
func TestTransportBoundsAServer(t *testing.T) {
	const limit, clients = 4, 40
	var c peakCounter
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.enter()
		defer c.leave()
		time.Sleep(5 * time.Millisecond) // long enough for unbounded clients to pile up
		_, _ = io.WriteString(w, "{}")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = limit
	defer tr.CloseIdleConnections()
	lt := NewTransport(&http.Client{Transport: tr}, limit)

	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range 3 {
				req, _ := http.NewRequest("GET", srv.URL, nil)
				resp, err := lt.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if p := c.peak.Load(); p > limit || p < 1 {
		t.Errorf("the server saw %d requests at once, want 1 to %d", p, limit)
	}
	if n := conns.Load(); n > limit {
		t.Errorf("%d connections opened, want at most %d", n, limit)
	}
}

// A request waiting for a slot gives up when its context ends.
func TestTransportWaitEndsWithContext(t *testing.T) {
	next := &heldTransport{release: make(chan struct{})}
	defer close(next.release)
	lt := NewTransport(next, 1)
	go func() {
		req, _ := http.NewRequest("GET", "https://example.invalid/", nil)
		if resp, err := lt.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for next.inFlight.Load() < 1 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://example.invalid/", nil)
	if _, err := lt.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
}

// inFlight returns how many of t's slots are held now.
func inFlight(t *Transport) int { return len(t.slots) }
