package wire

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// IncompleteError is a 2xx response that did not arrive whole: its body
// ended before its framing said it would, or was empty where the call
// expects a document. It unwraps to io.ErrUnexpectedEOF, so that error
// classifiers treat it as the dropped connection it is. Its text never
// contains the body.
type IncompleteError struct {
	StatusCode int
	Problem    string // "a body cut short" or "an empty body"
}

func (e *IncompleteError) Error() string {
	return "incomplete response: " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode) + " with " + e.Problem
}

// Unwrap reports the fault as an unexpected end of the response.
func (e *IncompleteError) Unwrap() error { return io.ErrUnexpectedEOF }

// Always is the rule for services whose every 2xx answer carries a
// document (Key Vault, Entra ID, managed identity endpoints).
func Always(*http.Request) bool { return true }

// CompleteBody returns a per-retry policy that sends each attempt with a copy
// of the request body of its own, downloads the body of every
// 2xx response itself and fails the attempt with an *IncompleteError when
// the body is cut short or, for requests that wantBody accepts, empty. The
// error comes back from the attempt like a transport error, so the retry
// policy above retries it: azcore's own download retries a cut-short body
// only for GET, PUT and DELETE, where a dropped connection is retried for
// every method. A body that arrived whole but is no document of the kind
// expected (a proxy's login page) is left to the caller to refuse: that is
// a wrong endpoint, which retrying does not mend. Place the policy after
// any policy that counts attempts, so that it sees this one fail.
func CompleteBody(wantBody func(*http.Request) bool) policy.Policy {
	return completeBody{wantBody}
}

type completeBody struct{ wantBody func(*http.Request) bool }

func (p completeBody) Do(req *policy.Request) (*http.Response, error) {
	if err := ownBody(req); err != nil {
		return nil, err
	}
	// azcore downloads bodies below every custom policy; skipping that for
	// successes lets this policy own the read and its error.
	runtime.SkipBodyDownload(req)
	resp, err := req.Next()
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	body, err := runtime.Payload(resp)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &IncompleteError{StatusCode: resp.StatusCode, Problem: "a body cut short"}
	case err != nil:
		return nil, err // a reset, a timeout: the transport's own error
	case len(body) == 0 && resp.StatusCode != http.StatusNoContent && req.Raw().Method != http.MethodHead && p.wantBody(req.Raw()):
		return nil, &IncompleteError{StatusCode: resp.StatusCode, Problem: "an empty body"}
	}
	return resp, nil
}

// ownBody gives this attempt a reader of its own over the request body. Go's
// transport may still be sending an attempt's body after its answer came (a
// server that answers before it has read the body, as one cutting the answer
// short can); azcore rewinds its one body reader for the next attempt, which
// would race with that send and could steal the retry's bytes. The transport
// never sees the reader azcore rewinds, only these copies.
func ownBody(req *policy.Request) error {
	body := req.Body()
	if body == nil {
		return nil
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	req.Raw().Body = io.NopCloser(bytes.NewReader(b))
	req.Raw().GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
}
