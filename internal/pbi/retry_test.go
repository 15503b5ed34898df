package pbi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

func TestRetries(t *testing.T) {
	retryAfter := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	gwBody := `{"id":"` + gw + `"}`
	tests := map[string]struct {
		steps      []step
		maxRetries int
		tryTimeout time.Duration
		// the error expected; nil for success
		wantStatus     int
		wantCode       string
		wantRetryAfter time.Duration
		wantThrottled  bool
		wantRetryable  bool
		wantTransport  bool
		wantAttempts   []int         // status codes the hook saw, 0 for transport errors
		wantSlept      time.Duration // what the long-Retry-After wait slept, in total
		// A lower bound on the call's wall time, proof that a short
		// Retry-After was waited out. No upper bounds: what proves that a
		// call did not wait is wantAttempts and wantSlept, which a loaded
		// machine cannot change.
		minElapsed time.Duration
	}{
		"429 with a short Retry-After is waited out and retried": {
			steps:        []step{{status: 429, header: retryAfter("1")}, ok(gwBody)},
			wantAttempts: []int{429, 200},
			minElapsed:   time.Second,
		},
		"429 beyond MaxRetryAfter fails at once as throttled, for a later tick": {
			steps:          []step{{status: 429, header: retryAfter("3392"), body: `{"message":"You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 3392 seconds."}`}},
			wantStatus:     429,
			wantRetryAfter: 3392 * time.Second,
			wantThrottled:  true,
			wantAttempts:   []int{429},
		},
		"429 with an HTTP date far ahead fails at once": {
			steps:         []step{{status: 429, header: retryAfter(time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat))}},
			wantStatus:    429,
			wantThrottled: true,
			wantAttempts:  []int{429},
		},
		"429 between MaxRetryDelay and MaxRetryAfter is waited by the client": {
			steps:        []step{{status: 429, header: retryAfter("120")}, ok(gwBody)},
			wantAttempts: []int{429, 200},
			wantSlept:    120 * time.Second,
		},
		"long waits spend the retry budget": {
			steps:          []step{{status: 429, header: retryAfter("120")}},
			maxRetries:     2,
			wantStatus:     429,
			wantRetryAfter: 120 * time.Second,
			wantThrottled:  true,
			wantRetryable:  true,
			wantAttempts:   []int{429, 429, 429},
			wantSlept:      240 * time.Second,
		},
		"503 is retried": {
			steps:        []step{pbiError(503, "ServiceUnavailable", nil), ok(gwBody)},
			wantAttempts: []int{503, 200},
		},
		"502 and 504 are retried": {
			steps:        []step{{status: 502}, {status: 504}, ok(gwBody)},
			wantAttempts: []int{502, 504, 200},
		},
		"500 forever fails after the retries": {
			steps:         []step{pbiError(500, "InternalError", map[string]string{"RequestId": "req-500"})},
			maxRetries:    2,
			wantStatus:    500,
			wantCode:      "InternalError",
			wantRetryable: true,
			wantAttempts:  []int{500, 500, 500},
		},
		"no retries when MaxRetries is negative": {
			steps:         []step{{status: 500}},
			maxRetries:    -1,
			wantStatus:    500,
			wantRetryable: true,
			wantAttempts:  []int{500},
		},
		"an attempt past TryTimeout is abandoned and retried": {
			steps:        []step{{status: 200, stall: 10 * time.Second}, ok(gwBody)},
			tryTimeout:   time.Second, // the behaviour under test: room for a TLS handshake on a loaded machine
			wantAttempts: []int{0, 200},
		},
		"a dropped connection is retried": {
			steps:        []step{{drop: true}, ok(gwBody)},
			wantAttempts: []int{0, 200},
		},
		"dropped connections forever fail as a transport error": {
			steps:         []step{{drop: true}},
			maxRetries:    1,
			wantTransport: true,
			wantRetryable: true,
			wantAttempts:  []int{0, 0},
		},
		// A 200 that lost its body is the same fault as a dropped
		// connection, seen through a proxy: retried in the same budget.
		"a 200 with an empty body is retried": {
			steps:        []step{{status: 200}, ok(gwBody)},
			wantAttempts: []int{0, 200},
		},
		"a 200 cut short is retried": {
			steps:        []step{{status: 200, header: map[string]string{"Content-Length": "100"}, body: `{"id":`}, ok(gwBody)},
			wantAttempts: []int{0, 200},
		},
		"empty 200s forever fail as a transport error": {
			steps:         []step{{status: 200}},
			maxRetries:    1,
			wantTransport: true,
			wantRetryable: true,
			wantAttempts:  []int{0, 0},
		},
		"404 is not retried": {
			steps:        []step{pbiError(404, "DMTS_EntityNotFoundError", nil)},
			wantStatus:   404,
			wantCode:     "DMTS_EntityNotFoundError",
			wantAttempts: []int{404},
		},
		"403 is not retried": {
			steps:        []step{pbiError(403, "PowerBINotAuthorizedException", nil)},
			wantStatus:   403,
			wantCode:     "PowerBINotAuthorizedException",
			wantAttempts: []int{403},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, func(o *Options) {
				if tc.maxRetries != 0 {
					o.MaxRetries = tc.maxRetries
				}
				o.TryTimeout = tc.tryTimeout
			})
			var mu sync.Mutex
			var slept time.Duration
			h.client.sleep = func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				slept += d
				return nil
			}
			start := time.Now()
			_, err := h.client.GetGateway(context.Background(), gw)
			elapsed := time.Since(start)

			var got []int
			for _, a := range h.hook.Get() {
				var code int
				if !strings.HasPrefix(a, opGetGateway+" ") {
					t.Errorf("hook saw operation %q", a)
				}
				_, _ = fmt.Sscan(strings.TrimPrefix(a, opGetGateway+" "), &code)
				got = append(got, code)
			}
			if !reflect.DeepEqual(got, tc.wantAttempts) {
				t.Errorf("attempts %v, want %v", got, tc.wantAttempts)
			}
			if slept != tc.wantSlept {
				t.Errorf("slept %s, want %s", slept, tc.wantSlept)
			}
			if elapsed < tc.minElapsed {
				t.Errorf("took %s, want at least %s", elapsed, tc.minElapsed)
			}
			if tc.wantStatus == 0 && !tc.wantTransport {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want *Error", err)
			}
			if pe.StatusCode != tc.wantStatus || pe.Code != tc.wantCode || pe.Throttled() != tc.wantThrottled ||
				pe.Retryable() != tc.wantRetryable || (pe.Err != nil) != tc.wantTransport || pe.Operation != opGetGateway {
				t.Errorf("got %#v (throttled %v, retryable %v)", pe, pe.Throttled(), pe.Retryable())
			}
			if tc.wantRetryAfter != 0 && pe.RetryAfter != tc.wantRetryAfter {
				t.Errorf("RetryAfter %s, want %s", pe.RetryAfter, tc.wantRetryAfter)
			}
			if tc.wantThrottled && pe.RetryAfter < time.Hour && tc.wantRetryAfter == 0 {
				t.Errorf("RetryAfter %s, want about 2h", pe.RetryAfter)
			}
			if pe.Hint == "" {
				t.Error("no hint")
			}
		})
	}
}

