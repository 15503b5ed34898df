package wire

import (
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
