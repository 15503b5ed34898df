package wire

import (
	"crypto/tls"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// NewClient is the HTTP client for every service rotatord calls, as azcore's
// default would be (the standard transport, proxies from the environment),
// with TLS 1.2 or later, no redirect off the origin a request was sent to
// (KeepOrigin), and up to idle connections per host (at least 2) kept open:
// over HTTP/1.1 the standard 2 made every request beyond the second of a
// burst of max_concurrency open a new connection and pay a TLS handshake
// (20% of the CPU of BenchmarkFleet, client and server side).
func NewClient(idle int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = max(idle, http.DefaultMaxIdleConnsPerHost)
	tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	return KeepOrigin(&http.Client{Transport: tr})
}

// Comment returns t adding comment, in parentheses, to each request's
// User-Agent.
func Comment(t policy.Transporter, comment string) policy.Transporter {
	return commented{t, " (" + comment + ")"}
}

type commented struct {
	next    policy.Transporter
	comment string
}

func (c commented) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("User-Agent", r.Header.Get("User-Agent")+c.comment)
	return c.next.Do(r)
}
