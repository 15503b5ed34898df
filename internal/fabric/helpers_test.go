package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Ids of the spec's examples.
const (
	conn   = "f6a39b76-9816-4e4b-b93a-f42e405017b7"
	gw     = "8e41c4dd-a382-4937-9bf3-695ab881f7c2"
	member = "5d225cda-42d5-43d3-bc40-218f746e1d58"
	assign = "43970761-afc9-4428-ae6e-3b08bef098ff"
	user   = "6a002b3d-e4ec-43df-8c08-e8eb7547d9dd"
	opID   = "427f6c34-b64e-4ee4-8ea5-b533c0e203ef"
	reqID  = "5b2c2d7c-0000-4000-8000-000000000001"
)

// step is one scripted answer of a fake Fabric.
type step struct {
	status int
	header map[string]string // {{host}} becomes the host the request was sent to
	body   string            // likewise
	drop   bool              // close the connection without answering
	echo   bool              // answer with the request body, as received, as the error message
}

// seen is what the fake received.
type seen struct {
	method, path, query, auth, body string
}

// fakeFabric answers requests with its steps in order, repeating the last.
type fakeFabric struct {
	mu    sync.Mutex
	steps []step
	reqs  []seen
}

func (f *fakeFabric) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), string(b)})
	st := f.steps[min(len(f.reqs), len(f.steps))-1]
	f.mu.Unlock()
	if st.drop {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, strings.ReplaceAll(v, "{{host}}", r.Host))
	}
	if st.echo {
		msg, _ := json.Marshal(string(b))
		st.body = `{"errorCode":"X","message":` + string(msg) + `,"moreDetails":[{"errorCode":"Y","message":` + string(msg) + `}]}`
	}
	st.body = strings.ReplaceAll(st.body, "{{host}}", r.Host)
	if st.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func (f *fakeFabric) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

type harness struct {
	client *Client
	fake   *fakeFabric
	cred   *testutil.Credential
	hook   *testutil.Responses
	mu     sync.Mutex
	slept  time.Duration // what the long Retry-After waits slept
}

func (h *harness) sleptFor() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.slept
}

// newHarness starts a TLS fake answering with steps and a client for it,
// whose long Retry-After waits are recorded, not slept.
func newHarness(t *testing.T, steps []step, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{fake: &fakeFabric{steps: steps}, cred: &testutil.Credential{Scope: DefaultScope}, hook: &testutil.Responses{}}
	srv := httptest.NewTLSServer(h.fake)
	t.Cleanup(srv.Close)
	o := Options{
		APIURL:     srv.URL + "/v1",
		Credential: h.cred,
		Transport:  srv.Client(),
		MaxRetries: 3,
		RetryDelay: time.Millisecond,
		OnResponse: h.hook.Record,
	}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(_ context.Context, d time.Duration) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.slept += d
		return nil
	}
	h.client = c
	return h
}

func ok(body string) step { return step{status: http.StatusOK, body: body} }

// fabricError is an ErrorResponse step.
func fabricError(status int, code, message string, header map[string]string) step {
	b, _ := json.Marshal(map[string]any{"errorCode": code, "message": message, "requestId": reqID})
	return step{status: status, header: header, body: string(b)}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	if want == "" {
		if got != "" {
			t.Errorf("body %q, want none", got)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body %s\nwant %s", got, want)
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *fabric.Error", err, err)
	}
	return fe
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
