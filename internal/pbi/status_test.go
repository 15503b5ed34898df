package pbi

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

// statusBody is the 400 the gateway pipeline answers GetDatasourceStatus
// with, its details given as name, value pairs (research/verify-status.md).
func statusBody(code string, details ...string) string {
	var ds []string
	for i := 0; i+1 < len(details); i += 2 {
		ds = append(ds, fmt.Sprintf(`{"code":"DM_ErrorDetailNameCode_%s","detail":{"type":1,"value":%s}}`, details[i], jsonString(details[i+1])))
	}
	return fmt.Sprintf(`{"error":{"code":%q,"pbi.error":{"code":%q,"parameters":{},"details":[%s],"exceptionCulprit":1}}}`,
		code, code, strings.Join(ds, ","))
}

const (
	accessError = "DM_GWPipeline_Gateway_DataSourceAccessError"
	sqlHResult  = "-2146232060" // 0x80131904, SqlException: common to every SQL Server failure
	// microsoft/PowerBI-Cli#27.
	loginFailedBody = `{"error":{"code":"DM_GWPipeline_Gateway_DataSourceAccessError","pbi.error":{"code":"DM_GWPipeline_Gateway_DataSourceAccessError","parameters":{},"details":[` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingErrorCode","detail":{"type":1,"value":"-2146232060"}},` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingErrorMessage","detail":{"type":1,"value":"Login failed for user 'admin'."}},` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingHResult","detail":{"type":1,"value":"-2146232060"}},` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingNativeErrorCode","detail":{"type":1,"value":"18456"}}],"exceptionCulprit":1}}}`
	networkMessage = "A network-related or instance-specific error occurred while establishing a connection to SQL Server. " +
		"The server was not found or was not accessible. Verify that the instance name is correct and that SQL Server is configured to allow remote connections."
)