func TestUnauthorizedReacquiresTokenOnce(t *testing.T) {
	tests := map[string]struct {
		steps      []step
		wantErr    bool
		wantTokens int32
		wantAuth   []string
	}{
		"401 once: new token, success": {
			steps:      []step{pbiError(401, "TokenExpired", nil), ok(`{"id":"` + gw + `"}`)},
			wantTokens: 2,
			wantAuth:   []string{"Bearer token-1", "Bearer token-2"},
		},
		"401 twice: gives up after one re-send": {
			steps:      []step{pbiError(401, "PowerBINotAuthorizedException", map[string]string{"RequestId": "r-401"})},
			wantErr:    true,
			wantTokens: 2,
			wantAuth:   []string{"Bearer token-1", "Bearer token-2"},
		},
		"401 after a 503: re-sent once more": {
			steps:      []step{{status: 503}, pbiError(401, "TokenExpired", nil), ok(`{"id":"` + gw + `"}`)},
			wantTokens: 2,
			wantAuth:   []string{"Bearer token-1", "Bearer token-1", "Bearer token-2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.steps, nil)
			_, err := h.client.GetGateway(context.Background(), gw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if n := h.cred.Calls(); n != tc.wantTokens {
				t.Errorf("GetToken called %d times, want %d", n, tc.wantTokens)
			}
			var auth []string
			for _, r := range h.fake.requests() {
				auth = append(auth, r.auth)
			}
			if !reflect.DeepEqual(auth, tc.wantAuth) {
				t.Errorf("Authorization headers %q, want %q", auth, tc.wantAuth)
			}
			if tc.wantErr {
				want := "pbi: Gateways_GetGateway: 401 Unauthorized, code PowerBINotAuthorizedException, request id r-401 (" + hintUnauthorized + ")"
				if err.Error() != want {
					t.Errorf("got  %s\nwant %s", err, want)
				}
			}
		})
	}
}

func TestErrorHintsAndRequestID(t *testing.T) {
	creds := secret.FromString(`{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"Pa55-w0rd!"}]}`)
	details := CredentialDetails{CredentialType: "Basic", Credentials: creds, EncryptedConnection: "Encrypted", EncryptionAlgorithm: "None", PrivacyLevel: "None"}
	hdr := map[string]string{"RequestId": "5b2c2d7c-0000-4000-8000-000000000001"}
	tests := map[string]struct {
		step step
		call func(c *Client) error
		want string
	}{
		"404 on GetGateway": {pbiError(404, "DMTS_EntityNotFoundError", hdr),
			func(c *Client) error { _, err := c.GetGateway(context.Background(), gw); return err },
			"pbi: Gateways_GetGateway: 404 Not Found, code DMTS_EntityNotFoundError, request id 5b2c2d7c-0000-4000-8000-000000000001 (" + hintNotFound + hintCloudGateway + ")"},
		"404 on GetDatasource": {pbiError(404, "DMTS_EntityNotFoundError", hdr),
			func(c *Client) error { _, err := c.GetDatasource(context.Background(), gw, ds); return err },
			"pbi: Gateways_GetDatasource: 404 Not Found, code DMTS_EntityNotFoundError, request id 5b2c2d7c-0000-4000-8000-000000000001 (" + hintNotFound + ")"},
		"403 on users": {pbiError(403, "PowerBINotAuthorizedException", hdr),
			func(c *Client) error { _, err := c.GetDatasourceUsers(context.Background(), gw, ds); return err },
			"pbi: Gateways_GetDatasourceUsers: 403 Forbidden, code PowerBINotAuthorizedException, request id 5b2c2d7c-0000-4000-8000-000000000001 (" + hintNotGatewayAdmin + ")"},
		"400 on PATCH": {pbiError(400, "DM_GWPipeline_Gateway_InvalidConnectionCredentials", hdr),
			func(c *Client) error { return c.UpdateDatasource(context.Background(), gw, ds, details) },
			"pbi: Gateways_UpdateDatasource: 400 Bad Request, code DM_GWPipeline_Gateway_InvalidConnectionCredentials, request id 5b2c2d7c-0000-4000-8000-000000000001 (" + hintBadCredentials + ")"},
		"400 wrong encryption algorithm": {pbiError(400, "DMTS_InvalidEncryptionAlgorithmError", nil),
			func(c *Client) error { return c.UpdateDatasource(context.Background(), gw, ds, details) },
			"pbi: Gateways_UpdateDatasource: 400 Bad Request, code DMTS_InvalidEncryptionAlgorithmError (" + hintBadAlgorithm + ")"},
		"400 on POST user keeps Power BI's message": {step{status: 400, body: `{"error":{"code":"InvalidRequest","message":"Adding groups through the API is not supported."}}`},
			func(c *Client) error {
				return c.AddDatasourceUser(context.Background(), gw, ds, DatasourceUser{DatasourceAccessRight: "Read", EmailAddress: "g@contoso.com"})
			},
			`pbi: Gateways_AddDatasourceUser: 400 Bad Request, code InvalidRequest: "Adding groups through the API is not supported." (` + hintBadRequest + ")"},
		"404 on DELETE user": {pbiError(404, "DMTS_EntityNotFoundError", nil),
			func(c *Client) error { return c.DeleteDatasourceUser(context.Background(), gw, ds, "gone@contoso.com") },
			"pbi: Gateways_DeleteDatasourceUser: 404 Not Found, code DMTS_EntityNotFoundError (" + hintNoUser + hintNotFound + ")"},
		"non-JSON error body is not quoted": {step{status: 418, body: "<html>I'm a teapot with a long story</html>"},
			func(c *Client) error { return c.DeleteDatasourceUser(context.Background(), gw, ds, "x@contoso.com") },
			"pbi: Gateways_DeleteDatasourceUser: 418 I'm a teapot"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, []step{tc.step}, nil)
			err := tc.call(h.client)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Retryable() {
				t.Errorf("want a non-retryable *Error, got %#v", pe)
			}
			if n := len(h.fake.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retries)", n)
			}
		})
	}
}

