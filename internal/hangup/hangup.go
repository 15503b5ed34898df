// Package hangup lets tests check what a test server does for a client that
// has given up on a request: a server that stalls (a fault, a fake's
// scripted delay) must answer nothing once the client has gone. Returning
// from the handler instead makes Go's server send an implicit 200 with an
// empty body, which a client that is still reading takes for a success; that
// is how a stalled fake once failed a retry test by chance.
package hangup

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Answer sends req over TLS with conf, then ends its side of the connection
// with a TLS close_notify, which cancels the request's context on the server
// as a client that gives up does. It returns everything the server sent
// after that: nothing, from a server that aborts its answer.
func Answer(t testing.TB, req *http.Request, conf *tls.Config) []byte {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", req.URL.Host, conf)
	if err != nil {
		t.Fatalf("dialing %s: %v", req.URL.Host, err)
	}
	defer conn.Close()
	// Ends the read below if the server neither answers nor closes; a
	// server that answers does so at once.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if err := req.Write(conn); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatalf("hanging up: %v", err)
	}
	got, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server neither answered nor closed the connection in a minute")
	}
	return got
}