func TestGetDatasourceStatus(t *testing.T) {
	tests := map[string]struct {
		steps       []step
		wantFailure string   // ConnectionFailure; "" with wantStatus 0 for success
		wantStatus  int      // of the *Error
		wantIn      []string // in Error()
		wantHint    string
		wantMessage string
	}{
		"connected: 200 with an empty body": {steps: []step{{status: http.StatusOK}}},
		"connected: 200 with a body":        {steps: []step{ok(`{"whatever":1}`)}},
		// The docs' one example.
		"gateway unreachable": {
			steps:       []step{{status: 400, body: `{"error":{"code":"DM_GWPipeline_Client_GatewayUnreachable","pbi.error":{"code":"DM_GWPipeline_Client_GatewayUnreachable","parameters":{},"details":[],"exceptionCulprit":1}}}`}},
			wantFailure: connstatus.GatewayUnreachable, wantStatus: 400,
			wantIn:   []string{"400 Bad Request, code DM_GWPipeline_Client_GatewayUnreachable"},
			wantHint: hintGatewayUnreachable,
		},
		"login failed, SQL Server 18456": {
			steps:       []step{{status: 400, body: loginFailedBody}},
			wantFailure: connstatus.Rejected, wantStatus: 400,
			wantIn:      []string{"code " + accessError + ", native error 18456", `"Login failed for user 'admin'."`},
			wantHint:    hintRejected,
			wantMessage: "Login failed for user 'admin'.",
		},
		"network, native 53": {
			steps: []step{{status: 400, body: statusBody(accessError, "UnderlyingErrorCode", sqlHResult,
				"UnderlyingErrorMessage", networkMessage, "UnderlyingHResult", sqlHResult, "UnderlyingNativeErrorCode", "53")}},
			wantFailure: connstatus.DatasourceUnreachable, wantStatus: 400,
			wantIn:   []string{"native error 53", "network-related"},
			wantHint: hintDatasourceUnreachable,
		},
		// migueesc123/PowerBIRESTAPI#191.
		"invalid connection credentials": {
			steps: []step{{status: 400, body: statusBody("DM_GWPipeline_Gateway_InvalidConnectionCredentials",
				"Microsoft.Data.Mashup.CredentialError.Reason", "AccessForbidden")}},
			wantFailure: connstatus.Rejected, wantStatus: 400,
			wantIn:   []string{"code DM_GWPipeline_Gateway_InvalidConnectionCredentials"},
			wantHint: hintRejected,
		},
		"an access error nothing names is no rejection": {
			steps: []step{{status: 400, body: statusBody(accessError, "UnderlyingHResult", sqlHResult,
				"UnderlyingErrorMessage", "Cannot open database \"sales\".", "UnderlyingNativeErrorCode", "4242")}},
			wantFailure: connstatus.DatasourceError, wantStatus: 400,
			wantIn:   []string{"native error 4242", "Cannot open database"},
			wantHint: hintDatasourceError,
		},
		"a long message is classified whole, then cut": {
			steps: []step{{status: 400, body: statusBody(accessError,
				"UnderlyingErrorMessage", strings.Repeat("x", 2*azrest.MaxMessage)+" Login failed for user 'admin'.")}},
			wantFailure: connstatus.Rejected, wantStatus: 400,
			wantHint: hintRejected,
		},
		"a native code that is no code is dropped": {
			steps: []step{{status: 400, body: statusBody(accessError, "UnderlyingNativeErrorCode", "53 <script>",
				"UnderlyingErrorMessage", "Something else")}},
			wantFailure: connstatus.DatasourceError, wantStatus: 400,
			wantHint: hintDatasourceError,
		},
		"an unknown code is a plain bad request": {
			steps:      []step{pbiError(400, "DM_GWPipeline_Gateway_SomethingNew", nil)},
			wantStatus: 400,
			wantHint:   hintBadRequest,
		},
		"details of an unexpected shape keep the code": {
			steps:       []step{{status: 400, body: `{"error":{"code":"DM_GWPipeline_Gateway_DataSourceAccessError","pbi.error":{"details":[7,{"code":"DM_ErrorDetailNameCode_UnderlyingNativeErrorCode","detail":{"value":18456}}]}}}`}},
			wantFailure: connstatus.Rejected, wantStatus: 400,
			wantIn:   []string{"native error 18456"},
			wantHint: hintRejected,
		},
		"404": {
			steps:      []step{pbiError(404, "DMTS_EntityNotFoundError", nil)},
			wantStatus: 404,
			wantHint:   hintNotFound,
		},
		"429 with Retry-After, then connected": {
			steps: []step{{status: 429, header: map[string]string{"Retry-After": "1"}}, {status: http.StatusOK}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, nil)
			err := h.client.GetDatasourceStatus(context.Background(), gw, ds)
			reqs := h.fake.requests()
			if r := reqs[0]; r.method != http.MethodGet || r.path != "/v1.0/myorg/gateways/"+gw+"/datasources/"+ds+"/status" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				if want := len(tc.steps); len(reqs) != want {
					t.Errorf("%d requests, want %d", len(reqs), want)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *pbi.Error", err)
			}
			if pe.StatusCode != tc.wantStatus || pe.Operation != opGetDatasourceStatus {
				t.Errorf("status %d, operation %s; want %d, %s", pe.StatusCode, pe.Operation, tc.wantStatus, opGetDatasourceStatus)
			}
			if got := pe.ConnectionFailure(); got != tc.wantFailure {
				t.Errorf("ConnectionFailure %q, want %q", got, tc.wantFailure)
			}
			if pe.Hint != tc.wantHint {
				t.Errorf("hint %q, want %q", pe.Hint, tc.wantHint)
			}
			if tc.wantMessage != "" && pe.Message != tc.wantMessage {
				t.Errorf("message %q, want %q", pe.Message, tc.wantMessage)
			}
			if len([]rune(pe.Message)) > azrest.MaxMessage+1 {
				t.Errorf("message of %d runes", len([]rune(pe.Message)))
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if pe.Retryable() || len(reqs) != 1 {
				t.Errorf("retryable %v after %d requests; want a failure at once", pe.Retryable(), len(reqs))
			}
		})
	}
}

// TestStatusMessageWithSecret: a message holding a secret of the context is
// dropped, and the failure is still classified from it.
func TestStatusMessageWithSecret(t *testing.T) {
	const password = "S3cret-Pa55-word"
	h := newHarness(t, []step{{status: 400, body: statusBody(accessError,
		"UnderlyingErrorMessage", "Login failed for user 'admin' with password '"+password+"'.")}}, nil)
	ctx := secret.WithValues(context.Background(), secret.FromString(password))
	err := h.client.GetDatasourceStatus(ctx, gw, ds)
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want a *pbi.Error", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, password) {
			t.Errorf("error leaks the secret: %s", s)
		}
	}
	if pe.Message != "" {
		t.Errorf("message %q kept", pe.Message)
	}
	if got := pe.ConnectionFailure(); got != connstatus.Rejected || pe.Hint != hintRejected {
		t.Errorf("ConnectionFailure %q, hint %q; want %q, %q", got, pe.Hint, connstatus.Rejected, hintRejected)
	}
}

