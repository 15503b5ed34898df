package daemon

import (
	"crypto/tls"
	"net/http"

	"github.com/rotatord/rotatord/internal/wire"
)

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
