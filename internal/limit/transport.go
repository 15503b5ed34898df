package limit

import (
	"io"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Transport passes requests to the next transport, at most n at a time.
type Transport struct {
	next  policy.Transporter
	slots chan struct{}
}

var _ policy.Transporter = (*Transport)(nil)

// NewTransport returns a Transport allowing n requests in flight through
// next; n below 1 means 1.
func NewTransport(next policy.Transporter, n int) *Transport {
	return &Transport{next: next, slots: make(chan struct{}, max(n, 1))}
}

// Do waits for a slot, or for the request's context to end, and sends req.
// The slot is freed when the response body is closed, or at once when
// there is none.
func (t *Transport) Do(req *http.Request) (*http.Response, error) {
	select {
	case t.slots <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	release := sync.OnceFunc(func() { <-t.slots })
	resp, err := t.next.Do(req)
	if err != nil || resp == nil || resp.Body == nil {
		release()
		return resp, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	defer b.release()
	return b.ReadCloser.Close()
}
