package fabric

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/secret"
)

// The answers of the spec's TestConnection examples.
const (
	onlineBody  = `{"status":"Online","errors":[]}`
	offlineBody = `{"status":"Offline","errors":[{"message":"Error response with StatusCode: BadRequest, ErrorCode: GatewayNotFound, ErrorMessage: 'GatewayContainer does not exist'","errorCode":"DM_GWPipeline_UnknownError"}]}`
)

func offline(code, message string) string {
	return `{"status":"Offline","errors":[{"errorCode":` + jsonString(code) + `,"message":` + jsonString(message) + `}]}`
}

func accepted(header map[string]string) step {
	return step{status: http.StatusAccepted, header: header}
}

func state(status string, header map[string]string) step {
	return step{status: http.StatusOK, header: header,
		body: `{"status":"` + status + `","createdTimeUtc":"2026-08-04T10:00:00Z","lastUpdatedTimeUtc":"2026-08-04T10:00:05Z","percentComplete":50}`}
}

// TestConnectionAnswers: a 200 says at once whether the connection
// connected; Offline is classified by its first error.
func TestConnectionAnswers(t *testing.T) {
	tests := map[string]struct {
		steps       []step
		wantFailure string // "" with wantErr false: connected
		wantErr     bool
		wantCode    string
		wantHint    string
		wantIn      []string
	}{
		"online":                  {steps: []step{ok(onlineBody)}},
		"online, no errors field": {steps: []step{ok(`{"status":"Online"}`)}},
		"offline, the spec's example": {
			steps: []step{ok(offlineBody)}, wantErr: true, wantFailure: connstatus.GatewayUnreachable,
			wantCode: "DM_GWPipeline_UnknownError", wantHint: hintOf(connstatus.GatewayUnreachable),
			wantIn: []string{"fabric: Connections_TestConnection: 200 OK, code DM_GWPipeline_UnknownError", "GatewayNotFound", "connection offline"},
		},
		"offline, incorrect credentials": {
			steps: []step{ok(offline("IncorrectCredentials", "Failed to establish connection using the Credentials input."))}, wantErr: true,
			wantFailure: connstatus.Rejected, wantCode: "IncorrectCredentials", wantHint: hintOf(connstatus.Rejected),
		},
		"offline, the database refused the login": {
			steps: []step{ok(offline("DM_GWPipeline_Gateway_DataSourceAccessError", "Login failed for user 'svc'."))}, wantErr: true,
			wantFailure: connstatus.Rejected, wantCode: "DM_GWPipeline_Gateway_DataSourceAccessError", wantHint: hintOf(connstatus.Rejected),
		},
		"offline, the database is unreachable": {
			steps: []step{ok(offline("DM_GWPipeline_Gateway_DataSourceAccessError", "A network-related or instance-specific error occurred."))}, wantErr: true,
			wantFailure: connstatus.DatasourceUnreachable, wantCode: "DM_GWPipeline_Gateway_DataSourceAccessError", wantHint: hintOf(connstatus.DatasourceUnreachable),
		},
		"offline, a code nothing knows": {
			steps: []step{ok(offline("SomethingNew", "whatever"))}, wantErr: true,
			wantFailure: connstatus.DatasourceError, wantCode: "SomethingNew", wantHint: hintOf(connstatus.DatasourceError),
		},
		"offline without errors": {
			steps: []step{ok(`{"status":"Offline"}`)}, wantErr: true, wantFailure: connstatus.DatasourceError, wantHint: hintOf(connstatus.DatasourceError),
		},
		"a 400 with IncorrectCredentials": {
			steps:   []step{fabricError(400, "IncorrectCredentials", "Failed to establish connection using the Credentials input.", nil)},
			wantErr: true, wantFailure: connstatus.Rejected, wantCode: "IncorrectCredentials", wantHint: hintOf(connstatus.Rejected),
			wantIn: []string{"400 Bad Request, code IncorrectCredentials, request id " + reqID},
		},
		"a 404": {
			steps:   []step{fabricError(404, "EntityNotFound", "The requested resource could not be found.", nil)},
			wantErr: true, wantCode: "EntityNotFound", wantHint: hintNotFound,
		},
		"a status nothing knows": {
			steps: []step{ok(`{"status":"Degraded"}`)}, wantErr: true, wantHint: "unexpected response — is fabric.api_url the Fabric API?",
			wantIn: []string{`connection status "Degraded" is neither Online nor Offline`},
		},
		"an empty 200": {
			steps: []step{{status: 200}}, wantErr: true, wantHint: "unexpected response — is fabric.api_url the Fabric API?",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, nil)
			err := h.client.TestConnection(context.Background(), conn)
			if r := h.fake.requests()[0]; r.method != http.MethodPost || r.path != "/v1/connections/"+conn+"/testConnection" || r.body != "" {
				t.Errorf("request %+v", r)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			fe := asError(t, err)
			if got := fe.ConnectionFailure(); got != tc.wantFailure {
				t.Errorf("ConnectionFailure %q, want %q", got, tc.wantFailure)
			}
			if fe.Code != tc.wantCode || fe.Hint != tc.wantHint || fe.Operation != opTestConnection || fe.Retryable() {
				t.Errorf("got %#v (retryable %v)\nwant code %q, hint %q", fe, fe.Retryable(), tc.wantCode, tc.wantHint)
			}
			if tc.wantFailure != "" && !errors.Is(err, ErrOffline) && fe.StatusCode != 400 {
				t.Errorf("an Offline answer is not ErrOffline: %v", err)
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func hintOf(reason string) string { return azrest.ReasonHint(reason) }

// pollHarness is a harness on a fake clock, with TestConnection running in
// a goroutine.
type pollHarness struct {
	*harness
	clk  *clocktest.Fake
	done chan error
}

func startTest(t *testing.T, steps []step, mod func(*Options)) *pollHarness {
	t.Helper()
	clk := clocktest.NewFake(time.Date(2026, 8, 4, 10, 0, 0, 0, time.UTC))
	h := newHarness(t, steps, func(o *Options) {
		o.Clock = clk
		if mod != nil {
			mod(o)
		}
	})
	p := &pollHarness{harness: h, clk: clk, done: make(chan error, 1)}
	go func() { p.done <- h.client.TestConnection(context.Background(), conn) }()
	return p
}

// wait lets the client arm its wait and moves the clock d, checking that
// the client had not ended before.
func (p *pollHarness) wait(t *testing.T, d time.Duration) {
	t.Helper()
	p.clk.BlockUntil(1)
	select {
	case err := <-p.done:
		t.Fatalf("TestConnection ended before the clock moved: %v", err)
	default:
	}
	if d > time.Millisecond {
		p.clk.Advance(d - time.Millisecond)
		select {
		case err := <-p.done:
			t.Fatalf("TestConnection ended %s into a wait of %s: %v", d-time.Millisecond, d, err)
		case <-time.After(10 * time.Millisecond):
		}
		p.clk.Advance(time.Millisecond)
		return
	}
	p.clk.Advance(d)
}

func (p *pollHarness) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("TestConnection did not end")
		return nil
	}
}

// TestConnectionPolls: a 202 starts an operation, polled at its Location
// after each Retry-After on the client's clock until it has Succeeded,
// then its result read.
func TestConnectionPolls(t *testing.T) {
	loc := "https://{{host}}/v1/operations/" + opID
	p := startTest(t, []step{
		accepted(map[string]string{"Location": loc, "x-ms-operation-id": opID, "Retry-After": "30"}),
		state("Running", map[string]string{"Retry-After": "20"}),
		state("NotStarted", nil), // no Retry-After: 5s
		state("Succeeded", map[string]string{"Location": loc + "/result"}),
		ok(onlineBody),
	}, nil)
	p.wait(t, 30*time.Second)
	p.wait(t, 20*time.Second)
	p.wait(t, 5*time.Second)
	if err := p.result(t); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.fake.requests() {
		got = append(got, r.method+" "+r.path)
	}
	want := []string{"POST /v1/connections/" + conn + "/testConnection", "GET /v1/operations/" + opID, "GET /v1/operations/" + opID,
		"GET /v1/operations/" + opID, "GET /v1/operations/" + opID + "/result"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests %q\nwant %q", got, want)
	}
	if got, want := p.hook.Get(), []string{opTestConnection + " 202", opGetOperationState + " 200", opGetOperationState + " 200",
		opGetOperationState + " 200", opGetOperationResult + " 200"}; !reflect.DeepEqual(got, want) {
		t.Errorf("OnResponse saw %q\nwant %q", got, want)
	}
}

func TestConnectionPollResults(t *testing.T) {
	loc := map[string]string{"Location": "https://{{host}}/v1/operations/" + opID, "Retry-After": "1"}
	tests := map[string]struct {
		steps       []step
		wantErr     error // errors.Is; nil: connected
		wantFailure string
		wantCode    string
		wantHint    string
		wantIn      []string
	}{
		"succeeded, offline": {
			steps:   []step{accepted(loc), state("Succeeded", nil), ok(offlineBody)},
			wantErr: ErrOffline, wantFailure: connstatus.GatewayUnreachable, wantCode: "DM_GWPipeline_UnknownError", wantHint: hintOf(connstatus.GatewayUnreachable),
		},
		"failed with incorrect credentials": {
			steps: []step{accepted(loc), {status: 200, body: `{"status":"Failed","createdTimeUtc":"2026-08-04T10:00:00Z","lastUpdatedTimeUtc":"2026-08-04T10:00:05Z",
				"error":{"errorCode":"IncorrectCredentials","message":"Failed to establish connection using the Credentials input.","requestId":"` + reqID + `"}}`}},
			wantErr: ErrOperationFailed, wantFailure: connstatus.Rejected, wantCode: "IncorrectCredentials", wantHint: hintOf(connstatus.Rejected),
			wantIn: []string{"200 OK, code IncorrectCredentials, request id " + reqID, "operation failed"},
		},
		"failed, a detail says why": {
			steps: []step{accepted(loc), {status: 200, body: `{"status":"Failed","error":{"errorCode":"TestConnectionFailed","message":"The test failed",
				"moreDetails":[{"errorCode":"DM_GWPipeline_Client_GatewayUnreachable","message":"The gateway is offline"}]}}`}},
			wantErr: ErrOperationFailed, wantFailure: connstatus.GatewayUnreachable, wantCode: "TestConnectionFailed", wantHint: hintOf(connstatus.GatewayUnreachable),
		},
		"failed, nothing says why": {
			steps:   []step{accepted(loc), {status: 200, body: `{"status":"Failed","error":{"errorCode":"UnknownError","message":"An error occurred"}}`}},
			wantErr: ErrOperationFailed, wantCode: "UnknownError", wantHint: hintTestFailed,
		},
		"failed without an error": {
			steps:   []step{accepted(loc), {status: 200, body: `{"status":"Failed"}`}},
			wantErr: ErrOperationFailed, wantHint: hintTestFailed,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := startTest(t, tc.steps, nil)
			p.wait(t, time.Second)
			err := p.result(t)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fe := asError(t, err)
			if !errors.Is(err, tc.wantErr) || fe.ConnectionFailure() != tc.wantFailure || fe.Code != tc.wantCode || fe.Hint != tc.wantHint ||
				fe.Operation != opTestConnection || fe.Retryable() {
				t.Errorf("got %#v (failure %q, retryable %v)", fe, fe.ConnectionFailure(), fe.Retryable())
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestConnectionPollByOperationID: without a Location the operation is
// polled at /operations/{x-ms-operation-id}.
func TestConnectionPollByOperationID(t *testing.T) {
	p := startTest(t, []step{accepted(map[string]string{"x-ms-operation-id": opID}), state("Succeeded", nil), ok(onlineBody)}, nil)
	p.wait(t, defaultPollDelay)
	if err := p.result(t); err != nil {
		t.Fatal(err)
	}
	if r := p.fake.requests(); len(r) != 3 || r[1].path != "/v1/operations/"+opID || r[2].path != "/v1/operations/"+opID+"/result" {
		t.Errorf("requests %+v", r)
	}
}

// TestConnectionPollDelays: a Retry-After is obeyed within [1s, 1m].
func TestConnectionPollDelays(t *testing.T) {
	for _, tc := range []struct {
		retryAfter string
		want       time.Duration
	}{{"0", minPollDelay}, {"3600", maxPollDelay}, {"soon", defaultPollDelay}, {"", defaultPollDelay}, {"7", 7 * time.Second}} {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		if got := pollDelay(h, time.Now()); got != tc.want {
			t.Errorf("Retry-After %q: wait %s, want %s", tc.retryAfter, got, tc.want)
		}
	}
}

// TestConnectionPollRefused: an operation link that would take the token
// off the API fails the test with nothing sent to it; so does a 202 that
// names no operation.
func TestConnectionPollRefused(t *testing.T) {
	hint := func(p azrest.LinkProblem) string { return hints().Link(p, "operation link (Location)") }
	tests := map[string]struct {
		header   map[string]string
		wantHint string
		wantErr  error
	}{
		"another host":  {map[string]string{"Location": "https://evil.example/v1/operations/" + opID, "x-ms-operation-id": opID}, hint(azrest.LinkOffHost), ErrLinkRefused},
		"http":          {map[string]string{"Location": "http://{{host}}/v1/operations/" + opID}, hint(azrest.LinkNotHTTPS), ErrLinkRefused},
		"off the path":  {map[string]string{"Location": "https://{{host}}/admin/operations/" + opID}, hint(azrest.LinkOffPath), ErrLinkRefused},
		"user info":     {map[string]string{"Location": "https://evil@{{host}}/v1/operations/" + opID}, hint(azrest.LinkOffHost), ErrLinkRefused},
		"no operation":  {map[string]string{"Retry-After": "1"}, "unexpected response — is fabric.api_url the Fabric API?", nil},
		"a bad op id":   {map[string]string{"x-ms-operation-id": "../admin"}, "unexpected response — is fabric.api_url the Fabric API?", nil},
		"relative link": {map[string]string{"Location": "/v1/operations/" + opID}, hint(azrest.LinkNotHTTPS), ErrLinkRefused},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []step{accepted(tc.header), state("Succeeded", nil), ok(onlineBody)}, nil)
			err := h.client.TestConnection(context.Background(), conn)
			fe := asError(t, err)
			if fe.Hint != tc.wantHint || fe.Retryable() || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("got %v (retryable %v)\nwant hint %q", err, fe.Retryable(), tc.wantHint)
			}
			if strings.Contains(err.Error(), "evil") || strings.Contains(err.Error(), "admin") {
				t.Errorf("error %q quotes the link", err)
			}
			if n := len(h.fake.requests()); n != 1 {
				t.Errorf("%d requests, want 1: the link was followed", n)
			}
		})
	}
}

// TestConnectionPollBounds: polling ends at MaxPollWait, at the context's
// deadline and when the context is cancelled.
func TestConnectionPollBounds(t *testing.T) {
	loc := map[string]string{"Location": "https://{{host}}/v1/operations/" + opID, "Retry-After": "30"}
	running := state("Running", map[string]string{"Retry-After": "30"})

	t.Run("MaxPollWait", func(t *testing.T) {
		p := startTest(t, []step{accepted(loc), running}, func(o *Options) { o.MaxPollWait = 90 * time.Second })
		p.wait(t, 30*time.Second)
		p.wait(t, 30*time.Second)
		p.wait(t, 30*time.Second)
		err := p.result(t)
		fe := asError(t, err)
		if !errors.Is(err, ErrStillRunning) || fe.Hint != hintStillRunning || !fe.Retryable() || fe.Operation != opTestConnection {
			t.Errorf("got %v (retryable %v)", err, fe.Retryable())
		}
		if n := len(p.fake.requests()); n != 4 {
			t.Errorf("%d requests, want the test and 3 polls", n)
		}
	})

	t.Run("the context's deadline", func(t *testing.T) {
		clk := clocktest.NewFake(time.Now())
		h := newHarness(t, []step{accepted(loc), running}, func(o *Options) { o.Clock = clk })
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 45*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- h.client.TestConnection(ctx, conn) }()
		clk.BlockUntil(2) // the context's timer and the first wait
		clk.Advance(30 * time.Second)
		err := <-done // the next 30s would end past the deadline: no wait
		if !errors.Is(err, ErrStillRunning) {
			t.Errorf("got %v", err)
		}
		if n := len(h.fake.requests()); n != 2 {
			t.Errorf("%d requests, want the test and 1 poll", n)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		clk := clocktest.NewFake(time.Now())
		h := newHarness(t, []step{accepted(loc), running}, func(o *Options) { o.Clock = clk })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.client.TestConnection(ctx, conn) }()
		clk.BlockUntil(1)
		cancel()
		err := <-done
		fe := asError(t, err)
		if !errors.Is(err, context.Canceled) || fe.Retryable() {
			t.Errorf("got %v (retryable %v)", err, fe.Retryable())
		}
	})
}

// TestConnectionSecretInMessage: an Offline message holding a secret of the
// context is dropped, and still classified from.
func TestConnectionSecretInMessage(t *testing.T) {
	const password = "S3cret-Pa55-word"
	h := newHarness(t, []step{ok(offline("DM_GWPipeline_Gateway_DataSourceAccessError", "Login failed for user 'svc' with password '"+password+"'."))}, nil)
	err := h.client.TestConnection(secret.WithValues(context.Background(), secret.FromString(password)), conn)
	fe := asError(t, err)
	if fe.Message != "" || fe.ConnectionFailure() != connstatus.Rejected {
		t.Errorf("message %q, failure %q", fe.Message, fe.ConnectionFailure())
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error leaks the secret: %s", err)
	}
}
