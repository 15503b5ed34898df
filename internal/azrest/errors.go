package azrest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/wire"
)

// ErrInvalidArgument marks an error raised before anything was sent because
// an argument (a path parameter or the request) is malformed.
var ErrInvalidArgument = errors.New("invalid argument")

// ErrPaging marks an error for a listing whose next page rotatord refused
// to ask for: a link that would take the token off the API (another scheme,
// host or path), a page read before, or more pages than any listing has.
// Nothing was sent for the refused page, and asking again would not help.
var ErrPaging = errors.New("next page refused")

// ErrLinkRefused marks an error for a link other than a next page that
// rotatord refused to follow for the same reasons as ErrPaging's (a
// long-running operation's Location). Nothing was sent to it.
var ErrLinkRefused = errors.New("link refused")

// Failure is one failed call as the core saw it, for Service.Fail to make
// the service's error of. Either Response is set — a non-2xx answer that is
// not sent again — or Err.
type Failure struct {
	Op string // the call's operation

	// The non-2xx answer, its body already read into Body (bounded by
	// wire.MaxErrorBody), and the client's clock when it came, for
	// Retry-After dates.
	Response *http.Response
	Body     []byte
	Now      time.Time
	// WaitLonger: the service asked to wait beyond MaxRetryAfter
	// (ThrottleDelay), so only a later tick, not another attempt now, may
	// call again.
	WaitLonger bool

	// Or what failed without an answer to read: a transport failure, a
	// refused page or link, a 2xx that is not the document due (then
	// StatusCode is its status; 0 otherwise), with the hint for it.
	StatusCode int
	Err        error
	Hint       string
}

// Retryable is the rule of every service error's Retryable method: whether
// the call is worth another try in a later attempt or tick. 408, 429, 5xx
// and transport failures are. Bad requests, missing rights, unknown ids,
// invalid arguments, cancellation, the endpoint faults package wire refuses
// (a redirect to another host, a body over its limit, a certificate that
// does not verify), a refused page or link, and a Retry-After beyond
// MaxRetryAfter (waitLonger) are not.
func Retryable(status int, err error, waitLonger bool) bool {
	switch {
	case status == 0:
		return err != nil && !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrPaging) &&
			!errors.Is(err, ErrLinkRefused) && !errors.Is(err, context.Canceled) && !wire.Final(err)
	case waitLonger:
		return false
	default:
		return RetryableStatus(status)
	}
}

// RetryableStatus is the status set the retry policy retries.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599
}

// ThrottleDelay is how long a 429 or 503 asked to wait (its Retry-After),
// 0 for any other answer or without a usable Retry-After.
func ThrottleDelay(resp *http.Response, now time.Time) time.Duration {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	d, _ := RetryAfter(resp, now)
	return d
}

// ErrorText is what an error of a service client says, in the one format
// they share: "pbi: Op: 400 Bad Request, code C, native error N, request
// id R, retry after D: "message": err (hint)", each part only when set.
type ErrorText struct {
	Package    string // "pbi", "fabric"
	Operation  string
	StatusCode int
	Code       string
	NativeCode string
	RequestID  string
	RetryAfter time.Duration
	Message    string
	Err        error
	Hint       string
}

func (t ErrorText) String() string {
	var b strings.Builder
	b.WriteString(t.Package)
	b.WriteString(": ")
	b.WriteString(t.Operation)
	if t.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", t.StatusCode, http.StatusText(t.StatusCode))
	}
	if t.Code != "" {
		b.WriteString(", code ")
		b.WriteString(t.Code)
	}
	if t.NativeCode != "" {
		b.WriteString(", native error ")
		b.WriteString(t.NativeCode)
	}
	if t.RequestID != "" {
		b.WriteString(", request id ")
		b.WriteString(t.RequestID)
	}
	if t.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", t.RetryAfter)
	}
	if t.Message != "" {
		fmt.Fprintf(&b, ": %q", t.Message)
	}
	if t.Err != nil {
		b.WriteString(": ")
		b.WriteString(t.Err.Error())
	}
	if t.Hint != "" {
		b.WriteString(" (")
		b.WriteString(t.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// RequestID is the request id of an answer's headers (RequestId, as Power
// BI and Fabric send it, or x-ms-request-id), if identifier-like.
func RequestID(h http.Header) string { return FirstHeader(h, "RequestId", "X-Ms-Request-Id") }

// FirstHeader returns the first of the named headers h has, if
// identifier-like (CleanCode), else "".
func FirstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return CleanCode(v)
		}
	}
	return ""
}

