package daemon

import (
	"crypto/tls"
	"io"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/wire"
)

// limitTransport bounds the number of requests in flight to max_concurrency.
// It sits below azcore's retry policy, so a call waiting out a Retry-After
// holds no slot. A slot is held until the response body is closed.
type limitTransport struct {
	next  policy.Transporter
	slots chan struct{}
}

func newLimitTransport(next policy.Transporter, n int) *limitTransport {
	return &limitTransport{next: next, slots: make(chan struct{}, max(n, 1))}
}

func (t *limitTransport) Do(req *http.Request) (*http.Response, error) {
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

// defaultClient is what azcore would use: the standard transport, proxies
// from the environment, TLS 1.2 or later, and up to idle connections per
// host (at least 2) kept open: over HTTP/1.1 the standard 2 made every request beyond
// the second of a burst of max_concurrency open a new connection and pay a
// TLS handshake (20% of the CPU of BenchmarkFleet, client and server side).
// Unlike azcore's, it follows no redirect off the host a request was sent to
// (wire.KeepOrigin).
func defaultClient(idle int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = max(idle, http.DefaultMaxIdleConnsPerHost)
	tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	return wire.KeepOrigin(&http.Client{Transport: tr})
}
