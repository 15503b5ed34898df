package fabric

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/secret"
)

// TestParseError reads the error bodies Fabric, and what may stand in front
// of it, answers with.
func TestParseError(t *testing.T) {
	tests := map[string]struct {
		op          string
		status      int
		header      http.Header
		body        string
		wantCode    string
		wantMessage string
		wantReqID   string
		wantFailure string
		wantHint    string
		wantRetry   time.Duration
	}{
		"ErrorResponse": {
			op: opGetConnection, status: 404,
			body:     `{"requestId":"` + reqID + `","errorCode":"EntityNotFound","message":"The requested resource could not be found.","isRetriable":false}`,
			wantCode: "EntityNotFound", wantMessage: "The requested resource could not be found.", wantReqID: reqID, wantHint: hintNotFound,
		},
		"request id from the header": {
			op: opGetConnection, status: 404, header: http.Header{"Requestid": {"r-header"}},
			body:     `{"errorCode":"EntityNotFound","message":"m"}`,
			wantCode: "EntityNotFound", wantMessage: "m", wantReqID: "r-header", wantHint: hintNotFound,
		},
		"request id from x-ms-request-id": {
			op: opGetGateway, status: 404, header: http.Header{"X-Ms-Request-Id": {"r-ms"}},
			body:     `{"errorCode":"EntityNotFound","message":"m"}`,
			wantCode: "EntityNotFound", wantMessage: "m", wantReqID: "r-ms", wantHint: hintNoGateway,
		},
		"the body's request id wins": {
			op: opGetConnection, status: 404, header: http.Header{"Requestid": {"r-header"}},
			body:     `{"errorCode":"EntityNotFound","message":"m","requestId":"r-body"}`,
			wantCode: "EntityNotFound", wantMessage: "m", wantReqID: "r-body", wantHint: hintNotFound,
		},
		"the Power BI back end's shape": {
			op: opListConnections, status: 403,
			body:     `{"error":{"code":"PowerBINotAuthorizedException","message":"not allowed"}}`,
			wantCode: "PowerBINotAuthorizedException", wantMessage: "not allowed", wantHint: hintForbidden,
		},
		"a throttling front door's message": {
			op: opGetConnection, status: 429, header: http.Header{"Retry-After": {"3392"}},
			body:        `{"message":"Request is blocked by the upstream service until: 8/4/2026 11:00:00 AM (UTC)"}`,
			wantMessage: "Request is blocked by the upstream service until: 8/4/2026 11:00:00 AM (UTC)",
			wantHint:    "throttled by Fabric — wait for Retry-After before calling again", wantRetry: 3392 * time.Second,
		},
		"a PATCH refused with IncorrectCredentials": {
			op: opUpdateConnection, status: 400,
			body:     `{"errorCode":"IncorrectCredentials","message":"Failed to establish connection using the Credentials input."}`,
			wantCode: "IncorrectCredentials", wantMessage: "Failed to establish connection using the Credentials input.",
			wantFailure: connstatus.Rejected, wantHint: azrest.ReasonHint(connstatus.Rejected),
		},
		"a PATCH refused, a detail says the gateway is gone": {
			op: opUpdateConnection, status: 400,
			body: `{"errorCode":"UpdateGatewayConnectionFailed","message":"Failed to update gateway connection.",
				"moreDetails":[7,{"errorCode":"DM_GWPipeline_UnknownError","message":"ErrorCode: GatewayNotFound"}]}`,
			wantCode: "UpdateGatewayConnectionFailed", wantMessage: "Failed to update gateway connection.",
			wantFailure: connstatus.GatewayUnreachable, wantHint: azrest.ReasonHint(connstatus.GatewayUnreachable),
		},
		"a PATCH refused for another reason": {
			op: opUpdateConnection, status: 400,
			body:     `{"errorCode":"InvalidCredentialDetails","message":"The CredentialDetails input provided is not valid."}`,
			wantCode: "InvalidCredentialDetails", wantMessage: "The CredentialDetails input provided is not valid.", wantHint: hintBadCredentials,
		},
		"a 403 on a PATCH": {
			op: opUpdateConnection, status: 403,
			body:     `{"errorCode":"InsufficientPermissionsToManageConnection","message":"The caller has insufficient permissions to manage this connection."}`,
			wantCode: "InsufficientPermissionsToManageConnection", wantMessage: "The caller has insufficient permissions to manage this connection.", wantHint: hintForbidden,
		},
		"a 403 on the members": {
			op: opListGatewayMembers, status: 403, body: `{"errorCode":"Forbidden","message":"m"}`,
			wantCode: "Forbidden", wantMessage: "m", wantHint: hintGatewayDenied,
		},
		"a 403 on role assignments": {
			op: opAddConnectionRoleAssignment, status: 403, body: `{"errorCode":"Forbidden","message":"m"}`,
			wantCode: "Forbidden", wantMessage: "m", wantHint: hintRoleDenied,
		},
		"a 400 on a role assignment": {
			op: opAddConnectionRoleAssignment, status: 400, body: `{"errorCode":"BadRequest","message":"Missing required parameter."}`,
			wantCode: "BadRequest", wantMessage: "Missing required parameter.", wantHint: hintBadRole,
		},
		"a 404 on a role assignment": {
			op: opDeleteConnectionRoleAssignment, status: 404, body: `{"errorCode":"EntityNotFound","message":"m"}`,
			wantCode: "EntityNotFound", wantMessage: "m", wantHint: hintNoAssignment,
		},
		"a 404 on an operation": {
			op: opGetOperationState, status: 404, body: `{"errorCode":"EntityNotFound","message":"m"}`,
			wantCode: "EntityNotFound", wantMessage: "m", wantHint: hintNoOperation,
		},
		"a 400 elsewhere": {
			op: opListConnections, status: 400, body: `{"errorCode":"InvalidContinuationToken","message":"m"}`,
			wantCode: "InvalidContinuationToken", wantMessage: "m", wantHint: "request rejected — check the values sent",
		},
		"a 400 on the members is no connection failure": {
			op: opListGatewayMembers, status: 400, body: `{"errorCode":"IncorrectCredentials","message":"m"}`,
			wantCode: "IncorrectCredentials", wantMessage: "m", wantHint: hintNoMembers,
		},
		"not JSON": {
			op: opGetConnection, status: 502, body: `<html>Bad Gateway</html>`, wantHint: "Fabric service error — retried; try again later",
		},
		"a code that is no code": {
			op: opGetConnection, status: 404, body: `{"errorCode":"<script>","message":"m","requestId":"a b"}`,
			wantMessage: "m", wantHint: hintNotFound,
		},
		"a long message, cut": {
			op: opGetConnection, status: 404, body: `{"errorCode":"X","message":"` + strings.Repeat("é", 2*azrest.MaxMessage) + `"}`,
			wantCode: "X", wantMessage: strings.Repeat("é", azrest.MaxMessage) + "…", wantHint: hintNotFound,
		},
		"a message on lines": {
			op: opGetConnection, status: 404, body: `{"errorCode":"X","message":"one\n\ttwo\u0000three"}`,
			wantCode: "X", wantMessage: "one two three", wantHint: hintNotFound,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			e := parseError(context.Background(), tc.op, &http.Response{StatusCode: tc.status, Header: h}, []byte(tc.body), time.Now())
			if e.Code != tc.wantCode || e.Message != tc.wantMessage || e.RequestID != tc.wantReqID || e.ConnectionFailure() != tc.wantFailure ||
				e.Hint != tc.wantHint || e.RetryAfter != tc.wantRetry || e.StatusCode != tc.status || e.Operation != tc.op {
				t.Errorf("got %#v (failure %q)\nwant code %q, message %q, request id %q, failure %q, hint %q, retry after %s",
					e, e.ConnectionFailure(), tc.wantCode, tc.wantMessage, tc.wantReqID, tc.wantFailure, tc.wantHint, tc.wantRetry)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	e := parseError(context.Background(), opUpdateConnection, &http.Response{StatusCode: 400, Header: http.Header{}},
		[]byte(`{"errorCode":"X","message":"msg","requestId":"Y"}`), time.Now())
	if want := `fabric: Connections_UpdateConnection: 400 Bad Request, code X, request id Y: "msg" (` + hintBadCredentials + `)`; e.Error() != want {
		t.Errorf("got  %s\nwant %s", e, want)
	}
	e = &Error{Operation: opGetConnection, Err: errors.New("reset"), Hint: "h"}
	if want := `fabric: Connections_GetConnection: reset (h)`; e.Error() != want {
		t.Errorf("got  %s\nwant %s", e, want)
	}
	if !errors.Is(&Error{Err: fmt.Errorf("x: %w", ErrOffline)}, ErrOffline) {
		t.Error("Unwrap")
	}
}

// TestConnectionFailureOfBuiltErrors: an *Error built by hand (by other
// packages' tests) classifies from its fields.
func TestConnectionFailureOfBuiltErrors(t *testing.T) {
	tests := map[string]struct {
		err  *Error
		want string
	}{
		"offline":                 {&Error{Operation: opTestConnection, StatusCode: 200, Code: "DM_GWPipeline_UnknownError", Message: "GatewayNotFound", Err: ErrOffline}, connstatus.GatewayUnreachable},
		"offline, unknown":        {&Error{Operation: opTestConnection, StatusCode: 200, Code: "X", Err: ErrOffline}, connstatus.DatasourceError},
		"failed operation":        {&Error{Operation: opTestConnection, StatusCode: 200, Code: "IncorrectCredentials", Err: ErrOperationFailed}, connstatus.Rejected},
		"PATCH 400":               {&Error{Operation: opUpdateConnection, StatusCode: 400, Code: "IncorrectCredentials"}, connstatus.Rejected},
		"test 400":                {&Error{Operation: opTestConnection, StatusCode: 400, Code: "IncorrectCredentials"}, connstatus.Rejected},
		"PATCH 500":               {&Error{Operation: opUpdateConnection, StatusCode: 500, Code: "IncorrectCredentials"}, ""},
		"another operation":       {&Error{Operation: opGetConnection, StatusCode: 400, Code: "IncorrectCredentials"}, ""},
		"transport":               {&Error{Operation: opTestConnection, Err: errors.New("reset")}, ""},
		"PATCH 400, unknown code": {&Error{Operation: opUpdateConnection, StatusCode: 400, Code: "X"}, ""},
	}
	for name, tc := range tests {
		if got := tc.err.ConnectionFailure(); got != tc.want {
			t.Errorf("%s: ConnectionFailure %q, want %q", name, got, tc.want)
		}
	}
}

// TestNoSecretInErrors sends credentials to a server that echoes the request
// body back everywhere it can, and checks that no error carries them.
func TestNoSecretInErrors(t *testing.T) {
	const password = `Pa55<w0rd>"-do-not-leak`
	const cipher = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=ciphertext-blob"
	typed := `{"credentialType":"Basic","username":"svc-sales","password":` + jsonString(password) + `}`
	updates := map[string]CredentialUpdate{
		"typed": {ConnectivityType: "ShareableCloud", CredentialType: "Basic", Typed: secret.FromString(typed)},
		"members": {ConnectivityType: "OnPremisesGateway", CredentialType: "Basic", Values: []EncryptedValue{
			{GatewayID: gw, EncryptedCredentials: secret.FromString(cipher)}, {GatewayID: member, EncryptedCredentials: secret.FromString(cipher + "-2")}}},
		"personal": {ConnectivityType: "OnPremisesGatewayPersonal", CredentialType: "Basic", Encrypted: secret.FromString(cipher)},
	}
	answers := map[string][]step{
		"400 echoing the raw request": {{status: 400, echo: true}},
		"500 echoing forever":         {{status: 500, echo: true}},
		"429 echoing":                 {{status: 429, echo: true, header: map[string]string{"Retry-After": "9999"}}},
		"echoing into the code":       {{status: 400, body: `{"errorCode":"Secret_Code-42x","requestId":"Secret_Code-42x","message":"x"}`}},
		"a dropped connection":        {{drop: true}},
	}
	// A decrypting service may echo the plain password, which is not what
	// was sent for an encrypted PATCH: the rotation puts it in the context.
	// An identifier-like secret passes CleanCode: only the context stops it.
	ctx := secret.WithValues(context.Background(), secret.FromString(password), secret.FromString("Secret_Code-42x"))
	for un, u := range updates {
		for an, steps := range answers {
			t.Run(un+", "+an, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, steps, func(o *Options) { o.MaxRetries = 1 })
				if an == "400 echoing the raw request" && un != "typed" {
					// The plain password, as the gateway would have decrypted it.
					h.fake.steps = []step{{status: 400, body: `{"errorCode":"X","message":"password ` + password + ` refused"}`}}
				}
				err := h.client.UpdateConnectionCredentials(ctx, conn, u)
				if err == nil {
					t.Fatal("want an error")
				}
				for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
					for _, leak := range []string{"do-not-leak", "ciphertext-blob", "svc-sales", "credentialType", "Secret_Code"} {
						if strings.Contains(s, leak) {
							t.Errorf("error leaks %q: %s", leak, s)
						}
					}
				}
				if reqs := h.fake.requests(); len(reqs) == 0 || (!strings.Contains(reqs[0].body, "do-not-leak") && !strings.Contains(reqs[0].body, "ciphertext-blob")) {
					t.Errorf("the credentials were not sent: %+v", reqs)
				}
			})
		}
	}
}

