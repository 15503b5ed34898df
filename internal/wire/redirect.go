package wire

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// maxRedirects is net/http's own limit, which a CheckRedirect replaces.
const maxRedirects = 10

// KeepOrigin returns a copy of c that follows a redirect only to the scheme,
// host and port its request was sent to. A redirect anywhere else fails the
// request with a *RedirectError before anything is sent there: net/http
// would take the request's body along on a 307 or 308, and the bearer token
// too when only the port changes. Every client of the daemon's (Power BI,
// Key Vault, Entra ID, managed identity, and any added later) must be given
// a client from here.
func KeepOrigin(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if from, to := origin(via[0].URL), origin(req.URL); from != to {
			return &RedirectError{From: from, To: to}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// origin is u's scheme://host:port, with the scheme's default port made
// explicit, so that https://h and https://h:443 are the same origin. It
// drops everything else: user info, path, query.
func origin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// RedirectError is a redirect refused for leaving the origin the request was
// sent to. From and To are origins (scheme://host:port) only: a Location's
// path and query may carry what a log must not.
type RedirectError struct {
	From, To string
}

func (e *RedirectError) Error() string {
	return "refused a redirect from " + e.From + " to " + e.To
}

// NonRetriable stops azcore's retry policy: the endpoint would only redirect
// again.
func (*RedirectError) NonRetriable() {}

// TLSError is a server certificate that does not verify: not for the host
// asked for, not from a trusted authority, or otherwise invalid. Retrying
// does not change a certificate. Err is the x509 error, whose text names the
// host asked for and the names the certificate is valid for.
type TLSError struct {
	Origin string // scheme://host:port asked for
	Err    error
}

func (e *TLSError) Error() string {
	var he x509.HostnameError
	if errors.As(e.Err, &he) && he.Certificate != nil {
		// x509's own text names no DNS name when an IP was asked for.
		if names := certNames(he.Certificate); names != "" {
			return "tls: " + e.Origin + ": the certificate is for " + names + ", not " + he.Host
		}
	}
	return "tls: " + e.Origin + ": " + e.Err.Error()
}

// maxNames bounds the names of a certificate an error lists.
const maxNames = 5

// certNames lists the DNS and IP names c is valid for, the first maxNames
// of them.
func certNames(c *x509.Certificate) string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) > maxNames {
		return strings.Join(names[:maxNames], ", ") + " and " + strconv.Itoa(len(names)-maxNames) + " more"
	}
	return strings.Join(names, ", ")
}

// Unwrap returns the x509 error.
func (e *TLSError) Unwrap() error { return e.Err }

// NonRetriable stops azcore's retry policy.
func (*TLSError) NonRetriable() {}

// refusal turns a transport error of req that retrying cannot mend into its
// own error, dropping net/http's *url.Error around it, whose text quotes the
// whole URL, query string included. Any other error comes back as it is.
func refusal(req *http.Request, err error) error {
	var (
		redirect  *RedirectError
		hostname  x509.HostnameError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	var large *TooLargeError
	switch {
	case errors.As(err, &large):
		return large // from azcore's download of an error body
	case errors.As(err, &redirect):
		return redirect
	case errors.As(err, &hostname):
		return &TLSError{Origin: origin(req.URL), Err: hostname}
	case errors.As(err, &authority):
		return &TLSError{Origin: origin(req.URL), Err: authority}
	case errors.As(err, &invalid):
		return &TLSError{Origin: origin(req.URL), Err: invalid}
	case errors.As(err, &verify):
		return &TLSError{Origin: origin(req.URL), Err: verify.Err}
	}
	return err
}

// The reasons of this package's refusals, as rotation failures and metric
// labels name them.
const (
	ReasonRedirect = "redirect"           // *RedirectError
	ReasonTooLarge = "response_too_large" // *TooLargeError
	ReasonTLS      = "tls"                // *TLSError
)

// Reason names the refusal err holds, "" if it holds none: every client's
// classification starts here, so that one fault has one reason everywhere.
func Reason(err error) string {
	switch {
	case errors.As(err, new(*RedirectError)):
		return ReasonRedirect
	case errors.As(err, new(*TooLargeError)):
		return ReasonTooLarge
	case errors.As(err, new(*TLSError)):
		return ReasonTLS
	}
	return ""
}

// Final reports whether err is one of this package's refusals, a fault of
// the endpoint that asking again does not mend, only an operator: a
// redirect off its origin, a body over its limit, a certificate that does
// not verify.
func Final(err error) bool { return Reason(err) != "" }

type refusalsKey struct{}

// refusals holds the first refusal made on calls with one context.
type refusals struct {
	mu  sync.Mutex
	err error
}

// NoteRefusals returns ctx carrying a note of the refusals (*RedirectError,
// *TooLargeError, *TLSError) CompleteBody makes on requests with it, and a
// function that returns the first of them, or nil. It is for callers of a
// client that turns its transport's errors into text, as MSAL does for
// Entra ID and managed identity tokens: the note keeps their type, so that
// the failure is reported as what it is.
func NoteRefusals(ctx context.Context) (context.Context, func() error) {
	r := &refusals{}
	return context.WithValue(ctx, refusalsKey{}, r), func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	}
}

// note records err in ctx's note of refusals, if it has one, and returns it.
func note(ctx context.Context, err error) error {
	if r, ok := ctx.Value(refusalsKey{}).(*refusals); ok {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return err
}
