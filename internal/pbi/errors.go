package pbi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/secret"
)

// ErrInvalidArgument marks an *Error raised before anything was sent because
// an argument (a path parameter or the request) is malformed.
var ErrInvalidArgument = azrest.ErrInvalidArgument

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
	return azrest.ErrorText{Package: "pbi", Operation: e.Operation, StatusCode: e.StatusCode, Code: e.Code, NativeCode: e.NativeCode,
		RequestID: e.RequestID, RetryAfter: e.RetryAfter, Message: e.Message, Err: e.Err, Hint: e.Hint}.String()
}

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the call is worth another try in a later attempt
// or tick: 408, 429, 5xx and transport failures. Bad requests, missing rights,
// unknown ids, invalid arguments, cancellation and the endpoint faults
// package wire refuses (a redirect to another host, a body over its limit,
// a certificate that does not verify) and a next page refused (ErrPaging)
// are not.
func (e *Error) Retryable() bool { return azrest.Retryable(e.StatusCode, e.Err, e.waitLonger) }

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

// Hints, one per way a Power BI call fails; they name config keys so an
// operator knows where to look. Those every service has (a 401, a 429, a
// transport failure, a refused next page, a connection test's reasons) are
// azrest's, naming Power BI and powerbi.api_url.
const (
	hintNotFound       = "check gateway_id/datasource_id and that the identity is a gateway admin / has access"
	hintNoUser         = "the user may not be on the data source (already removed?); otherwise "
	hintCloudGateway   = "; a cloud data source's gateway id is not a real gateway: use encrypt: none"
	hintForbidden      = "the identity lacks gateway admin rights or the Dataset.ReadWrite.All permission"
	hintBadCredentials = "credentials rejected — wrong secret, or the gateway key changed?"
	hintBadAlgorithm   = "encryption does not match the data source: cloud data sources need encrypt: none, on-premises ones encrypt: gateway"

	// The listing calls: who may list what.
	hintNotGatewayAdmin = "the identity is not an admin of this gateway — grant it gateway admin rights (Manage connections and gateways); a service principal also needs the Tenant.Read.All or Dataset.Read.All permission"
	hintNotMember       = "the identity is not a member of this workspace — add it (Viewer or higher is enough to list); an app needs that workspace access too, beside its API permission"
	hintNoWorkspace     = "no such workspace — check the workspace id (app.powerbi.com/groups/ID/...)"
	hintNoDataset       = "no such workspace or dataset — check the workspace id (app.powerbi.com/groups/ID/...) and the dataset id"
	hintNoGateway       = "no such gateway — check the gateway id (Get Gateways lists those the identity is an admin of)"
)

// hints are azrest's hints for Power BI.
func hints() azrest.Hints { return azrest.MakeHints(serviceName, apiURLKey) }

// hintFor is the hint for a failed call; failure is its ConnectionFailure.
func hintFor(op string, status int, code, failure string) string {
	h := hints()
	switch {
	case op == opGetDatasourceStatus && azrest.ReasonHint(failure) != "":
		return azrest.ReasonHint(failure)
	case status == http.StatusBadRequest && code == "DMTS_InvalidEncryptionAlgorithmError":
		return hintBadAlgorithm
	case status == http.StatusBadRequest && op == opUpdateDatasource:
		return hintBadCredentials
	case status == http.StatusBadRequest:
		return h.BadRequest
	case status == http.StatusUnauthorized:
		return h.Unauthorized
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
		return h.Throttled
	case status >= 500:
		return h.Server
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
// whole response. A message is kept, cut to azrest.MaxMessage runes of
// printable text, only when it contains none of the secrets in ctx
// (secret.WithValues: the rotation's values and the credentials just sent),
// so even a service that echoed a request, or the password it decrypted,
// could not leak a secret through it. A 400's connection failure is
// classified here from the whole message, before it is cut or dropped: the
// reason names no secret.
func responseError(ctx context.Context, op string, resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{
		Operation:  op,
		StatusCode: resp.StatusCode,
		RequestID:  azrest.RequestID(resp.Header),
		RetryAfter: azrest.ThrottleDelay(resp, now),
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Code = azrest.CleanCode(eb.Error.Code)
		if e.Code == "" {
			e.Code = azrest.CleanCode(eb.Error.PBI.Code)
		}
		// A code is no place for a secret, but an echoing service could put
		// one there, and an identifier-like password passes CleanCode.
		if secret.Leaks(ctx, e.Code) {
			e.Code = ""
		}
		msg := eb.Error.Message
		if msg == "" {
			msg = eb.Message
		}
		native, underlying := details(eb.Error.PBI.Details)
		native = azrest.CleanCode(strings.TrimSpace(native))
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
		e.Message = azrest.CleanMessage(ctx, msg)
		if resp.StatusCode == http.StatusBadRequest {
			e.failure, e.classified = connstatus.Classify(e.Code, native, whole), true
		}
	}
	e.Hint = hintFor(op, resp.StatusCode, e.Code, e.ConnectionFailure())
	return e
}