// TestNoSecretInErrors sends credentials to a server that echoes the request
// body back everywhere it can, and checks no error string carries it.
func TestNoSecretInErrors(t *testing.T) {
	const password = "Pa55-w0rd!-do-not-leak"
	plain := `{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"` + password + `"}]}`
	const cipher = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=ciphertext-blob"
	tests := map[string]struct {
		creds string
		steps []step
	}{
		"400 echoing the body":   {plain, nil},
		"400 echoing ciphertext": {cipher, nil},
		"500 forever echoing":    {plain, nil},
		"dropped connection":     {cipher, []step{{drop: true}}},
		"429 throttled":          {plain, []step{{status: 429, header: map[string]string{"Retry-After": "9999"}, body: `{"message":"` + password + `"}`}}},
		// The request body as sent holds the credentials JSON-escaped, and a
		// value inside them escaped twice: "<&>\" are not in it as typed.
		"400 echoing the raw request, special characters": {
			`{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"q\"<&>\\` + password + `"}]}`,
			[]step{{status: 400, echo: true}}},
		"400 echoing the raw request, ciphertext": {cipher, []step{{status: 400, echo: true}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status := 400
			if strings.HasPrefix(name, "500") {
				status = 500
			}
			h := newHarness(t, tc.steps, func(o *Options) { o.MaxRetries = 1 })
			if tc.steps == nil {
				// An echoing server: the body goes into error.message and the details.
				h.fake.steps = []step{{status: status, body: `{"error":{"code":"X","message":` + jsonString(tc.creds) +
					`,"pbi.error":{"code":"X","details":[{"code":"D","detail":{"type":1,"value":` + jsonString(tc.creds) + `}}]}}}`}}
			}
			err := h.client.UpdateDatasource(context.Background(), gw, ds, CredentialDetails{
				CredentialType: "Basic", Credentials: secret.FromString(tc.creds),
				EncryptedConnection: "Encrypted", EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "None",
			})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, "do-not-leak") || strings.Contains(s, "ciphertext-blob") || strings.Contains(s, "credentialData") {
					t.Errorf("error leaks the credentials: %s", s)
				}
			}
			if reqs := h.fake.requests(); len(reqs) == 0 || !strings.Contains(reqs[0].body, strings.Trim(jsonString(tc.creds), `"`)) {
				t.Errorf("the credentials were not sent: %+v", reqs)
			}
		})
	}
}

