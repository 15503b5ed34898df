package azrest

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/budget"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

func get(path ...string) Request { return Request{Op: "Get", Method: http.MethodGet, Path: path} }

func TestDo(t *testing.T) {
	retryAfter := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	tests := map[string]struct {
		steps      []step
		req        Request
		maxRetries int
		wantCodes  []int
		wantSlept  time.Duration
		wantStatus int  // of the failure's answer; 0 with wantErr false for success
		wantErr    bool // a failure without an answer
		wantWait   bool // Failure.WaitLonger
		wantHint   string
		wantTokens int32
	}{
		"200":                      {steps: []step{{status: 200, body: `{}`}}, req: get("x"), wantCodes: []int{200}, wantTokens: 1},
		"503 then 200":             {steps: []step{{status: 503}, {status: 200, body: `{}`}}, req: get("x"), wantCodes: []int{503, 200}, wantTokens: 1},
		"429 with a short wait":    {steps: []step{{status: 429, header: retryAfter("0")}, {status: 200, body: `{}`}}, req: get("x"), wantCodes: []int{429, 200}, wantTokens: 1},
		"429 with a long wait":     {steps: []step{{status: 429, header: retryAfter("120")}, {status: 200, body: `{}`}}, req: get("x"), wantCodes: []int{429, 200}, wantSlept: 2 * time.Minute, wantTokens: 1},
		"429 beyond MaxRetryAfter": {steps: []step{{status: 429, header: retryAfter("3392")}}, req: get("x"), wantCodes: []int{429}, wantStatus: 429, wantWait: true, wantTokens: 1},
		"404 is not retried":       {steps: []step{{status: 404, body: `{"errorCode":"EntityNotFound"}`}}, req: get("x"), wantCodes: []int{404}, wantStatus: 404, wantTokens: 1},
		"401 is re-sent once with a fresh token": {
			steps: []step{{status: 401}, {status: 200, body: `{}`}}, req: get("x"), wantCodes: []int{401, 200}, wantTokens: 2,
		},
		"401 twice fails": {steps: []step{{status: 401}}, req: get("x"), wantCodes: []int{401, 401}, wantStatus: 401, wantTokens: 2},
		"an empty 200 to a GET is retried, then fails as incomplete": {
			steps: []step{{status: 200}}, req: get("x"), maxRetries: 1, wantCodes: []int{0, 0}, wantErr: true,
			wantHint: "Svc's answer arrived incomplete — is a proxy between rotatord and Svc cutting responses?", wantTokens: 1,
		},
		"an empty 200 to a GET that expects one": {
			steps: []step{{status: 200}}, req: Request{Op: "Get", Method: http.MethodGet, Path: []string{"x"}, EmptyOK: true}, wantCodes: []int{200}, wantTokens: 1,
		},
		"an empty 202 to a POST": {
			steps: []step{{status: 202}}, req: Request{Op: "Post", Method: http.MethodPost, Path: []string{"x"}}, wantCodes: []int{202}, wantTokens: 1,
		},
		"dropped connections fail as a transport error": {
			steps: []step{{drop: true}}, req: get("x"), maxRetries: 1, wantCodes: []int{0, 0}, wantErr: true,
			wantHint: "could not reach Svc — check network, proxy and svc.api_url", wantTokens: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, func(o *Options) {
				if tc.maxRetries != 0 {
					o.MaxRetries = tc.maxRetries
				}
			})
			resp, err := h.client.Do(context.Background(), tc.req)
			if got := h.attempts(); !reflect.DeepEqual(got, tc.wantCodes) {
				t.Errorf("attempts %v, want %v", got, tc.wantCodes)
			}
			if h.slept != tc.wantSlept {
				t.Errorf("slept %s, want %s", h.slept, tc.wantSlept)
			}
			if n := h.cred.Calls(); n != tc.wantTokens {
				t.Errorf("%d tokens, want %d", n, tc.wantTokens)
			}
			if tc.wantStatus == 0 && !tc.wantErr {
				if err != nil || resp == nil {
					t.Fatalf("error %v, want success", err)
				}
				return
			}
			te := asTestError(t, err)
			if tc.wantStatus != 0 && (te.f.Response == nil || te.f.Response.StatusCode != tc.wantStatus) {
				t.Errorf("failure %+v, want an answer of %d", te.f, tc.wantStatus)
			}
			if tc.wantErr && (te.f.Response != nil || te.f.Err == nil) {
				t.Errorf("failure %+v, want one without an answer", te.f)
			}
			if te.f.WaitLonger != tc.wantWait || te.f.Hint != tc.wantHint || te.f.Op != tc.req.Op {
				t.Errorf("failure %+v, want WaitLonger %v, hint %q", te.f, tc.wantWait, tc.wantHint)
			}
		})
	}
}

// TestDoBudget: inside a tick the re-sends, azcore's and the core's, come
// out of the tick's budget, shared by its calls.
func TestDoBudget(t *testing.T) {
	h := newHarness(t, []step{{status: 503}}, func(o *Options) { o.MaxRetries = 9 })
	ctx := budget.NewContext(context.Background(), budget.New(3, time.Millisecond, time.Millisecond))
	for range 2 {
		_, _ = h.client.Do(ctx, get("x"))
	}
	if got, want := h.attempts(), []int{503, 503, 503, 503, 503}; !reflect.DeepEqual(got, want) {
		t.Errorf("attempts %v, want %v", got, want)
	}

	// A 401's re-send spends it too.
	h = newHarness(t, []step{{status: 401}, {status: 200, body: `{}`}}, nil)
	ctx = budget.NewContext(context.Background(), budget.New(0, time.Millisecond, time.Millisecond))
	if _, err := h.client.Do(ctx, get("x")); err == nil {
		t.Error("a 401 without budget succeeded")
	}
	if got := h.attempts(); !reflect.DeepEqual(got, []int{401}) {
		t.Errorf("attempts %v, want [401]", got)
	}
}

