package pbi

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/budget"
)

// TestTickBudget: inside a tick the client re-sends only as often as the
// tick's retry budget allows, in all of its calls together, whatever its own
// MaxRetries; a 401 re-send and a long Retry-After wait are re-sends too, and
// a Retry-After that ends after the tick's deadline is not waited for.
func TestTickBudget(t *testing.T) {
	gwBody := `{"id":"` + gw + `"}`
	tests := map[string]struct {
		steps    []step
		retries  int           // the tick's budget
		deadline time.Duration // from now; 0 is none
		calls    int           // GetGateway calls made in the tick
		want     []int         // status codes of the wire attempts, in order
	}{
		"persistent 503: the budget, not MaxRetries, bounds the re-sends": {
			steps: []step{{status: 503}}, retries: 1, calls: 1, want: []int{503, 503},
		},
		"two calls share one budget": {
			steps: []step{{status: 503}}, retries: 3, calls: 2, want: []int{503, 503, 503, 503, 503},
		},
		"no budget left: one send, no retry": {
			steps: []step{{status: 503}, ok(gwBody)}, retries: 0, calls: 1, want: []int{503},
		},
		"a 401 re-send spends the budget": {
			steps: []step{pbiError(401, "TokenExpired", nil), ok(gwBody)}, retries: 0, calls: 1, want: []int{401},
		},
		"a long Retry-After within budget and deadline is waited out": {
			steps:   []step{{status: 429, header: map[string]string{"Retry-After": "120"}}, ok(gwBody)},
			retries: 1, deadline: 10 * time.Minute, calls: 1, want: []int{429, 200},
		},
		"a Retry-After past the tick's deadline fails at once": {
			steps:   []step{{status: 429, header: map[string]string{"Retry-After": "120"}}, ok(gwBody)},
			retries: 4, deadline: time.Minute, calls: 1, want: []int{429},
		},
		"a short Retry-After past the deadline is not waited either": {
			steps:   []step{{status: 429, header: map[string]string{"Retry-After": "5"}}, ok(gwBody)},
			retries: 4, deadline: 2 * time.Second, calls: 1, want: []int{429},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, func(o *Options) { o.MaxRetries = 9 })
			h.client.sleep = func(context.Context, time.Duration) error { return nil }
			ctx := budget.NewContext(t.Context(), budget.New(tc.retries, time.Millisecond, time.Millisecond))
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			for range tc.calls {
				_, _ = h.client.GetGateway(ctx, gw)
			}
			var got []int
			for _, a := range h.hook.Get() {
				var code int
				_, _ = fmt.Sscan(strings.TrimPrefix(a, opGetGateway+" "), &code)
				got = append(got, code)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("wire attempts %v, want %v", got, tc.want)
			}
		})
	}
}