// TestCredentialUpdateRedacts: a CredentialUpdate printed or marshalled
// shows no secret.
func TestCredentialUpdateRedacts(t *testing.T) {
	u := CredentialUpdate{ConnectivityType: "ShareableCloud", Typed: secret.FromString(`{"password":"do-not-leak"}`),
		Values: []EncryptedValue{{GatewayID: gw, EncryptedCredentials: secret.FromString("do-not-leak")}}, Encrypted: secret.FromString("do-not-leak")}
	for _, s := range []string{fmt.Sprintf("%v", u), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u)} {
		if strings.Contains(s, "do-not-leak") {
			t.Errorf("printed: %s", s)
		}
	}
}

// FuzzParseError: whatever the body, parseError does not panic, keeps only
// identifier-like codes and a bounded message, classifies to a reason or
// "", and shows a secret of the context nowhere.
func FuzzParseError(f *testing.F) {
	const password = "topsecret-value-1"
	f.Add(400, `{"errorCode":"IncorrectCredentials","message":"Failed to establish connection using the Credentials input.","requestId":"r"}`)
	f.Add(400, `{"errorCode":"X","message":"m","moreDetails":[{"errorCode":"DM_GWPipeline_UnknownError","message":"GatewayNotFound"},7,null]}`)
	f.Add(404, `{"error":{"code":"EntityNotFound","message":"topsecret-value-1"}}`)
	f.Add(429, `{"message":"password topsecret-value-1"}`)
	f.Add(400, `{"errorCode":"topsecret-value-1","requestId":"topsecret-value-1","message":"x","moreDetails":[{"errorCode":"topsecret-value-1","message":"topsecret-value-1"}]}`)
	f.Add(500, `{"errorCode":1,"message":["a"]}`)
	f.Add(400, `{"errorCode":"X","message":"\u0074opsecret-value-1"}`)
	ctx := secret.WithValues(context.Background(), secret.FromString(password))
	ops := []string{opUpdateConnection, opTestConnection, opGetConnection, opListGatewayMembers}
	f.Fuzz(func(t *testing.T, status int, body string) {
		status = 400 + (status%200+200)%200 // 400–599
		for _, op := range ops {
			e := parseError(ctx, op, &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {body}}}, []byte(body), time.Now())
			switch got := e.ConnectionFailure(); got {
			case "", connstatus.GatewayUnreachable, connstatus.Rejected, connstatus.DatasourceUnreachable, connstatus.DatasourceError:
			default:
				t.Fatalf("ConnectionFailure %q", got)
			}
			if azrest.CleanCode(e.Code) != e.Code || azrest.CleanCode(e.RequestID) != e.RequestID || len([]rune(e.Message)) > azrest.MaxMessage+1 {
				t.Fatalf("code %q, request id %q, message of %d runes", e.Code, e.RequestID, len([]rune(e.Message)))
			}
			for _, s := range []string{e.Error(), fmt.Sprintf("%#v", e)} {
				if strings.Contains(s, password) {
					t.Fatalf("error leaks the secret: %s", s)
				}
			}
		}
	})
}
