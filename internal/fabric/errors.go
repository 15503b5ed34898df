package fabric

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/connstatus"
)

// ErrInvalidArgument marks an *Error raised before anything was sent because
// an argument (a path parameter or the request) is malformed. It is
// pbi.ErrInvalidArgument.
var ErrInvalidArgument = azrest.ErrInvalidArgument

// ErrPaging marks an *Error for a listing whose next page rotatord refused
// to ask for: a continuationUri that would take the token off the API
// (another scheme, host or path), a page read before, or more pages than any
// listing has. Nothing was sent for the refused page. It is pbi.ErrPaging.
var ErrPaging = azrest.ErrPaging

// ErrLinkRefused marks an *Error for a test of a connection whose operation
// link (Location) rotatord refused to poll, for the reasons of ErrPaging.
// Nothing was sent to it.
var ErrLinkRefused = azrest.ErrLinkRefused

// ErrOffline marks the *Error of a connection test that Fabric answered
// with status Offline: ConnectionFailure says why.
var ErrOffline = errors.New("connection offline")

// ErrOperationFailed marks the *Error of a connection test run as a
// long-running operation that ended Failed.
var ErrOperationFailed = errors.New("operation failed")

// ErrStillRunning marks the *Error of a connection test whose long-running
// operation had not ended within Options.MaxPollWait (or the context's
// deadline).
var ErrStillRunning = errors.New("operation still running")

// Error is a failed Fabric call. It carries what an operator needs to act —
// status, Fabric error code, request id for a support ticket and a hint —
// and never the request body or a raw dump of the response.
type Error struct {
	Operation  string        // swagger operationId, e.g. "Connections_UpdateConnection"
	StatusCode int           // 0 for transport failures and invalid arguments
	Code       string        // Fabric's errorCode, if any
	Message    string        // Fabric's message, if safe to show (see package doc)
	RequestID  string        // requestId of the body, else the RequestId or x-ms-request-id header
	RetryAfter time.Duration // when throttled
	Hint       string        // what to check
	Err        error         // underlying error (transport, ErrOffline, …), unwrapped by Unwrap

	// waitLonger: Fabric asked to wait beyond MaxRetryAfter, so only a later
	// tick, not another attempt now, may call again.
	waitLonger bool
	// failure is ConnectionFailure, classified when the answer was read,
	// from its whole message: Message may be cut short, or dropped for
	// holding a secret. classified says it was.
	failure    string
	classified bool
}

