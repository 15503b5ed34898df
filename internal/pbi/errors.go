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

	"github.com/rotatord/rotatord/internal/connstatus"
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
	NativeCode string        // the data source's own error code (pbi.error.details UnderlyingNativeErrorCode), e.g. SQL Server's 18456
	Message    string        // Power BI's error message, else the data source's (UnderlyingErrorMessage), if safe to show
	RequestID  string        // RequestId response header
	RetryAfter time.Duration // when throttled
	Hint       string        // what to check
	Err        error         // underlying (transport) error, unwrapped by Unwrap

	// waitLonger: Power BI asked to wait beyond MaxRetryAfter, so only a
	// later tick, not another attempt now, may call again.
	waitLonger bool
	// failure is ConnectionFailure, classified when the response was read
	// from its whole message: Message may be cut short, or dropped for
	// holding a secret. classified says it was.
	failure    string
	classified bool
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
	if e.NativeCode != "" {
		b.WriteString(", native error ")
		b.WriteString(e.NativeCode)
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
// a certificate that does not verify) and a next page refused (ErrPaging)
// are not.
func (e *Error) Retryable() bool {
	switch {
	case e.StatusCode == 0:
		return e.Err != nil && !errors.Is(e.Err, ErrInvalidArgument) && !errors.Is(e.Err, ErrPaging) &&
			!errors.Is(e.Err, context.Canceled) && !wire.Final(e.Err)
	case e.waitLonger:
		return false
	default:
		return retryableStatus(e.StatusCode)
	}
}

// ConnectionFailure returns why a data source did not connect, when the
// error is Power BI's 400 saying so (GetDatasourceStatus): one of package
// connstatus's reasons. It returns "" for any other error, which is then
// classified by its status like every failed call. Only
// connstatus.Rejected is evidence against the credential.
func (e *Error) ConnectionFailure() string {
	switch {
	case e.StatusCode != http.StatusBadRequest:
		return ""
	case e.classified:
		return e.failure
	}
	return connstatus.Classify(e.Code, e.NativeCode, e.Message)
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
	hintUnexpected     = "unexpected response — is powerbi.api_url the Power BI API?"

	// The listing calls: who may list what.
	hintNotGatewayAdmin = "the identity is not an admin of this gateway — grant it gateway admin rights (Manage connections and gateways); a service principal also needs the Tenant.Read.All or Dataset.Read.All permission"
	hintNotMember       = "the identity is not a member of this workspace — add it (Viewer or higher is enough to list); an app needs that workspace access too, beside its API permission"
	hintNoWorkspace     = "no such workspace — check the workspace id (app.powerbi.com/groups/ID/...)"
	hintNoDataset       = "no such workspace or dataset — check the workspace id (app.powerbi.com/groups/ID/...) and the dataset id"
	hintNoGateway       = "no such gateway — check the gateway id (Get Gateways lists those the identity is an admin of)"

	// Why a listing's next page was refused (ErrPaging); none is sent.
	hintPageNotHTTPS = "Power BI's next-page link (@odata.nextLink) is not an absolute https URL, and rotatord sends its token over https only — check powerbi.api_url and any proxy in between"
	hintPageOffHost  = "Power BI's next-page link (@odata.nextLink) points to another host than powerbi.api_url, and rotatord sends its token to no other — check powerbi.api_url and any proxy in between"
	hintPageOffPath  = "Power BI's next-page link (@odata.nextLink) points outside powerbi.api_url's path, where rotatord sends no token — check powerbi.api_url and any proxy in between"
	hintPageLoop     = "Power BI's next-page link (@odata.nextLink) points back to a page of this listing already read, so it would never end — try again later"
	hintTooManyPages = "the listing ran past 1000 pages, more than any Power BI listing has: Power BI or a proxy keeps sending next-page links — try again later"

	// Why GetDatasourceStatus failed, by ConnectionFailure.
	hintGatewayUnreachable    = "the gateway did not answer — is it running and online? The credential is not to blame"
	hintRejected              = "the data source refused the login — wrong password in the secret, account locked or expired, or the database's password changed without Key Vault"
	hintDatasourceUnreachable = "the gateway could not reach the database — check the server name, firewall and that the database is up; the credential is not to blame"
	hintDatasourceError       = "the gateway could not use the data source — see the message"
)

// hintFor is the hint for a failed call; failure is its ConnectionFailure.
func hintFor(op string, status int, code, failure string) string {
	switch {
	case op == opGetDatasourceStatus && failure == connstatus.GatewayUnreachable:
		return hintGatewayUnreachable
	case op == opGetDatasourceStatus && failure == connstatus.Rejected:
		return hintRejected
	case op == opGetDatasourceStatus && failure == connstatus.DatasourceUnreachable:
		return hintDatasourceUnreachable
	case op == opGetDatasourceStatus && failure == connstatus.DatasourceError:
		return hintDatasourceError
	case status == http.StatusBadRequest && code == "DMTS_InvalidEncryptionAlgorithmError":
		return hintBadAlgorithm
	case status == http.StatusBadRequest && op == opUpdateDatasource:
		return hintBadCredentials
	case status == http.StatusBadRequest:
		return hintBadRequest
	case status == http.StatusUnauthorized:
		return hintUnauthorized
	case status == http.StatusForbidden && (op == opGetDatasources || op == opGetDatasource || op == opGetDatasourceUsers):
		return hintNotGatewayAdmin
	case status == http.StatusForbidden && (op == opGetDatasetsInGroup || op == opGetDatasourcesInGroup):
		return hintNotMember
	case status == http.StatusForbidden:
		return hintForbidden
	case status == http.StatusNotFound && op == opDeleteDatasourceUser:
		return hintNoUser + hintNotFound
	case status == http.StatusNotFound && op == opGetGateway:
		return hintNotFound + hintCloudGateway
	case status == http.StatusNotFound && op == opGetDatasetsInGroup:
		return hintNoWorkspace
	case status == http.StatusNotFound && op == opGetDatasourcesInGroup:
		return hintNoDataset
	case status == http.StatusNotFound && op == opGetDatasources:
		return hintNoGateway
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
// {"error":{"code","message","pbi.error":{"code","details"}}} and the bare
// {"message":"…"} of its 429s. The details are read one by one (details),
// so that one of an unexpected shape loses only itself.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		PBI     struct {
			Code    string          `json:"code"`
			Details json.RawMessage `json:"details"`
		} `json:"pbi.error"`
	} `json:"error"`
	Message string `json:"message"`
}

