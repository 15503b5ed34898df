package emulator

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestCAServesTrustedHTTPS(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.URL.Path)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %q, want https://127.0.0.1:PORT", srv.URL)
	}

	client := ca.Client()
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/x")
	if err != nil {
		t.Fatalf("GET with the CA's client: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello /x" {
		t.Errorf("body = %q", body)
	}

	// A client that does not trust the CA must fail the handshake.
	untrusting := &http.Client{Transport: &http.Transport{}}
	defer untrusting.CloseIdleConnections()
	_, err = untrusting.Get(srv.URL)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("GET without the CA: err = %v, want x509.UnknownAuthorityError", err)
	}

	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCAPEMVerifiesLeafNames(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(ca.PEM())
	if block == nil || len(rest) != 0 || block.Type != "CERTIFICATE" {
		t.Fatalf("PEM() is not exactly one certificate block")
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !root.IsCA {
		t.Error("PEM() certificate is not a CA")
	}
	leaf, err := x509.ParseCertificate(ca.leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	// The roots a child process reads from SSL_CERT_FILE=PEM().
	roots := x509.NewCertPool()
	roots.AddCert(root)
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("leaf does not verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("leaf verifies for example.com; want only loopback names")
	}
}

func TestListenWithoutStartCloses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close of an unstarted server: %v", err)
	}
}

func TestCloseEndsParkedRequests(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	srv, err := ca.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // like a Latency fault
		panic(http.ErrAbortHandler)
	}))
	if err != nil {
		t.Fatal(err)
	}
	client := ca.Client()
	defer client.CloseIdleConnections()
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-done
}

// TestLeafForOtherNames: a leaf for other names is trusted, and refused
// for the loopback address it is served on.
func TestLeafForOtherNames(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.LeafFor("powerbi.invalid")
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Verify(x509.VerifyOptions{Roots: ca.pool, DNSName: "powerbi.invalid"}); err != nil {
		t.Errorf("not trusted for its name: %v", err)
	}
	var he x509.HostnameError
	if _, err := x.Verify(x509.VerifyOptions{Roots: ca.pool, DNSName: "127.0.0.1"}); !errors.As(err, &he) {
		t.Errorf("for 127.0.0.1: %v, want an x509.HostnameError", err)
	}
}

// TestLeafForAnAddress: a name that is an IP address goes into the IP SANs,
// so a client dialling that address trusts the leaf; it is no DNS name.
func TestLeafForAnAddress(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.LeafFor("127.0.0.1", "azurite.invalid")
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "azurite.invalid"} {
		if _, err := x.Verify(x509.VerifyOptions{Roots: ca.pool, DNSName: name}); err != nil {
			t.Errorf("not trusted for %s: %v", name, err)
		}
	}
	if len(x.DNSNames) != 1 || len(x.IPAddresses) != 1 {
		t.Errorf("DNS SANs %q, IP SANs %v; want one of each", x.DNSNames, x.IPAddresses)
	}
}
