package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rotatord/rotatord/internal/testutil"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start listens on a free loopback port, serves until the test ends, and
// checks that Serve returned cleanly.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Gatherer == nil {
		o.Gatherer = testRegistry(t)
	}
	s, err := Listen(o)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func testRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "rotatord_test_total", Help: "A test counter."})
	c.Add(3)
	reg.MustRegister(c)
	return reg
}

// get performs one request without keeping connections alive, so no
// transport goroutine outlives the test.
func get(t *testing.T, client *http.Client, method, url string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestEndpoints(t *testing.T) {
	s := start(t, Options{
		Healthy: func() error { return nil },
		Ready:   func() error { return errors.New("scheduler not started") },
	})
	base := "http://" + s.Addr()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	tests := map[string]struct {
		method, path string
		accept       string
		wantCode     int
		wantBody     string // substring
		wantType     string // prefix of Content-Type; "" skips
	}{
		"metrics text":           {"GET", "/metrics", "", 200, "rotatord_test_total 3", "text/plain"},
		"metrics openmetrics":    {"GET", "/metrics", "application/openmetrics-text", 200, "# EOF", "application/openmetrics-text"},
		"healthy":                {"GET", "/healthz", "", 200, "ok\n", "text/plain"},
		"not ready gives reason": {"GET", "/readyz", "", 503, "scheduler not started\n", "text/plain"},
		"no pprof":               {"GET", "/debug/pprof/", "", 404, "", ""},
		"no root page":           {"GET", "/", "", 404, "", ""},
		"metrics is read only":   {"POST", "/metrics", "", 405, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tc.accept != "" {
				h.Set("Accept", tc.accept)
			}
			code, header, body := get(t, client, tc.method, base+tc.path, h)
			if code != tc.wantCode {
				t.Errorf("status %d, want %d (body %q)", code, tc.wantCode, body)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body %q does not contain %q", body, tc.wantBody)
			}
			if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("Content-Type %q, want prefix %q", ct, tc.wantType)
			}
		})
	}
}

func TestProbesFollowChecks(t *testing.T) {
	var healthErr, readyErr error
	s := start(t, Options{
		Healthy: func() error { return healthErr },
		Ready:   func() error { return readyErr },
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		health, ready          error
		wantHealthz, wantReady string
	}{
		{nil, nil, "200 ok\n", "200 ok\n"},
		{errors.New("scheduler heartbeat 6m0s old"), errors.New("config not loaded"),
			"503 scheduler heartbeat 6m0s old\n", "503 config not loaded\n"},
		{nil, errors.New("config not loaded"), "200 ok\n", "503 config not loaded\n"},
	}
	for _, tc := range tests {
		// The server reads these only inside requests made below, one at a time.
		healthErr, readyErr = tc.health, tc.ready
		for path, want := range map[string]string{"/healthz": tc.wantHealthz, "/readyz": tc.wantReady} {
			code, _, body := get(t, client, "GET", "http://"+s.Addr()+path, nil)
			if got := strconv.Itoa(code) + " " + body; got != want {
				t.Errorf("%s with health=%v ready=%v: got %q, want %q", path, tc.health, tc.ready, got, want)
			}
		}
	}
}

func TestNilChecksMeanOK(t *testing.T) {
	s := start(t, Options{})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, _ := get(t, client, "GET", "http://"+s.Addr()+path, nil); code != 200 {
			t.Errorf("%s with nil check: %d, want 200", path, code)
		}
	}
}