// The details of a gateway pipeline error that say what the data source
// answered. (UnderlyingHResult says nothing: SqlException's 0x80131904 is
// common to a refused login and an unreachable server.)
const (
	detailNativeCode = "DM_ErrorDetailNameCode_UnderlyingNativeErrorCode"
	detailMessage    = "DM_ErrorDetailNameCode_UnderlyingErrorMessage"
)

// details returns the native error code and the underlying message of a
// pbi.error.details list:
// [{"code":"DM_ErrorDetailNameCode_…","detail":{"type":1,"value":"…"}}].
func details(raw json.RawMessage) (nativeCode, message string) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return "", ""
	}
	for _, item := range list {
		var d struct {
			Code   string `json:"code"`
			Detail struct {
				Value json.RawMessage `json:"value"`
			} `json:"detail"`
		}
		if json.Unmarshal(item, &d) != nil {
			continue
		}
		switch d.Code {
		case detailNativeCode:
			nativeCode = detailValue(d.Detail.Value)
		case detailMessage:
			message = detailValue(d.Detail.Value)
		}
	}
	return nativeCode, message
}

// detailValue reads a detail's value, a string or, in case, a number.
func detailValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// responseError builds the *Error for a non-2xx response. It parses the body
// itself rather than surfacing azcore.ResponseError, whose text dumps the
// whole response. A message is kept, cut to maxMessage runes of printable
// text, only when it contains none of the secrets in ctx (secret.WithValues:
// the rotation's values and the credentials just sent), so even a service
// that echoed a request, or the password it decrypted, could not leak a
// secret through it. A 400's connection failure is classified here from the
// whole message, before it is cut or dropped: the reason names no secret.
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
		// A code is no place for a secret, but an echoing service could put
		// one there, and an identifier-like password passes cleanCode.
		if secret.Leaks(ctx, e.Code) {
			e.Code = ""
		}
		msg := eb.Error.Message
		if msg == "" {
			msg = eb.Message
		}
		native, underlying := details(eb.Error.PBI.Details)
		native = cleanCode(strings.TrimSpace(native))
		if !secret.Leaks(ctx, native) {
			e.NativeCode = native
		}
		whole := msg
		switch {
		case msg == "":
			msg, whole = underlying, underlying
		case underlying != "" && underlying != msg:
			whole = msg + "\n" + underlying
		}
		e.Message = cleanMessage(ctx, msg)
		if resp.StatusCode == http.StatusBadRequest {
			e.failure, e.classified = connstatus.Classify(e.Code, native, whole), true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if d, ok := retryAfter(resp, now); ok {
			e.RetryAfter = d
		}
	}
	e.Hint = hintFor(op, resp.StatusCode, e.Code, e.ConnectionFailure())
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
