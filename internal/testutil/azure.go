package testutil

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Credential is an azcore.TokenCredential of our own: it hands out numbered
// tokens, "token-1", "token-2", …, each valid for an hour, and counts how
// often it was asked. It refuses a request for any scopes but the one Scope.
// Set Scope before first use; the zero counter is ready.
type Credential struct {
	Scope string
	calls atomic.Int32
}

// GetToken returns the next numbered token for c.Scope.
func (c *Credential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || o.Scopes[0] != c.Scope {
		return azcore.AccessToken{}, fmt.Errorf("unexpected scopes %v", o.Scopes)
	}
	n := c.calls.Add(1)
	return azcore.AccessToken{Token: fmt.Sprintf("token-%d", n), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Calls returns how many tokens c has handed out.
func (c *Credential) Calls() int32 { return c.calls.Load() }

// Responses records what a client's OnResponse hook saw, as "OP CODE"
// strings in the order they came. Its Record is the hook; it is safe for
// concurrent use, and the zero value is ready.
type Responses struct {
	mu  sync.Mutex
	got []string
}

// Record notes that operation op was answered with status code (0 for a
// transport error).
func (r *Responses) Record(op string, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s %d", op, code))
}

// Get returns everything recorded so far.
func (r *Responses) Get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// Codes returns the status codes recorded for op, in order.
func (r *Responses) Codes(op string) []int {
	var out []int
	for _, c := range r.Get() {
		var code int
		if rest, ok := strings.CutPrefix(c, op+" "); ok {
			_, _ = fmt.Sscan(rest, &code)
			out = append(out, code)
		}
	}
	return out
}
