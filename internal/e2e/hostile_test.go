package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
)

// ftRedirectLog is the refusal of a redirect: both origins, no path.
const ftRedirectLog = `refused a redirect from https://127\.0\.0\.1:\d+ to https://127\.0\.0\.1:\d+[^/]`

// ftListener is another HTTPS listener on the loopback, trusted like the
// emulators, that a redirect fault points at. It records every request it
// receives; rotatord must send it none.
type ftListener struct {
	mu   sync.Mutex
	seen []string // method, path and whether it carried credentials
}

// inject starts the listener for t and breaks the emulators with redirect,
// given the listener's URL.
func (l *ftListener) inject(redirect func(e *env, to string)) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		l.mu.Lock()
		l.seen = nil
		l.mu.Unlock()
		srv, err := e.demo.Stack.CA.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			l.mu.Lock()
			l.seen = append(l.seen, fmt.Sprintf("%s %s authorization=%t identity-header=%t body=%d bytes",
				r.Method, r.URL.Path, r.Header.Get("Authorization") != "", r.Header.Get("X-Identity-Header") != "", len(b)))
			l.mu.Unlock()
			w.WriteHeader(http.StatusOK)
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		redirect(e, srv.URL)
	}
}

func (l *ftListener) check(t *testing.T, _ *env, _ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) > 0 {
		t.Errorf("the other listener received %d requests, want none: %q", len(l.seen), l.seen)
	}
}

// ftSmallChild runs inject and holds the fault run's rotatord to a resident
// memory that a capped read fits in, far below what an endless body takes.
func ftSmallChild(inject func(*testing.T, *env)) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		e.memLimit = 256 << 20
		inject(t, e)
	}
}

// ftOneRequest checks that op was sent once in the fault run: a body over
// its limit is not retried.
func ftOneRequest(op string) func(*testing.T, *env, string) {
	return func(t *testing.T, e *env, _ string) {
		n := 0
		for _, r := range e.demo.Stack.PowerBI.Requests()[e.pbiSeen:] {
			if r.Operation == op {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s sent %d times, want once", op, n)
		}
	}
}

// ftMisnamed is a listener with a certificate from the emulators' CA for
// another name (powerbi.invalid), which powerbi.api_url is pointed at.
type ftMisnamed struct {
	conns  atomic.Int32 // connections accepted
	apiURL string       // the inventory's, restored by fix
}

func (m *ftMisnamed) inject(t *testing.T, e *env) {
	leaf, err := e.demo.Stack.CA.LeafFor("powerbi.invalid")
	if err != nil {
		t.Fatal(err)
	}
	m.conns.Store(0)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes rotatord refuses
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			m.conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	m.apiURL = e.demo.Stack.PowerBIURL
	ftEditInventory(t, e, "api_url: "+m.apiURL, "api_url: "+srv.URL+"/v1.0/myorg")
}

func (m *ftMisnamed) fix(t *testing.T, e *env) {
	b, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	fixed := regexp.MustCompile(`api_url: \S+`).ReplaceAllLiteral(b, []byte("api_url: "+m.apiURL))
	if err := os.WriteFile(e.demo.ConfigPath, fixed, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (m *ftMisnamed) check(t *testing.T, _ *env, _ string) {
	if n := m.conns.Load(); n != 1 {
		t.Errorf("%d connections to the misnamed listener, want 1: a certificate for another name is not retried", n)
	}
}