func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPEM := writeSelfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths resolve against the config file's directory.
	cfg := "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n" +
		"basic_auth_users:\n  prometheus: " + string(hash) + "\n"
	cfgPath := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{WebConfigFile: cfgPath})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tlsClient := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "localhost"},
	}}
	url := "https://" + s.Addr() + "/metrics"

	auth := func(user, pass string) http.Header {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth(user, pass)
		return req.Header
	}
	tests := map[string]struct {
		header   http.Header
		wantCode int
	}{
		"no credentials": {nil, 401},
		"wrong password": {auth("prometheus", "nope"), 401},
		"unknown user":   {auth("grafana", "s3cret"), 401},
		"right password": {auth("prometheus", "s3cret"), 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, body := get(t, tlsClient, "GET", url, tc.header)
			if code != tc.wantCode {
				t.Errorf("status %d, want %d", code, tc.wantCode)
			}
			if tc.wantCode == 200 && !strings.Contains(body, "rotatord_test_total 3") {
				t.Errorf("metrics body lacks the test counter: %q", body)
			}
		})
	}

	t.Run("plain http is refused", func(t *testing.T) {
		plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		code, _, _ := get(t, plain, "GET", "http://"+s.Addr()+"/metrics", auth("prometheus", "s3cret"))
		if code != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d, want 400", code)
		}
	})
}

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := testutil.FIFO(t, filepath.Join(dir, "fifo.yml"))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := map[string]struct {
		listen, webConfig string
		wantErr           string // substring
	}{
		"port in use":      {busy.Addr().String(), "", "listen on " + busy.Addr().String() + ": bind: address already in use"},
		"bad address":      {"127.0.0.1:notaport", "", "listen on 127.0.0.1:notaport: lookup tcp/notaport: unknown port"},
		"missing file":     {"127.0.0.1:0", filepath.Join(dir, "absent.yml"), "web config file " + filepath.Join(dir, "absent.yml") + ": no such file or directory"},
		"unknown key":      {"127.0.0.1:0", write("unknown.yml", "tls_server_config:\n  certfile: x\n"), "unknown.yml"},
		"missing cert":     {"127.0.0.1:0", write("nocert.yml", "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n"), "nocert.yml"},
		"plaintext passwd": {"127.0.0.1:0", write("plain.yml", "basic_auth_users:\n  prometheus: s3cret\n"), "plain.yml"},
		// yaml's error quoted the value: `$2y$10$s3cret...` into web.TLSConfig.
		"hash in the wrong place": {"127.0.0.1:0", write("misplaced.yml", "basic_auth_users:\ntls_server_config: $2y$10$s3cretHashHashHashHashHa\n"),
			"web config file " + filepath.Join(dir, "misplaced.yml") + ": invalid YAML at line 2 (not quoted here"},
		"not a mapping": {"127.0.0.1:0", write("list.yml", "- s3cret\n"), filepath.Join(dir, "list.yml") + ": invalid YAML at line 1"},
		"dev zero":      {"127.0.0.1:0", "/dev/zero", "web config file /dev/zero: not a regular file (a device)"},
		"fifo":          {"127.0.0.1:0", fifo, "web config file " + fifo + ": not a regular file (a named pipe (FIFO))"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// A FIFO blocked the read forever: bound the call, and on failure
			// open the FIFO's other end so the stuck read ends.
			type result struct {
				s   *Server
				err error
			}
			done := make(chan result, 1)
			go func() {
				s, err := Listen(Options{Listen: tc.listen, WebConfigFile: tc.webConfig, Gatherer: prometheus.NewRegistry()})
				done <- result{s, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatalf("Listen still running after 5s")
			}
			s, err := r.s, r.err
			if err == nil {
				s.listener.Close()
				t.Fatalf("Listen succeeded, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "$2y$") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
	if _, err := Listen(Options{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("Listen without Gatherer: no error")
	}
}

// TestServeDrainsInFlightRequests checks that cancelling ctx lets a running
// request finish, then returns nil; goleak in TestMain checks nothing lingers.
func TestServeDrainsInFlightRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s, err := Listen(Options{
		Listen:   "127.0.0.1:0",
		Gatherer: prometheus.NewRegistry(),
		Ready: func() error {
			close(entered)
			<-release
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	shuttingDown := make(chan struct{})
	s.srv.RegisterOnShutdown(func() { close(shuttingDown) })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	type result struct {
		code int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + s.Addr() + "/readyz")
		if err != nil {
			got <- result{err: err}
			return
		}
		resp.Body.Close()
		got <- result{code: resp.StatusCode}
	}()
	<-entered
	cancel()
	<-shuttingDown
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.code != 200 {
		t.Errorf("in-flight request: %d, %v; want 200", r.code, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Error("listener still accepts after Serve returned")
	}
}

// writeSelfSigned writes cert.pem and key.pem for localhost/127.0.0.1 into
// dir and returns the certificate PEM.
func writeSelfSigned(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rotatord test"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}