// TestIncompleteAnswers: a write whose 200 is cut short is retried like a
// dropped connection (azcore alone retries a cut-short body only for GET,
// PUT and DELETE), an empty 200 to a write is its normal answer, and a GET
// whose 200s stay empty fails saying so.
func TestIncompleteAnswers(t *testing.T) {
	cutShort := step{status: 200, header: map[string]string{"Content-Length": "100"}, body: `{"x":`}
	details := CredentialDetails{CredentialType: "Basic", Credentials: secret.FromString("c"), EncryptedConnection: "Encrypted",
		EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "None"}
	patch := func(c *Client) error { return c.UpdateDatasource(context.Background(), gw, ds, details) }
	tests := map[string]struct {
		steps    []step
		call     func(*Client) error
		wantReqs int
		wantErr  string
	}{
		"PATCH answered by a cut-short 200": {steps: []step{cutShort, {status: 200}}, call: patch, wantReqs: 2},
		"PATCH answered by an empty 200":    {steps: []step{{status: 200}}, call: patch, wantReqs: 1},
		"POST answered by a cut-short 200": {steps: []step{cutShort, {status: 200}}, wantReqs: 2, call: func(c *Client) error {
			return c.AddDatasourceUser(context.Background(), gw, ds, DatasourceUser{DatasourceAccessRight: "Read", EmailAddress: "a@contoso.com"})
		}},
		"GET answered by empty 200s only": {steps: []step{{status: 200}}, wantReqs: 2,
			call:    func(c *Client) error { _, err := c.GetDatasource(context.Background(), gw, ds); return err },
			wantErr: "pbi: Gateways_GetDatasource: incomplete response: 200 OK with an empty body (" + hintIncomplete + ")"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, func(o *Options) { o.MaxRetries = 1 })
			err := tc.call(h.client)
			if got := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && got != tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if n := len(h.fake.requests()); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
		})
	}
}

