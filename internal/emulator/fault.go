package emulator

import (
	"bytes"
	"cmp"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault is a misbehaviour injected into one emulated operation.
type Fault struct {
	Status     int           // answer with this HTTP status instead of serving (0: serve normally)
	Code       string        // error code put in the error body with Status
	RetryAfter string        // Retry-After header sent with Status (seconds or an HTTP date)
	Latency    time.Duration // wait this long before answering (or until the request is cancelled)
	Drop       bool          // close the connection without an answer
	Truncate   bool          // start a 200 answer, then reset the connection halfway through its body
	Empty      bool          // answer 200 with an empty body, as a proxy that lost the answer does
	Times      int           // how many requests it hits; 0 means until cleared
	// Probability, when strictly between 0 and 1, makes the fault hit each
	// request with that chance, to model a service that throttles a share
	// of its traffic. A request it spares falls through to the next fault
	// queued for the operation (or is served normally) and does not count
	// against Times. 0 or 1 and above: every request.
	Probability float64
	// Endless starts a 200 answer whose body never completes: filler goes
	// out until the client hangs up or EndlessBytes have been sent (0:
	// DefaultEndlessBytes), then the connection is aborted, so the answer
	// can never be read as whole. The bound keeps a client that reads
	// without a limit from taking the machine its test runs on. With a
	// Status, the endless answer has that status instead of 200.
	Endless      bool
	EndlessBytes int64
	// RedirectTo answers with a redirect (Status if it is a 3xx, else 307)
	// whose Location is RedirectTo followed by the request's path and
	// query, as a hostile or misconfigured front end would.
	RedirectTo string
	// SlowBody starts a 200 answer whose body trickles: a byte every
	// SlowBody until the client hangs up or SlowBodyFor (0:
	// DefaultSlowBodyFor) has passed, then the connection is aborted. The
	// bound ends it by itself even for a client that never gives up.
	SlowBody    time.Duration
	SlowBodyFor time.Duration
	// OnHit, if set, is called when the fault takes a request, before it
	// acts: a test waits on it to know that a request is parked in a
	// Latency, instead of sleeping and hoping.
	OnHit func()

	// EchoSecret answers 400 with an error message that holds the secret
	// the request carried, as a service that quotes what it refused does:
	// the decrypted password of a PATCH (the emulator holds the gateway
	// key), or the data source's current credential on Add Datasource
	// User. The operation's handler acts it out, after reading the
	// request; Apply leaves it alone. Only Times and OnHit apply with it.
	EchoSecret bool
}

// Bounds of the faults that would otherwise never end.
const (
	DefaultEndlessBytes = 1 << 30          // an Endless answer
	DefaultSlowBodyFor  = 90 * time.Second // a SlowBody answer
)

// ErrorWriter writes a service-specific error body.
type ErrorWriter func(w http.ResponseWriter, status int, code string)

// Faults holds the faults injected per operation name. The zero value is
// ready to use and safe for concurrent use.
type Faults struct {
	mu   sync.Mutex
	m    map[string][]*Fault
	rand func() float64 // in [0, 1); nil: math/rand/v2
}

// SetRand sets where probabilistic faults draw their chances from, a value
// in [0, 1) per call, so that tests can make them deterministic. nil
// restores math/rand/v2.
func (fs *Faults) SetRand(rand func() float64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rand = rand
}

// Inject queues f for operation op; faults of one operation apply in order.
func (fs *Faults) Inject(op string, f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = make(map[string][]*Fault)
	}
	fs.m[op] = append(fs.m[op], &f)
}

// Clear removes every fault.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.m = nil
}

// next takes the fault that applies to the next request of op, if any: the
// first queued one, unless it is probabilistic and spares the request.
func (fs *Faults) next(op string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	q := fs.m[op]
	for i, f := range q {
		if f.EchoSecret {
			continue // the handler's: see takeEcho
		}
		if f.Probability > 0 && f.Probability < 1 && fs.draw() >= f.Probability {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				fs.m[op] = slices.Delete(q, i, i+1)
			}
		}
		return *f, true
	}
	return Fault{}, false
}

// takeEcho takes an EchoSecret fault queued for op, if any, and reports
// whether there was one.
func (fs *Faults) takeEcho(op string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	q := fs.m[op]
	for i, f := range q {
		if !f.EchoSecret {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				fs.m[op] = slices.Delete(q, i, i+1)
			}
		}
		if f.OnHit != nil {
			f.OnHit()
		}
		return true
	}
	return false
}

func (fs *Faults) draw() float64 {
	if fs.rand == nil {
		return rand.Float64()
	}
	return fs.rand()
}

// Apply acts out the next fault of op on the request. It reports whether the
// request has been answered (or dropped), in which case the caller must not
// serve it.
func (fs *Faults) Apply(w http.ResponseWriter, r *http.Request, op string, writeErr ErrorWriter) bool {
	f, ok := fs.next(op)
	if !ok {
		return false
	}
	if f.OnHit != nil {
		f.OnHit()
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client gave up, or the emulator is closing: answer
			// nothing. Returning would make the server send an implicit
			// 200 with an empty body to a client that may still read it.
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	if f.Truncate {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, buf, err := hj.Hijack(); err == nil {
				// The headers promise more body than ever comes.
				_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"value\":[")
				_ = buf.Flush()
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f.Endless {
		endless(w, cmp.Or(f.Status, http.StatusOK), cmp.Or(f.EndlessBytes, DefaultEndlessBytes))
	}
	if f.SlowBody > 0 {
		slowBody(w, r, f.SlowBody, cmp.Or(f.SlowBodyFor, DefaultSlowBodyFor))
	}
	if f.RedirectTo != "" {
		status := f.Status
		if status < 300 || status > 399 {
			status = http.StatusTemporaryRedirect
		}
		w.Header().Set("Location", strings.TrimSuffix(f.RedirectTo, "/")+r.URL.RequestURI())
		w.WriteHeader(status)
		return true
	}
	if f.Empty {
		w.WriteHeader(http.StatusOK)
		return true
	}
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		// HTTP/2 cannot be hijacked: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	writeErr(w, f.Status, f.Code)
	return true
}

// endless answers status with up to limit bytes of a JSON array that never
// closes, then aborts the connection; it returns only by panicking.
func endless(w http.ResponseWriter, status int, limit int64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	chunk := bytes.Repeat([]byte(`"filler",`), 32<<10/9)
	sent, _ := io.WriteString(w, `{"value":[`)
	for n := int64(sent); n < limit; n += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			break // the client has gone
		}
	}
	panic(http.ErrAbortHandler)
}

// slowBody sends a 200 whose JSON body gains a byte every interval for at
// most d, then aborts the connection; it returns only by panicking.
func slowBody(w http.ResponseWriter, r *http.Request, interval, d time.Duration) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_, _ = io.WriteString(w, `{"value":[`)
	_ = rc.Flush()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	for {
		select {
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-end.C:
			panic(http.ErrAbortHandler)
		case <-tick.C:
		}
		if _, err := io.WriteString(w, " "); err != nil || rc.Flush() != nil {
			panic(http.ErrAbortHandler) // the client has gone
		}
	}
}