// Error implements error.
func (e *Error) Error() string {
	return azrest.ErrorText{Package: "fabric", Operation: e.Operation, StatusCode: e.StatusCode, Code: e.Code,
		RequestID: e.RequestID, RetryAfter: e.RetryAfter, Message: e.Message, Err: e.Err, Hint: e.Hint}.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the call is worth another try in a later attempt
// or tick, by pbi.Error.Retryable's rules: 408, 429, 5xx and transport
// failures are. Bad requests, missing rights, unknown ids, invalid
// arguments, cancellation, the endpoint faults package wire refuses, a
// refused next page or operation link, and a connection test's answer
// (Offline, a failed operation) are not.
func (e *Error) Retryable() bool { return azrest.Retryable(e.StatusCode, e.Err, e.waitLonger) }

// Throttled reports whether Fabric refused the call for sending too many
// requests (429); RetryAfter then says when it will listen again.
func (e *Error) Throttled() bool { return e.StatusCode == http.StatusTooManyRequests }

// ConnectionFailure returns why a connection did not connect, one of package
// connstatus's reasons, when the error says so: a TestConnection answered
// Offline (always a reason: connstatus.DatasourceError when its error code
// says nothing more), a test run as an operation that failed, and a 400 to
// TestConnection or to UpdateConnectionCredentials — a PATCH without
// skipTestConnection tests the new credential, and IncorrectCredentials is
// connstatus.Rejected. It returns "" for any other error, which is then
// classified by its status like every failed call. Only connstatus.Rejected
// is evidence against the credential.
func (e *Error) ConnectionFailure() string {
	if e.classified {
		return e.failure
	}
	// An *Error built by hand (by other packages' tests).
	switch {
	case errors.Is(e.Err, ErrOffline):
		return offlineReason(e.Code, e.Message)
	case errors.Is(e.Err, ErrOperationFailed):
		return connstatus.Classify(e.Code, "", e.Message)
	case testsConnection(e.Operation) && e.StatusCode == http.StatusBadRequest:
		return connstatus.Classify(e.Code, "", e.Message)
	}
	return ""
}

// testsConnection reports whether op's 400 may be a failed connection test.
func testsConnection(op string) bool { return op == opTestConnection || op == opUpdateConnection }

// offlineReason classifies an Offline answer's error: whatever the code, the
// connection did not connect.
func offlineReason(code, message string) string {
	if r := connstatus.Classify(code, "", message); r != "" {
		return r
	}
	return connstatus.DatasourceError
}

// Hints, one per way a Fabric call fails; they name inventory keys and
// permissions so an operator knows where to look. Those every service has
// (a 401, a 429, a transport failure, a refused next page, a connection
// test's reasons) are azrest's, naming Fabric and fabric.api_url.
const (
	hintNotFound       = "check connection_id (the id in Fabric's Manage connections and gateways page) and that the identity may use the connection"
	hintForbidden      = "the identity needs the Connection.ReadWrite.All permission and, for on-premises gateways, gateway admin rights"
	hintBadCredentials = "credentials rejected — a gateway member changed, or the credential is wrong"
	hintNoMembers      = "only an on-premises gateway has members — is the connection's connectivity type OnPremisesGateway?"
	hintGatewayDenied  = "the identity needs the Gateway.Read.All (or Gateway.ReadWrite.All) permission and admin rights on the gateway"
	hintNoGateway      = "no such gateway — the gateway id is the connection's (Get Connection names it); is the identity allowed on the gateway?"
	hintRoleDenied     = "the identity must be an Owner of the connection (UserWithReshare to add users) or an admin of its gateway, with the Connection.ReadWrite.All permission"
	hintBadRole        = "role assignment rejected — check users' identifier (an Entra object id), principal_type and role (User, UserWithReshare, Owner)"
	hintNoAssignment   = "the role assignment is not on the connection (already removed?); otherwise check connection_id"
	hintNoOperation    = "Fabric no longer knows the connection test it started — try again later"
	hintTestFailed     = "Fabric's test of the connection failed — see the message"
	hintStillRunning   = "Fabric's test of the connection did not end in time — the gateway may be slow or offline; try again later"
)

// hints are azrest's hints for Fabric.
func hints() azrest.Hints { return azrest.MakeHints(serviceName, apiURLKey) }

// hintFor is the hint for a failed call; failure is its ConnectionFailure.
func hintFor(op string, status int, failure string) string {
	h := hints()
	gatewayOp := op == opGetGateway || op == opListGatewayMembers
	roleOp := op == opListConnectionRoleAssignments || op == opAddConnectionRoleAssignment ||
		op == opUpdateConnectionRoleAssignment || op == opDeleteConnectionRoleAssignment
	switch {
	case testsConnection(op) && azrest.ReasonHint(failure) != "":
		return azrest.ReasonHint(failure)
	case status == http.StatusBadRequest && op == opUpdateConnection:
		return hintBadCredentials
	case status == http.StatusBadRequest && op == opListGatewayMembers:
		return hintNoMembers
	case status == http.StatusBadRequest && (op == opAddConnectionRoleAssignment || op == opUpdateConnectionRoleAssignment):
		return hintBadRole
	case status == http.StatusBadRequest:
		return h.BadRequest
	case status == http.StatusUnauthorized:
		return h.Unauthorized
	case status == http.StatusForbidden && gatewayOp:
		return hintGatewayDenied
	case status == http.StatusForbidden && roleOp:
		return hintRoleDenied
	case status == http.StatusForbidden:
		return hintForbidden
	case status == http.StatusNotFound && (op == opUpdateConnectionRoleAssignment || op == opDeleteConnectionRoleAssignment):
		return hintNoAssignment
	case status == http.StatusNotFound && gatewayOp:
		return hintNoGateway
	case status == http.StatusNotFound && (op == opGetOperationState || op == opGetOperationResult):
		return hintNoOperation
	case status == http.StatusNotFound:
		return hintNotFound
	case status == http.StatusTooManyRequests:
		return h.Throttled
	case status >= 500:
		return h.Server
	}
	return ""
}

// errorBody is Fabric's ErrorResponse, {"errorCode", "message",
// "requestId", "moreDetails": [{"errorCode", "message"}], "isRetriable"},
// and, in case, the {"error":{"code","message"}} of the Power BI back end
// and the bare {"message"} of a throttling front door. moreDetails is read
// item by item (details), so that one of an unexpected shape loses only
// itself.
type errorBody struct {
	ErrorCode   string          `json:"errorCode"`
	Message     string          `json:"message"`
	RequestID   string          `json:"requestId"`
	MoreDetails json.RawMessage `json:"moreDetails"`
	Error       struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// detail is one of an ErrorResponse's moreDetails, or a
// ConnectionStatusResponse's errors.
type detail struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// details reads a list of details one by one.
func details(raw json.RawMessage) []detail {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []detail
	for _, item := range list {
		var d detail
		if json.Unmarshal(item, &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// parseError builds the *Error for a non-2xx response. It parses the body
// itself rather than surfacing azcore.ResponseError, whose text dumps the
// whole response. A message is kept, cut to azrest.MaxMessage runes of
// printable text, only when it contains none of the secrets in ctx
// (secret.WithValues: the rotation's values and the credentials just sent),
// so even a service that echoed a request, or the password it decrypted,
// could not leak a secret through it. A connection failure is classified
// here from the whole message and its details, before it is cut or dropped:
// the reason names no secret.
func parseError(ctx context.Context, op string, resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{Operation: op, StatusCode: resp.StatusCode, RetryAfter: azrest.ThrottleDelay(resp, now)}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Code = azrest.CleanSafeCode(ctx, cmp.Or(eb.ErrorCode, eb.Error.Code))
		e.RequestID = azrest.CleanSafeCode(ctx, eb.RequestID)
		msg := cmp.Or(eb.Message, eb.Error.Message)
		e.Message = azrest.CleanMessage(ctx, msg)
		if testsConnection(op) && resp.StatusCode == http.StatusBadRequest {
			e.failure, e.classified = classify(e.Code, msg, details(eb.MoreDetails)), true
		}
	}
	if e.RequestID == "" {
		e.RequestID = azrest.RequestID(resp.Header)
	}
	e.Hint = hintFor(op, resp.StatusCode, e.ConnectionFailure())
	return e
}

// classify is the connstatus reason of an error whose code and message say
// why a connection failed, or whose first detail that says so does; "" when
// none does.
func classify(code, message string, ds []detail) string {
	whole := message
	for _, d := range ds {
		whole += "\n" + d.Message
	}
	if r := connstatus.Classify(code, "", whole); r != "" {
		return r
	}
	for _, d := range ds {
		if r := connstatus.Classify(azrest.CleanCode(d.ErrorCode), "", d.Message); r != "" {
			return r
		}
	}
	return ""
}
