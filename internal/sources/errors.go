package sources

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	"github.com/rotatord/rotatord/internal/wire"
)

// Sources named in Error.Source.
const (
	SourceKeyVault = "keyvault"
	SourceEntra    = "entra"
	SourceFile     = "file"
	SourceEnv      = "env"
)

// Reasons in Error.Reason. They are stable: metrics labels and alerts use them.
const (
	ReasonNotFound          = "not_found"          // no such secret, file or variable
	ReasonDisabled          = "disabled"           // Key Vault secret version disabled
	ReasonExpired           = "expired"            // Key Vault exp attribute in the past
	ReasonNotYetValid       = "not_yet_valid"      // Key Vault nbf attribute in the future
	ReasonForbidden         = "forbidden"          // authenticated, but not allowed
	ReasonUnauthorized      = "unauthorized"       // rotatord's identity could not authenticate
	ReasonThrottled         = "throttled"          // 429
	ReasonUnavailable       = "unavailable"        // 5xx, 408, dropped connection
	ReasonUnreachable       = "unreachable"        // DNS or connect failure
	ReasonTimeout           = "timeout"            // deadline exceeded
	ReasonCanceled          = "canceled"           // context canceled (shutdown)
	ReasonTLS               = wire.ReasonTLS       // certificate not trusted or wrong host
	ReasonRedirect          = wire.ReasonRedirect  // redirected to another scheme, host or port, refused
	ReasonResponseTooLarge  = wire.ReasonTooLarge  // answer body over the limit of its call
	ReasonChallengeMismatch = "challenge_mismatch" // vault answered for another resource
	ReasonWorldReadable     = "world_readable"     // secret file readable by every user
	ReasonWritableByOthers  = "writable_by_others" // secret file its group or every user may write
	ReasonNotRegular        = "not_regular"        // secret file is a FIFO, device, directory...
	ReasonFileTooLarge      = "file_too_large"     // secret file over MaxFileSize
	ReasonEmpty             = "empty"              // value present but empty
	ReasonInvalid           = "invalid"            // bad name, URL or request
	ReasonFailed            = "failed"             // anything else
)

// Error is a failure to fetch a secret or token. Its text never contains
// secret material or response bodies.
type Error struct {
	Source   string // SourceKeyVault, SourceEntra, SourceFile or SourceEnv
	Resource string // vault URL + secret name, token scope, file path or variable name
	Reason   string // one of the Reason constants
	Hint     string // what the operator can do about it; may be empty
	Err      error  // the cause; its text is safe to print
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Resource != "" {
		b.WriteString(" ")
		b.WriteString(e.Resource)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again later, without operator action,
// may succeed.
func (e *Error) Retryable() bool {
	switch e.Reason {
	case ReasonThrottled, ReasonUnavailable, ReasonUnreachable, ReasonTimeout, ReasonNotYetValid:
		return true
	}
	return false
}

// safeError carries a message composed here in front of an SDK error whose
// own text may include a response body. errors.As still reaches the SDK
// error through Unwrap.
type safeError struct {
	msg   string
	cause error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.cause }

// jwtPattern matches JWT-shaped strings (access tokens, federated
// assertions) so they can be cut out of SDK messages we pass on.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// scrub removes token-shaped text and keeps the first line of an SDK message.
func scrub(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	return jwtPattern.ReplaceAllString(msg, "[token]")
}

// transportReason classifies errors that happen below HTTP. It returns ""
// for anything else.
func transportReason(err error) string {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		dns              *net.DNSError
		op               *net.OpError
	)
	if r := wire.Reason(err); r != "" {
		return r
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &record):
		// Not made a *wire.TLSError: a client without wire.CompleteBody,
		// or TLS spoken to a server that does not speak it.
		return ReasonTLS
	case errors.As(err, &dns), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.As(err, &op) && op.Op == "dial":
		return ReasonUnreachable
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return ReasonUnavailable
	}
	return ""
}

// statusReason maps an HTTP status of a failed call to a reason.
func statusReason(status int) string {
	switch {
	case status == 401:
		return ReasonUnauthorized
	case status == 403:
		return ReasonForbidden
	case status == 404:
		return ReasonNotFound
	case status == 429:
		return ReasonThrottled
	case status == 408 || status >= 500:
		return ReasonUnavailable
	case status >= 400:
		return ReasonInvalid
	}
	return ReasonFailed
}

// transportHint is the advice for a transport-level reason, or "".
func transportHint(reason, host string) string {
	switch reason {
	case ReasonTLS:
		return "is the CA of " + host + " trusted, and the certificate for its name? point SSL_CERT_FILE at a bundle that includes the CA"
	case ReasonRedirect:
		return host + " redirected to another host, which rotatord refuses; check the URL and any proxy in between"
	case ReasonResponseTooLarge:
		return host + " sent an answer larger than any it should; check the URL and any proxy in between"
	case ReasonUnreachable:
		return "cannot connect to " + host + "; check DNS, firewall and private endpoint"
	case ReasonTimeout:
		return "no answer from " + host + " in time"
	case ReasonUnavailable:
		return host + " failed or dropped the connection; rotatord retries with backoff"
	case ReasonThrottled:
		return host + " is throttling; rotatord retries with backoff"
	}
	return ""
}
