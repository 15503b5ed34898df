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

// MaxErrorBody bounds the body of a non-2xx answer: an error document is a
// few hundred bytes, and only its codes are read.
const MaxErrorBody = 64 << 10

// TooLargeError is a response whose body went on past the limit of its
// call. It is not retried: a server that sent one endless body sends the
// next. Its text never contains the body.
type TooLargeError struct {
	StatusCode int
	Limit      int64
}

func (e *TooLargeError) Error() string {
	return "response too large: " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode) +
		" with a body over " + strconv.FormatInt(e.Limit, 10) + " bytes"
}

// NonRetriable stops azcore's retry policy.
func (*TooLargeError) NonRetriable() {}

// LimitBodies returns next (nil: NewClient's) with every response body bounded: at most limit bytes for a
// 2xx, MaxErrorBody for any other status. Reading past the bound fails with
// a *TooLargeError, which CompleteBody returns unwrapped; the read also ends
// when the request's context does (shutdown), as net/http ends it. It must
// sit below azcore's pipeline, as a client's Transport: azcore reads every
// error body itself, before any policy of the client's sees it.
func LimitBodies(next policy.Transporter, limit int64) policy.Transporter {
	if next == nil {
		next = NewClient(0)
	}
	return limitBodies{next: next, limit: limit}
}

type limitBodies struct {
	next  policy.Transporter
	limit int64
}

func (t limitBodies) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	limit := int64(MaxErrorBody)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		limit = t.limit
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: limit + 1, err: &TooLargeError{StatusCode: resp.StatusCode, Limit: limit}}
	return resp, nil
}

// CompleteBody returns a per-retry policy that sends each attempt with a copy
// of the request body of its own and downloads the body of every response
// itself, so that every later reader gets the bytes read here (runtime.Payload
// caches them), bounded by the client's LimitBodies.
//
// It fails the attempt with an *IncompleteError when a 2xx body is cut
// short or, for requests that wantBody accepts, empty. The error comes back
// from the attempt like a transport error, so the retry policy above
// retries it: azcore's own download retries a cut-short body only for GET,
// PUT and DELETE, where a dropped connection is retried for every method. A
// body that arrived whole but is no document of the kind expected (a
// proxy's login page) is left to the caller to refuse: that is a wrong
// endpoint, which retrying does not mend.
//
// A refused redirect (KeepOrigin), a body over its bound (LimitBodies) and a
// certificate that does not verify come back as a *RedirectError, a
// *TooLargeError and a *TLSError, none retried, without the wrapping of
// net/http, whose text quotes the URL with its query string, or of azcore.
// Place the policy after any policy that counts attempts, so that it sees
// this one fail.
func CompleteBody(wantBody func(*http.Request) bool) policy.Policy {
	return completeBody{wantBody}
}

type completeBody struct{ wantBody func(*http.Request) bool }

func (p completeBody) Do(req *policy.Request) (*http.Response, error) {
	if err := ownBody(req); err != nil {
		return nil, err
	}
	// azcore downloads success bodies below every custom policy; skipping
	// that lets this policy own the read and its error. (It still reads
	// error bodies, through LimitBodies' bound.)
	runtime.SkipBodyDownload(req)
	resp, err := req.Next()
	if err != nil {
		if err = refusal(req.Raw(), err); Final(err) {
			note(req.Raw().Context(), err)
		}
		return nil, err
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	body, err := runtime.Payload(resp)
	var large *TooLargeError
	switch {
	case errors.As(err, &large):
		return nil, note(req.Raw().Context(), large)
	case ok && errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &IncompleteError{StatusCode: resp.StatusCode, Problem: "a body cut short"}
	case err != nil:
		return nil, err // a reset, a timeout, a shutdown: the transport's own error
	case ok && len(body) == 0 && resp.StatusCode != http.StatusNoContent && req.Raw().Method != http.MethodHead && p.wantBody(req.Raw()):
		return nil, &IncompleteError{StatusCode: resp.StatusCode, Problem: "an empty body"}
	}
	return resp, nil
}

// cappedBody fails a read with err once more than the limit has arrived;
// left starts at the limit plus one.
type cappedBody struct {
	io.ReadCloser
	left int64
	err  error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left <= 0 {
		return n, b.err
	}
	return n, err
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
