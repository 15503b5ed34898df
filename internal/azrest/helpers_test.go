package azrest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testScope = "https://svc.example/.default"

// testError is the typed error of the test service: the Failure it was
// made of.
type testError struct{ f Failure }

func (e *testError) Error() string {
	status := e.f.StatusCode
	if e.f.Response != nil {
		status = e.f.Response.StatusCode
	}
	return ErrorText{Package: "test", Operation: e.f.Op, StatusCode: status, Err: e.f.Err, Hint: e.f.Hint}.String()
}

func (e *testError) Unwrap() error { return e.f.Err }

func testFail(_ context.Context, f *Failure) error { return &testError{*f} }

// step is one scripted answer of the fake service.
type step struct {
	status int
	header map[string]string
	body   string // {{host}} becomes the host the request was sent to
	drop   bool   // close the connection without answering
}

type seen struct{ method, path, query, auth string }

// fake answers requests with its steps in order, repeating the last one.
type fake struct {
	mu    sync.Mutex
	steps []step
	reqs  []seen
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization")})
	st := f.steps[min(len(f.reqs), len(f.steps))-1]
	f.mu.Unlock()
	if st.drop {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, strings.ReplaceAll(st.body, "{{host}}", r.Host))
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

type harness struct {
	client *Client
	fake   *fake
	cred   *testutil.Credential
	mu     sync.Mutex
	codes  []int         // what OnResponse saw
	slept  time.Duration // what the long Retry-After waits slept
}

func (h *harness) attempts() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.codes...)
}

func newHarness(t *testing.T, steps []step, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{fake: &fake{steps: steps}, cred: &testutil.Credential{Scope: testScope}}
	srv := httptest.NewTLSServer(h.fake)
	t.Cleanup(srv.Close)
	o := Options{
		Service:    Service{Name: "Svc", Package: "test", APIURLKey: "svc.api_url", Fail: testFail},
		APIURL:     srv.URL + "/v1",
		Scope:      testScope,
		Credential: h.cred,
		Transport:  srv.Client(),
		MaxRetries: 3,
		RetryDelay: time.Millisecond,
		MaxBody:    1 << 20,
		OnResponse: func(op string, code int) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.codes = append(h.codes, code)
		},
		Sleep: func(_ context.Context, d time.Duration) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.slept += d
			return nil
		},
	}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.client = c
	return h
}

func asTestError(t *testing.T, err error) *testError {
	t.Helper()
	var te *testError
	if !errors.As(err, &te) {
		t.Fatalf("error %v, want the service's error", err)
	}
	return te
}