// TestLongRetryAfterOnTheClock: without a Sleep hook the long wait is timed
// by Options.Clock.
func TestLongRetryAfterOnTheClock(t *testing.T) {
	clk := clocktest.NewFake(time.Now())
	h := newHarness(t, []step{{status: 429, header: map[string]string{"Retry-After": "120"}}, {status: 200, body: `{}`}},
		func(o *Options) { o.Clock, o.Sleep = clk, nil })
	done := make(chan error, 1)
	go func() {
		_, err := h.client.Do(context.Background(), get("x"))
		done <- err
	}()
	clk.BlockUntil(1)
	clk.Advance(2 * time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDoEscapesPaths(t *testing.T) {
	h := newHarness(t, []step{{status: 200, body: `{}`}}, nil)
	if _, err := h.client.Do(context.Background(), get("a b", "c/d?e#f")); err != nil {
		t.Fatal(err)
	}
	if got, want := h.fake.requests()[0].path, "/v1/a%20b/c%2Fd%3Fe%23f"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	svc := Service{Package: "test", Fail: testFail}
	cred := &testutil.Credential{Scope: testScope}
	tests := map[string]struct {
		o    Options
		want string
	}{
		"no Fail":       {Options{Service: Service{Package: "test"}, Credential: cred, APIURL: "https://x/v1"}, "test: Service.Fail is required"},
		"no credential": {Options{Service: svc, APIURL: "https://x/v1"}, "test: Options.Credential is required"},
		"http":          {Options{Service: svc, Credential: cred, APIURL: "http://x/v1"}, `test: api url "http://x/v1" is not an https URL without query`},
		"query":         {Options{Service: svc, Credential: cred, APIURL: "https://x/v1?a=b"}, `test: api url "https://x/v1?a=b" is not an https URL without query`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	tests := map[string]struct {
		status     int
		err        error
		waitLonger bool
		want       bool
	}{
		"transport":        {err: errors.New("reset"), want: true},
		"no error at all":  {},
		"invalid argument": {err: ErrInvalidArgument},
		"paging":           {err: ErrPaging},
		"link refused":     {err: ErrLinkRefused},
		"canceled":         {err: context.Canceled},
		"500":              {status: 500, want: true},
		"429":              {status: 429, want: true},
		"429, wait longer": {status: 429, waitLonger: true},
		"408":              {status: 408, want: true},
		"400":              {status: 400},
		"200":              {status: 200},
	}
	for name, tc := range tests {
		if got := Retryable(tc.status, tc.err, tc.waitLonger); got != tc.want {
			t.Errorf("%s: Retryable %v, want %v", name, got, tc.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	got := ErrorText{Package: "fabric", Operation: "Op", StatusCode: 429, Code: "C", NativeCode: "N", RequestID: "R",
		RetryAfter: time.Minute, Message: "m", Err: errors.New("e"), Hint: "h"}.String()
	if want := `fabric: Op: 429 Too Many Requests, code C, native error N, request id R, retry after 1m0s: "m": e (h)`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := (ErrorText{Package: "pbi", Operation: "Op"}).String(); got != "pbi: Op" {
		t.Errorf("got %q", got)
	}
}

func TestCleaning(t *testing.T) {
	ctx := secret.WithValues(context.Background(), secret.FromString("hunter22"))
	for in, want := range map[string]string{
		"EntityNotFound": "EntityNotFound", "a-b_c.9": "a-b_c.9", "a b": "", "<x>": "", "hunter22": "",
	} {
		if got := CleanSafeCode(ctx, in); got != want {
			t.Errorf("CleanSafeCode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := CleanMessage(ctx, "line one\n\tline\x00two"); got != "line one line two" {
		t.Errorf("CleanMessage: %q", got)
	}
	if got := CleanMessage(ctx, `password "hunter22" refused`); got != "" {
		t.Errorf("CleanMessage kept a secret: %q", got)
	}
	long := CleanMessage(ctx, string(make([]rune, 2*MaxMessage)))
	if r := []rune(long); len(r) > MaxMessage+1 {
		t.Errorf("CleanMessage kept %d runes", len(r))
	}
	if got := RequestID(http.Header{"X-Ms-Request-Id": {"r-1"}}); got != "r-1" {
		t.Errorf("RequestID %q", got)
	}
	if got := RequestID(http.Header{"Requestid": {"a b"}, "X-Ms-Request-Id": {"r-1"}}); got != "" {
		t.Errorf("RequestID %q, want the first header's, dropped", got)
	}
}

func TestReasonHint(t *testing.T) {
	for _, r := range []string{"gateway_unreachable", "rejected", "datasource_unreachable", "datasource_error"} {
		if ReasonHint(r) == "" {
			t.Errorf("no hint for %s", r)
		}
	}
	if ReasonHint("") != "" || ReasonHint("other") != "" {
		t.Error("a hint for no reason")
	}
}
