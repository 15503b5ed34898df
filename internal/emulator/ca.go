package emulator

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
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// CA is a throwaway certificate authority with one leaf certificate for the
// loopback names. The Azure SDK refuses to send bearer tokens over plain
// HTTP, so every emulated Azure service speaks HTTPS with this leaf; clients
// trust it through Client() in-process, or through SSL_CERT_FILE=PEM() in a
// child process.
type CA struct {
	certPEM []byte
	pool    *x509.CertPool
	leaf    tls.Certificate
	cert    *x509.Certificate // the CA's, to sign leaves for other names
	key     *ecdsa.PrivateKey
}

// NewCA generates an ECDSA P-256 CA and a leaf for 127.0.0.1, ::1 and
// localhost, both valid from an hour ago for a week.
func NewCA() (*CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator ca: generate CA key: %w", err)
	}
	// Backdate by an hour so a slightly skewed child process still accepts it.
	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(7 * 24 * time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: "rotatord emulator CA", Organization: []string{"rotatord"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("emulator ca: self-sign CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("emulator ca: parse CA: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator ca: generate leaf key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("emulator ca: sign leaf: %w", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &CA{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:    pool,
		leaf:    tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
		cert:    caCert,
		key:     caKey,
	}, nil
}

// LeafFor returns a leaf signed by the CA for the given names only: for a
// server whose certificate is trusted but not for the name its clients ask
// for, or for a server the CA's own leaf cannot be handed to (a child
// process such as Azurite, which needs the key in a file). A name that parses
// as an IP address goes into the IP SANs, where a client dialling that
// address looks for it; the rest are DNS names.
func (c *CA) LeafFor(names ...string) (tls.Certificate, error) {
	var dns []string
	var ips []net.IP
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, n)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("emulator ca: generate leaf key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    c.cert.NotBefore,
		NotAfter:     c.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("emulator ca: sign leaf: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key}, nil
}

func serialNumber() *big.Int {
	// 128 random bits; rand.Int only fails if the system RNG does, which is fatal anyway.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("emulator ca: read random serial: %v", err))
	}
	return n
}

// PEM returns the CA certificate in PEM form, e.g. for SSL_CERT_FILE.
func (c *CA) PEM() []byte { return append([]byte(nil), c.certPEM...) }

// Client returns a new HTTP client that trusts only the CA. It satisfies
// azcore's policy.Transporter, so it can be passed as the SDKs' Transport.
func (c *CA) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: c.pool.Clone(), MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// Server is an HTTPS server on a loopback port, signed by the CA.
type Server struct {
	// URL is the base URL, https://127.0.0.1:PORT, without a trailing slash.
	URL string

	ln      net.Listener
	srv     *http.Server
	cancel  context.CancelFunc
	started bool
	done    chan struct{}
	once    sync.Once
	err     error
}

// Serve starts an HTTPS server for h on 127.0.0.1 with a free port.
func (c *CA) Serve(h http.Handler) (*Server, error) {
	s, err := c.Listen()
	if err != nil {
		return nil, err
	}
	s.Start(h)
	return s, nil
}

// Listen reserves a loopback port without serving yet, for handlers that need
// the server's URL before they can be built (e.g. a Key Vault whose challenge
// resource depends on the port). Call Start to serve, and Close in any case.
func (c *CA) Listen() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on loopback: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg := &tls.Config{Certificates: []tls.Certificate{c.leaf}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	return &Server{
		URL: "https://" + ln.Addr().String(),
		ln:  tls.NewListener(ln, cfg),
		srv: &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			// Cancelling the base context releases handlers parked in an
			// injected Latency fault, so Close never waits for them.
			BaseContext: func(net.Listener) context.Context { return ctx },
			// Clients that distrust the CA (tested on purpose) would otherwise
			// spray "TLS handshake error" lines over the test output.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		cancel: cancel,
		done:   make(chan struct{}),
	}, nil
}

// Start serves h on the reserved port. It must be called at most once.
func (s *Server) Start(h http.Handler) {
	s.srv.Handler = h
	s.started = true
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
}

// Close stops the server, ends in-flight requests, and waits until its
// goroutines are gone. It is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		if !s.started {
			s.err = s.ln.Close()
			close(s.done)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
	return s.err
}