// TestEmptyStatusOnlyForTheStatusCall: the status call's exemption is its
// own; another GET answered by empty 200s still fails as incomplete.
func TestEmptyStatusOnlyForTheStatusCall(t *testing.T) {
	h := newHarness(t, []step{{status: http.StatusOK}}, func(o *Options) { o.MaxRetries = 1 })
	if err := h.client.GetDatasourceStatus(context.Background(), gw, ds); err != nil {
		t.Fatalf("GetDatasourceStatus: %v", err)
	}
	_, err := h.client.GetGateway(context.Background(), gw)
	if want := "pbi: Gateways_GetGateway: incomplete response: 200 OK with an empty body (" + hintIncomplete + ")"; fmt.Sprint(err) != want {
		t.Errorf("GetGateway: %v, want %q", err, want)
	}
}

// TestConnectionFailureOfBuiltErrors: an *Error built by hand (by other
// packages' tests) classifies from its fields; only a 400 is a connection
// failure.
func TestConnectionFailureOfBuiltErrors(t *testing.T) {
	tests := map[string]struct {
		err  *Error
		want string
	}{
		"native login failure": {&Error{Operation: opGetDatasourceStatus, StatusCode: 400, Code: accessError, NativeCode: "18456"}, connstatus.Rejected},
		"by message":           {&Error{Operation: opGetDatasourceStatus, StatusCode: 400, Code: accessError, Message: "A network-related error"}, connstatus.DatasourceUnreachable},
		"gateway":              {&Error{Operation: opGetDatasourceStatus, StatusCode: 400, Code: "DMTS_GatewayIsDisabled"}, connstatus.GatewayUnreachable},
		"not a 400":            {&Error{Operation: opGetDatasourceStatus, StatusCode: 500, Code: accessError, NativeCode: "18456"}, ""},
		"transport":            {&Error{Operation: opGetDatasourceStatus, Err: errors.New("reset")}, ""},
		"unknown code":         {&Error{Operation: opGetDatasourceStatus, StatusCode: 400, Code: "X"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.err.ConnectionFailure(); got != tc.want {
				t.Errorf("ConnectionFailure %q, want %q", got, tc.want)
			}
		})
	}
	e := &Error{Operation: opGetDatasourceStatus, StatusCode: 400, Code: accessError, NativeCode: "18456"}
	if want := "pbi: Gateways_GetDatasourceStatus: 400 Bad Request, code " + accessError + ", native error 18456"; e.Error() != want {
		t.Errorf("Error() %q, want %q", e.Error(), want)
	}
}

func TestGetDatasourceStatusChecksIDs(t *testing.T) {
	h := newHarness(t, []step{{status: http.StatusOK}}, nil)
	err := h.client.GetDatasourceStatus(context.Background(), gw, "nope")
	if !errors.Is(err, ErrInvalidArgument) || len(h.fake.requests()) != 0 {
		t.Errorf("error %v after %d requests, want an invalid argument before any", err, len(h.fake.requests()))
	}
}

// FuzzStatusError: whatever the 400 body, responseError does not panic, its
// failure is a reason or "", the native code is identifier-like, the message
// is bounded, and a secret of the context shows nowhere in the error.
func FuzzStatusError(f *testing.F) {
	f.Add(loginFailedBody)
	f.Add(statusBody(accessError, "UnderlyingNativeErrorCode", "53", "UnderlyingErrorMessage", networkMessage))
	f.Add(`{"error":{"code":"DM_GWPipeline_Client_GatewayUnreachable","pbi.error":{"details":{}}}}`)
	f.Add(`{"error":{"pbi.error":{"details":[{"code":"DM_ErrorDetailNameCode_UnderlyingErrorMessage","detail":{"value":"topsecret-value-1"}}]}}}`)
	f.Add(`{"error":{"code":"topsecret-value-1","pbi.error":{"details":[{"code":"DM_ErrorDetailNameCode_UnderlyingNativeErrorCode","detail":{"value":"topsecret-value-1"}}]}}}`)
	const password = "topsecret-value-1"
	ctx := secret.WithValues(context.Background(), secret.FromString(password))
	f.Fuzz(func(t *testing.T, body string) {
		e := responseError(ctx, opGetDatasourceStatus, &http.Response{StatusCode: 400, Header: http.Header{}}, []byte(body), time.Time{})
		switch got := e.ConnectionFailure(); got {
		case "", connstatus.GatewayUnreachable, connstatus.Rejected, connstatus.DatasourceUnreachable, connstatus.DatasourceError:
		default:
			t.Fatalf("ConnectionFailure %q", got)
		}
		if azrest.CleanCode(e.NativeCode) != e.NativeCode || len([]rune(e.Message)) > azrest.MaxMessage+1 {
			t.Fatalf("native code %q, message of %d runes", e.NativeCode, len([]rune(e.Message)))
		}
		if strings.Contains(e.Error(), password) {
			t.Fatalf("error leaks the secret: %s", e)
		}
	})
}
