package pbi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/hangup"
	"github.com/rotatord/rotatord/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	gw = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	ds = "252b9de8-d915-4788-aaeb-ec8c2395f970"
)

// step is one scripted answer of a fake Power BI.
type step struct {
	status int
	header map[string]string
	body   string
	drop   bool          // close the connection without answering
	stall  time.Duration // wait this long (or until the client gives up) before answering
	echo   bool          // answer with the request body, as received, as the error message
}

// seen is what the fake received.
type seen struct {
	method, path, auth, body string
	query                    string // raw, as sent
}

// fakePBI answers requests with its steps in order, repeating the last one.
// A body's {{host}} becomes the host the request was sent to, for the
// absolute next-page links of a listing.
type fakePBI struct {
	mu    sync.Mutex
	steps []step
	reqs  []seen
}

func (f *fakePBI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), string(b), r.URL.RawQuery})
	st := f.steps[min(len(f.reqs), len(f.steps))-1]
	f.mu.Unlock()
	if st.stall > 0 {
		select {
		case <-time.After(st.stall):
		case <-r.Context().Done():
			// The client has gone: abort, so that no implicit 200 follows.
			panic(http.ErrAbortHandler)
		}
	}
	if st.drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	if st.echo {
		msg, _ := json.Marshal(string(b))
		st.body = `{"error":{"code":"X","message":` + string(msg) + `}}`
	}
	st.body = strings.ReplaceAll(st.body, "{{host}}", r.Host)
	if st.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func (f *fakePBI) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

type harness struct {
	client *Client
	fake   *fakePBI
	cred   *testutil.Credential
	hook   *testutil.Responses
}

// newHarness starts a TLS fake answering with steps and a client for it.
func newHarness(t *testing.T, steps []step, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{fake: &fakePBI{steps: steps}, cred: &testutil.Credential{Scope: DefaultScope}, hook: &testutil.Responses{}}
	srv := httptest.NewTLSServer(h.fake)
	t.Cleanup(srv.Close)
	o := Options{
		APIURL:     srv.URL + "/v1.0/myorg",
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
	h.client = c
	return h
}

func ok(body string) step { return step{status: http.StatusOK, body: body} }

func pbiError(status int, code string, header map[string]string) step {
	return step{status: status, header: header,
		body: fmt.Sprintf(`{"error":{"code":%q,"pbi.error":{"code":%q,"parameters":{},"details":[],"exceptionCulprit":1}}}`, code, code)}
}

// TestStallAnswersNothingAfterHangUp: a stalled step must abort its answer
// once the client has given up. Returning instead made Go's server send an
// implicit 200 with an empty body, which TestRetries read, now and then, as
// the stalled attempt's success.
func TestStallAnswersNothingAfterHangUp(t *testing.T) {
	fake := &fakePBI{steps: []step{{status: http.StatusOK, body: `{"id":"x"}`, stall: time.Hour}}}
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/myorg/gateways/"+gw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := hangup.Answer(t, req, srv.Client().Transport.(*http.Transport).TLSClientConfig); len(got) != 0 {
		t.Errorf("after the client hung up the fake answered %q", got)
	}
}
