package wire

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// pipeline is a client's pipeline as rotatord builds them: CompleteBody
// below azcore's retry policy, which may retry up to 3 times, and bodies
// bounded by limit.
func pipeline(c *http.Client, limit int64) runtime.Pipeline {
	return runtime.NewPipeline("wiretest", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{CompleteBody(Always)}},
		&policy.ClientOptions{Transport: LimitBodies(c, limit), Retry: policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond}})
}

// recorder counts the requests a server receives.
func recorder(n *atomic.Int32, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}
}

// TestKeepOriginRefusesAnotherOrigin: a 307 to another port of the same
// host, or another host, is refused before anything is sent there (the
// bearer token and the body would go along), with an error naming both
// origins and nothing of the URLs' paths and queries, and is not retried.
func TestKeepOriginRefusesAnotherOrigin(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewUnstartedServer(recorder(&elsewhere, func(http.ResponseWriter, *http.Request) {}))
	other.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain-HTTP case's failed handshakes, when broken
	other.StartTLS()
	defer other.Close()
	for name, to := range map[string]string{
		"another port": other.URL,
		"another host": strings.Replace(other.URL, "127.0.0.1", "localhost", 1),
		"plain http":   strings.Replace(other.URL, "https", "http", 1),
	} {
		t.Run(name, func(t *testing.T) {
			var home atomic.Int32
			srv := httptest.NewUnstartedServer(recorder(&home, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, to+"/next?sig=SECRETSIG", http.StatusTemporaryRedirect)
			}))
			srv.StartTLS() // httptest's one certificate, which other.Client() trusts
			defer srv.Close()
			req, err := runtime.NewRequest(context.Background(), http.MethodPatch, srv.URL+"/datasource?token=SECRETTOKEN")
			if err != nil {
				t.Fatal(err)
			}
			req.Raw().Header.Set("Authorization", "Bearer SECRETBEARER")
			_, err = pipeline(KeepOrigin(other.Client()), 1<<20).Do(req)
			var re *RedirectError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a *RedirectError", err)
			}
			if want := "refused a redirect from " + srv.URL + " to " + to; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "next") || strings.Contains(err.Error(), "datasource") {
				t.Errorf("error %q quotes a path or query", err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the other origin received %d requests", n)
			}
			if n := home.Load(); n != 1 {
				t.Errorf("%d requests to the origin, want 1: a refused redirect is not retried", n)
			}
		})
	}
}

// TestKeepOriginFollowsTheSameOrigin: a redirect within the origin (a
// service moving a path) is followed as before, body and all.
func TestKeepOriginFollowsTheSameOrigin(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new?x=1", http.StatusPermanentRedirect)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.URL.Path+" "+string(b))
	}))
	defer srv.Close()
	req, err := runtime.NewRequest(context.Background(), http.MethodPost, srv.URL+"/old")
	if err != nil {
		t.Fatal(err)
	}
	if err := req.SetBody(streaming.NopCloser(strings.NewReader("payload")), "text/plain"); err != nil {
		t.Fatal(err)
	}
	resp, err := pipeline(KeepOrigin(srv.Client()), 1<<20).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := runtime.Payload(resp); string(b) != "/new payload" {
		t.Errorf("got %q, want the redirect followed with its body", b)
	}
}

// TestKeepOriginKeepsTheClient: the copy keeps the client's transport and
// leaves the client itself alone.
func TestKeepOriginKeepsTheClient(t *testing.T) {
	c := &http.Client{Transport: &http.Transport{}, Timeout: time.Second}
	k := KeepOrigin(c)
	if k == c || k.Transport != c.Transport || k.Timeout != c.Timeout || c.CheckRedirect != nil {
		t.Error("KeepOrigin changed the client or lost its settings")
	}
}

// TestTLSHostnameMismatchIsFinal: a certificate for other names is a
// *TLSError naming the host asked for and the certificate's names, and is
// not retried.
func TestTLSHostnameMismatchIsFinal(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	// httptest's certificate is for 127.0.0.1, ::1 and example.com.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/x?sig=SECRET"
	req, err := runtime.NewRequest(context.Background(), http.MethodGet, u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pipeline(srv.Client(), 1<<20).Do(req)
	var te *TLSError
	var he x509.HostnameError
	if !errors.As(err, &te) || !errors.As(err, &he) {
		t.Fatalf("error %v, want a *TLSError around an x509.HostnameError", err)
	}
	for _, want := range []string{"localhost", "example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q quotes the query", err)
	}
	if !Final(err) {
		t.Error("not Final")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: a certificate that does not verify is not retried", n)
	}
}
