package fabric

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/budget"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
)

func TestRetries(t *testing.T) {
	retryAfter := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	tests := map[string]struct {
		steps          []step
		maxRetries     int
		wantAttempts   []int
		wantSlept      time.Duration
		wantStatus     int // of the *Error; 0 for success
		wantTransport  bool
		wantRetryable  bool
		wantThrottled  bool
		wantRetryAfter time.Duration
		wantHint       string
	}{
		"429 with a short Retry-After is waited out and retried": {
			steps:        []step{fabricError(429, "RequestBlocked", "Request is blocked by the upstream service until: 2026-08-04 10:00:00 (UTC)", retryAfter("1")), ok(getConnectionBody)},
			wantAttempts: []int{429, 200},
		},
		"429 between MaxRetryDelay and MaxRetryAfter is waited by the client": {
			steps:        []step{fabricError(429, "RequestBlocked", "", retryAfter("120")), ok(getConnectionBody)},
			wantAttempts: []int{429, 200},
			wantSlept:    2 * time.Minute,
		},
		"429 beyond MaxRetryAfter fails at once, for a later tick": {
			steps:          []step{fabricError(429, "RequestBlocked", "", retryAfter("3600"))},
			wantAttempts:   []int{429},
			wantStatus:     429,
			wantThrottled:  true,
			wantRetryAfter: time.Hour,
			wantHint:       "throttled by Fabric — wait for Retry-After before calling again",
		},
		"long waits spend the retries": {
			steps:          []step{fabricError(429, "RequestBlocked", "", retryAfter("120"))},
			maxRetries:     2,
			wantAttempts:   []int{429, 429, 429},
			wantSlept:      4 * time.Minute,
			wantStatus:     429,
			wantThrottled:  true,
			wantRetryable:  true,
			wantRetryAfter: 2 * time.Minute,
			wantHint:       "throttled by Fabric — wait for Retry-After before calling again",
		},
		"503 and 500 are retried": {
			steps:        []step{{status: 503}, fabricError(500, "InternalError", "", nil), ok(getConnectionBody)},
			wantAttempts: []int{503, 500, 200},
		},
		"500 forever fails after the retries": {
			steps:         []step{fabricError(500, "InternalError", "An internal error occurred.", nil)},
			maxRetries:    2,
			wantAttempts:  []int{500, 500, 500},
			wantStatus:    500,
			wantRetryable: true,
			wantHint:      "Fabric service error — retried; try again later",
		},
		"a dropped connection is retried": {
			steps:        []step{{drop: true}, ok(getConnectionBody)},
			wantAttempts: []int{0, 200},
		},
		"an empty 200 is retried": {
			steps:        []step{{status: 200}, ok(getConnectionBody)},
			wantAttempts: []int{0, 200},
		},
		"dropped connections forever fail as a transport error": {
			steps:         []step{{drop: true}},
			maxRetries:    1,
			wantAttempts:  []int{0, 0},
			wantTransport: true,
			wantRetryable: true,
			wantHint:      "could not reach Fabric — check network, proxy and fabric.api_url",
		},
		"404 is not retried": {
			steps:        []step{fabricError(404, "EntityNotFound", "The requested resource could not be found.", nil)},
			wantAttempts: []int{404},
			wantStatus:   404,
			wantHint:     hintNotFound,
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
			_, err := h.client.GetConnection(context.Background(), conn)
			if got := h.hook.Codes(opGetConnection); !reflect.DeepEqual(got, tc.wantAttempts) {
				t.Errorf("attempts %v, want %v", got, tc.wantAttempts)
			}
			if s := h.sleptFor(); s != tc.wantSlept {
				t.Errorf("slept %s, want %s", s, tc.wantSlept)
			}
			if tc.wantStatus == 0 && !tc.wantTransport {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			fe := asError(t, err)
			if fe.StatusCode != tc.wantStatus || fe.Throttled() != tc.wantThrottled || fe.Retryable() != tc.wantRetryable ||
				(fe.Err != nil) != tc.wantTransport || fe.Operation != opGetConnection || fe.Hint != tc.wantHint {
				t.Errorf("got %#v (throttled %v, retryable %v)", fe, fe.Throttled(), fe.Retryable())
			}
			if fe.RetryAfter != tc.wantRetryAfter {
				t.Errorf("RetryAfter %s, want %s", fe.RetryAfter, tc.wantRetryAfter)
			}
		})
	}
}

func TestUnauthorizedReacquiresTokenOnce(t *testing.T) {
	h := newHarness(t, []step{fabricError(401, "TokenExpired", "Access token has expired", nil), ok(getConnectionBody)}, nil)
	if _, err := h.client.GetConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	var auth []string
	for _, r := range h.fake.requests() {
		auth = append(auth, r.auth)
	}
	if want := []string{"Bearer token-1", "Bearer token-2"}; !reflect.DeepEqual(auth, want) || h.cred.Calls() != 2 {
		t.Errorf("Authorization %q after %d tokens, want %q", auth, h.cred.Calls(), want)
	}

	h = newHarness(t, []step{fabricError(401, "InsufficientScopes", "The caller does not have sufficient scopes", map[string]string{"RequestId": "r-hdr"})}, nil)
	_, err := h.client.GetConnection(context.Background(), conn)
	want := `fabric: Connections_GetConnection: 401 Unauthorized, code InsufficientScopes, request id ` + reqID +
		`: "The caller does not have sufficient scopes" (token rejected — check tenant and that the service principal is allowed to use Fabric APIs)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if n := len(h.fake.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one re-send)", n)
	}
}

// TestTickBudget: inside a tick the client re-sends only as often as the
// tick's retry budget allows, in all of its calls together.
func TestTickBudget(t *testing.T) {
	h := newHarness(t, []step{{status: 503}}, func(o *Options) { o.MaxRetries = 9 })
	ctx := budget.NewContext(t.Context(), budget.New(2, time.Millisecond, time.Millisecond))
	_, _ = h.client.GetConnection(ctx, conn)
	_ = h.client.UpdateConnectionRoleAssignment(ctx, conn, assign, "User")
	if got, want := h.hook.Get(), []string{
		opGetConnection + " 503", opGetConnection + " 503", opGetConnection + " 503",
		opUpdateConnectionRoleAssignment + " 503",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("attempts %q, want %q", got, want)
	}
}

// TestLongRetryAfterWaitsOnTheClock: the wait for a Retry-After beyond
// MaxRetryDelay is timed by Options.Clock.
func TestLongRetryAfterWaitsOnTheClock(t *testing.T) {
	clk := clocktest.NewFake(time.Now())
	h := newHarness(t, []step{{status: 429, header: map[string]string{"Retry-After": "120"}}, ok(getConnectionBody)},
		func(o *Options) { o.Clock = clk })
	h.client.sleep = func(ctx context.Context, d time.Duration) error { return azrest.Sleep(ctx, clk, d) }
	done := make(chan error, 1)
	go func() {
		_, err := h.client.GetConnection(context.Background(), conn)
		done <- err
	}()
	clk.BlockUntil(1)
	select {
	case err := <-done:
		t.Fatalf("returned before the clock moved: %v", err)
	default:
	}
	clk.Advance(2 * time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.hook.Codes(opGetConnection); !reflect.DeepEqual(got, []int{http.StatusTooManyRequests, http.StatusOK}) {
		t.Errorf("attempts %v", got)
	}
}