// TestNoRotationSecretInErrors: a service that decrypted an on-premises
// credential may echo the plain password, which is not what was sent (the
// ciphertext), and any call of a rotation may echo it. Every message is
// checked against the secrets the caller put in the context.
func TestNoRotationSecretInErrors(t *testing.T) {
	const password = `Pa55<w0rd>-do-not-leak`
	ctx := secret.WithValues(context.Background(), secret.FromString(password))
	encrypted := CredentialDetails{CredentialType: "Basic", Credentials: secret.FromString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="),
		EncryptedConnection: "Encrypted", EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "None"}
	tests := map[string]struct {
		body string // the 400's body
		call func(*Client) error
	}{
		"encrypted PATCH echoing the plain password": {
			`{"error":{"code":"DM_GWPipeline_Gateway_InvalidConnectionCredentials","message":"password ` + password + ` rejected"}}`,
			func(c *Client) error { return c.UpdateDatasource(ctx, gw, ds, encrypted) }},
		"encrypted PATCH echoing it JSON-escaped": {
			`{"error":{"code":"X","message":"{\"password\":\"Pa55\\u003cw0rd\\u003e-do-not-leak\"}"}}`,
			func(c *Client) error { return c.UpdateDatasource(ctx, gw, ds, encrypted) }},
		"Add Datasource User echoing it": {
			`{"error":{"code":"X","message":"credential ` + password + ` of the data source"}}`,
			func(c *Client) error {
				return c.AddDatasourceUser(ctx, gw, ds, DatasourceUser{DatasourceAccessRight: "Read", EmailAddress: "a@contoso.com"})
			}},
		"GetGateway echoing it": {
			`{"message":"` + password + `"}`,
			func(c *Client) error { _, err := c.GetGateway(ctx, gw); return err }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, []step{{status: 400, body: tc.body}}, func(o *Options) { o.MaxRetries = 1 })
			err := tc.call(h.client)
			var pe *Error
			if !errors.As(err, &pe) || pe.StatusCode != 400 {
				t.Fatalf("want a 400 *Error, got %v", err)
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, "do-not-leak") {
					t.Errorf("error leaks the password: %s", s)
				}
			}
		})
	}
}