// CleanCode keeps an identifier-like value (error codes, request ids) and
// drops anything else.
func CleanCode(s string) string {
	if len(s) > 128 {
		return ""
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return s
}

// CleanSafeCode is CleanCode, and "" when the code holds a secret of ctx: a
// code is no place for a secret, but an echoing service could put one
// there, and an identifier-like password passes CleanCode.
func CleanSafeCode(ctx context.Context, s string) string {
	s = CleanCode(s)
	if secret.Leaks(ctx, s) {
		return ""
	}
	return s
}

// MaxMessage bounds the runes of a service message kept in an error.
const MaxMessage = 300

// CleanMessage is what an error may keep of a service's message: one line
// of printable text, cut to MaxMessage runes (and an ellipsis). It drops a
// message that holds a secret of ctx: what is left of it around the secret
// could still say too much (a connection string).
func CleanMessage(ctx context.Context, s string) string {
	if secret.Leaks(ctx, s) {
		return ""
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > MaxMessage {
		s = string(r[:MaxMessage]) + "…"
	}
	return s
}

// Hints are the hints for the failures every service has, naming the
// service and the inventory key of its API URL so that an operator knows
// where to look.
type Hints struct {
	BadRequest   string // 400
	Unauthorized string // 401 after the re-send with a fresh token
	Throttled    string // 429
	Server       string // 5xx
	Transport    string // no answer
	Token        string // no token
	Incomplete   string // a 2xx cut short or empty
	Redirect     string // wire.RedirectError
	TooLarge     string // wire.TooLargeError, or a listing over its bytes
	TLS          string // wire.TLSError
	Unexpected   string // a 2xx that is not the document due
	TooManyPages string // a listing past MaxPages

	name, key string
}

// MakeHints returns the hints of the service named name (as in "could not
// reach Power BI") whose API URL the inventory key apiURLKey sets.
func MakeHints(name, apiURLKey string) Hints {
	return Hints{
		BadRequest:   "request rejected — check the values sent",
		Unauthorized: "token rejected — check tenant and that the service principal is allowed to use " + name + " APIs",
		Throttled:    "throttled by " + name + " — wait for Retry-After before calling again",
		Server:       name + " service error — retried; try again later",
		Transport:    "could not reach " + name + " — check network, proxy and " + apiURLKey,
		Token:        "could not acquire a token for " + name + " — check the auth settings",
		Incomplete:   name + "'s answer arrived incomplete — is a proxy between rotatord and " + name + " cutting responses?",
		Redirect:     name + "'s answer redirected rotatord to another host, which it refuses — check " + apiURLKey + " and any proxy in between",
		TooLarge:     name + "'s answer was larger than any it sends — check " + apiURLKey + " and any proxy in between",
		TLS:          name + "'s certificate did not verify for the host asked for — check " + apiURLKey + ", and SSL_CERT_FILE behind a TLS-inspecting proxy",
		Unexpected:   "unexpected response — is " + apiURLKey + " the " + name + " API?",
		TooManyPages: fmt.Sprintf("the listing ran past %d pages, more than any %s listing has: %s or a proxy keeps sending next-page links — try again later", MaxPages, name, name),
		name:         name,
		key:          apiURLKey,
	}
}

// Link is the hint for a link refused for problem p; what names the link
// as the answer gave it: "next-page link (@odata.nextLink)", "operation
// link (Location)".
func (h Hints) Link(p LinkProblem, what string) string {
	switch p {
	case LinkNotHTTPS:
		return h.name + "'s " + what + " is not an absolute https URL, and rotatord sends its token over https only — check " + h.key + " and any proxy in between"
	case LinkOffHost:
		return h.name + "'s " + what + " points to another host than " + h.key + ", and rotatord sends its token to no other — check " + h.key + " and any proxy in between"
	case LinkOffPath:
		return h.name + "'s " + what + " points outside " + h.key + "'s path, where rotatord sends no token — check " + h.key + " and any proxy in between"
	case LinkLoop:
		return h.name + "'s " + what + " points back to a page of this listing already read, so it would never end — try again later"
	}
	return ""
}

// The hints for the connstatus reasons a connection test answers with.
const (
	hintGatewayUnreachable    = "the gateway did not answer — is it running and online? The credential is not to blame"
	hintRejected              = "the data source refused the login — wrong password in the secret, account locked or expired, or the database's password changed without Key Vault"
	hintDatasourceUnreachable = "the gateway could not reach the database — check the server name, firewall and that the database is up; the credential is not to blame"
	hintDatasourceError       = "the gateway could not use the data source — see the message"
)

// ReasonHint is the hint for a connection test that failed for reason, one
// of package connstatus's; "" for any other.
func ReasonHint(reason string) string {
	switch reason {
	case connstatus.GatewayUnreachable:
		return hintGatewayUnreachable
	case connstatus.Rejected:
		return hintRejected
	case connstatus.DatasourceUnreachable:
		return hintDatasourceUnreachable
	case connstatus.DatasourceError:
		return hintDatasourceError
	}
	return ""
}

// IsUUID reports whether s is a UUID in the 8-4-4-4-12 hex form in which
// Power BI, Fabric and Entra ID print their ids.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
