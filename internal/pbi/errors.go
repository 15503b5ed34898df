package pbi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/wire"
)

// ErrInvalidArgument marks an *Error raised before anything was sent because
// an argument (a path parameter or the request) is malformed.
var ErrInvalidArgument = errors.New("invalid argument")

// Error is a failed Power BI call. It carries what an operator needs to act —
// status, Power BI error code, RequestId for a support ticket and a hint —
// and never the request body or a raw dump of the response.
type Error struct {
	Operation  string        // swagger operationId, e.g. "Gateways_UpdateDatasource"
	StatusCode int           // 0 for transport failures and invalid arguments
	Code       string        // Power BI error code from the body (error.code / pbi.error.code) if any
	Message    string        // Power BI's error message, if it sent one that is safe to show
	RequestID  string        // RequestId response header
	RetryAfter time.Duration // when throttled
	Hint       string        // what to check
	Err        error         // underlying (transport) error, unwrapped by Unwrap

	// waitLonger: Power BI asked to wait beyond MaxRetryAfter, so only a
	// later tick, not another attempt now, may call again.
	waitLonger bool
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pbi: ")
	b.WriteString(e.Operation)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Code != "" {
		b.WriteString(", code ")
		b.WriteString(e.Code)
	}
	if e.RequestID != "" {
		b.WriteString(", request id ")
		b.WriteString(e.RequestID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
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

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the call is worth another try in a later attempt
// or tick: 408, 429, 5xx and transport failures. Bad requests, missing rights,
// unknown ids, invalid arguments, cancellation and the endpoint faults
// package wire refuses (a redirect to another host, a body over its limit,
// a certificate that does not verify) are not.
func (e *Error) Retryable() bool {
	switch {
	case e.StatusCode == 0:
		return e.Err != nil && !errors.Is(e.Err, ErrInvalidArgument) && !errors.Is(e.Err, context.Canceled) && !wire.Final(e.Err)
	case e.waitLonger:
		return false
	default:
		return retryableStatus(e.StatusCode)
	}
}

// Throttled reports whether Power BI refused the call for sending too many
// requests (429); RetryAfter then says when it will listen again.
func (e *Error) Throttled() bool { return e.StatusCode == http.StatusTooManyRequests }

// retryableStatus is the status set the retry policy retries.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599
}

// Hints, one per way a call fails; they name config keys so an operator knows
// where to look.
const (
	hintNotFound       = "check gateway_id/datasource_id and that the identity is a gateway admin / has access"
	hintNoUser         = "the user may not be on the data source (already removed?); otherwise "
	hintCloudGateway   = "; a cloud data source's gateway id is not a real gateway: use encrypt: none"
	hintForbidden      = "the identity lacks gateway admin rights or the Dataset.ReadWrite.All permission"
	hintBadCredentials = "credentials rejected — wrong secret, or the gateway key changed?"
	hintBadAlgorithm   = "encryption does not match the data source: cloud data sources need encrypt: none, on-premises ones encrypt: gateway"
	hintBadRequest     = "request rejected — check the values sent"
	hintUnauthorized   = "token rejected — check tenant and that the service principal is allowed to use Power BI APIs"
	hintThrottled      = "throttled by Power BI — wait for Retry-After before calling again"
	hintServer         = "Power BI service error — retried; try again later"
	hintTransport      = "could not reach Power BI — check network, proxy and powerbi.api_url"
	hintToken          = "could not acquire a token for Power BI — check the auth settings"
	hintIncomplete     = "Power BI's answer arrived incomplete — is a proxy between rotatord and Power BI cutting responses?"
	hintRedirect       = "Power BI's answer redirected rotatord to another host, which it refuses — check powerbi.api_url and any proxy in between"
	hintTooLarge       = "Power BI's answer was larger than any it sends — check powerbi.api_url and any proxy in between"
	hintTLS            = "Power BI's certificate did not verify for the host asked for — check powerbi.api_url, and SSL_CERT_FILE behind a TLS-inspecting proxy"
)

func hintFor(op string, status int, code string) string {
	switch {
	case status == http.StatusBadRequest && code == "DMTS_InvalidEncryptionAlgorithmError":
		return hintBadAlgorithm
	case status == http.StatusBadRequest && op == opUpdateDatasource:
		return hintBadCredentials
	case status == http.StatusBadRequest:
		return hintBadRequest
	case status == http.StatusUnauthorized:
		return hintUnauthorized
	case status == http.StatusForbidden:
		return hintForbidden
	case status == http.StatusNotFound && op == opDeleteDatasourceUser:
		return hintNoUser + hintNotFound
	case status == http.StatusNotFound && op == opGetGateway:
		return hintNotFound + hintCloudGateway
	case status == http.StatusNotFound:
		return hintNotFound
	case status == http.StatusTooManyRequests:
		return hintThrottled
	case status >= 500:
		return hintServer
	}
	return ""
}

// errorBody covers both shapes Power BI answers with: the usual
// {"error":{"code","message","pbi.error":{"code"}}} and the bare
// {"message":"…"} of its 429s.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		PBI     struct {
			Code string `json:"code"`
		} `json:"pbi.error"`
	} `json:"error"`
	Message string `json:"message"`
}

// responseError builds the *Error for a non-2xx response. It parses the body
// itself rather than surfacing azcore.ResponseError, whose text dumps the
// whole response. A message is kept, cut to maxMessage runes of printable
// text, only when it contains none of the secrets in ctx (secret.WithValues:
// the rotation's values and the credentials just sent), so even a service
// that echoed a request, or the password it decrypted, could not leak a
// secret through it.
func responseError(ctx context.Context, op string, resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{
		Operation:  op,
		StatusCode: resp.StatusCode,
		RequestID:  firstHeader(resp.Header, "RequestId", "X-Ms-Request-Id"),
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Code = cleanCode(eb.Error.Code)
		if e.Code == "" {
			e.Code = cleanCode(eb.Error.PBI.Code)
		}
		msg := eb.Error.Message
		if msg == "" {
			msg = eb.Message
		}
		e.Message = cleanMessage(ctx, msg)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if d, ok := retryAfter(resp, now); ok {
			e.RetryAfter = d
		}
	}
	e.Hint = hintFor(op, resp.StatusCode, e.Code)
	return e
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return cleanCode(v)
		}
	}
	return ""
}

// cleanCode keeps an identifier-like value (error codes, request ids) and
// drops anything else.
func cleanCode(s string) string {
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

const maxMessage = 300

// cleanMessage drops a message that holds a secret of ctx: what is left of
// it around the secret could still say too much (a connection string).
func cleanMessage(ctx context.Context, s string) string {
	if secret.Leaks(ctx, s) {
		return ""
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "…"
	}
	return s
}
