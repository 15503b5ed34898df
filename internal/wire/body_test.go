package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCompleteBody(t *testing.T) {
	tests := map[string]struct {
		method  string
		answer  func(w http.ResponseWriter) // the first attempt's; the second is a whole 200
		want    string                      // the error after both attempts, "" when the second one is reached
		retried bool
	}{
		"empty 200 to a GET is retried": {method: http.MethodGet, retried: true,
			answer: func(w http.ResponseWriter) {}},
		"cut-short 200 to a POST is retried": {method: http.MethodPost, retried: true,
			answer: func(w http.ResponseWriter) {
				w.Header().Set("Content-Length", "10")
				_, _ = io.WriteString(w, `{"a":`)
			}},
		"empty 204 is whole": {method: http.MethodGet,
			answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }},
		"whole body that is no document is the caller's": {method: http.MethodGet,
			answer: func(w http.ResponseWriter) { _, _ = io.WriteString(w, "<html>") }},
		"error status passes through": {method: http.MethodGet,
			answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					tc.answer(w)
					return
				}
				_, _ = io.WriteString(w, `{"whole":true}`)
			}))
			defer srv.Close()
			pl := runtime.NewPipeline("wiretest", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{CompleteBody(Always)}},
				&policy.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond}})
			req, err := runtime.NewRequest(context.Background(), tc.method, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := pl.Do(req)
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			defer resp.Body.Close()
			if got := n.Load() == 2; got != tc.retried {
				t.Errorf("retried %v, want %v", got, tc.retried)
			}
		})
	}
}

func TestIncompleteErrorIsADroppedConnection(t *testing.T) {
	err := error(&IncompleteError{StatusCode: 200, Problem: "an empty body"})
	if got, want := err.Error(), "incomplete response: 200 OK with an empty body"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("does not unwrap to io.ErrUnexpectedEOF")
	}
}

// TestCompleteBodyOnlyWhereWanted: an empty 200 to a request that expects
// none (a PATCH to Power BI) is its normal answer.
func TestCompleteBodyOnlyWhereWanted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	getsOnly := func(r *http.Request) bool { return r.Method == http.MethodGet }
	pl := runtime.NewPipeline("wiretest", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{CompleteBody(getsOnly)}},
		&policy.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}})
	for method, wantErr := range map[string]bool{http.MethodPatch: false, http.MethodGet: true} {
		req, err := runtime.NewRequest(context.Background(), method, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		var ie *IncompleteError
		if (err != nil) != wantErr || (wantErr && !errors.As(err, &ie)) {
			t.Errorf("%s: error %v, want an *IncompleteError: %v", method, err, wantErr)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

// TestRetriedWriteSendsItsWholeBody: a server that answers a PATCH with a
// cut-short 200 before it has read the request body, then takes the retry.
// Go's transport may still be sending the first attempt's body when the
// retry starts; each attempt must send a copy of its own (azcore rewinds the
// one body it holds, which races with that send), and the retry must arrive
// whole. Whether the race detector sees the race depends on which of the
// transport's goroutines wins, so the exchange is repeated: against the
// shared body go test -race failed in 3 of 30 single exchanges.
func TestRetriedWriteSendsItsWholeBody(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var n atomic.Int32
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 1 { // each exchange's first attempt
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
			_ = buf.Flush()
			_ = conn.Close()
			return
		}
		b, _ := io.ReadAll(r.Body)
		got <- b
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	pl := runtime.NewPipeline("wiretest", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{CompleteBody(Always)}},
		&policy.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond}})
	for range 20 {
		req, err := runtime.NewRequest(context.Background(), http.MethodPatch, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(want)), "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatalf("the retry failed: %v", err)
		}
		resp.Body.Close()
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("the retry carried %d bytes, want the whole %d", len(b), len(want))
		}
	}
}
