package wire

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/budget"
)

// tickCall is one client call's state inside a tick.
type tickCall struct {
	budget *budget.Budget
	mu     sync.Mutex
	try    *http.Request // the attempt seen last
}

type tickCallKey struct{}

// TickCall prepares ctx for one call of an azcore client whose retry options
// are base. When ctx carries a tick's retry budget, azcore retries the call
// at most as often as the budget has retries left, starting from the tick's
// initial backoff, and SpendBudget takes each retry out of the budget.
// base's MaxRetryDelay stays: it is also the longest Retry-After azcore
// obeys, and a service asking for a few seconds more than the tick's
// backoff cap must still be waited for. Without a budget, ctx comes back as
// it is.
func TickCall(ctx context.Context, base policy.RetryOptions) context.Context {
	b := budget.FromContext(ctx)
	if b == nil {
		return ctx
	}
	left, _ := b.Left()
	o := base
	o.MaxRetries = int32(left)
	if left == 0 {
		o.MaxRetries = -1 // azcore reads 0 as "default" and negative as "none"
	}
	o.RetryDelay = b.InitialBackoff
	return policy.WithRetryOptions(BudgetCall(ctx), o)
}

// BudgetCall marks ctx as one client call for SpendBudget, which then lets
// the call's first attempt through and takes every later one out of the
// tick's budget, however many pipeline runs the call makes. Without a budget
// in ctx, ctx comes back as it is.
func BudgetCall(ctx context.Context) context.Context {
	b := budget.FromContext(ctx)
	if b == nil {
		return ctx
	}
	return context.WithValue(ctx, tickCallKey{}, &tickCall{budget: b})
}

// ErrBudgetSpent ends a call whose next retry the tick's budget has no room
// for, because another call of the same tick spent it meanwhile.
var ErrBudgetSpent error = nonRetriable{errors.New("the tick's retry budget is spent")}

type nonRetriable struct{ error }

func (nonRetriable) NonRetriable() {} // azcore's retry policy stops at such an error

// SpendBudget returns a per-retry policy that takes every attempt of a call
// after its first out of the budget TickCall put in its context. An attempt
// is one request the retry policy sent: a second pass through this policy
// within the same attempt (Key Vault's challenge round trip, which the
// bearer policy above makes) is not a retry.
func SpendBudget() policy.Policy {
	return policyFunc(func(req *policy.Request) (*http.Response, error) {
		if c, ok := req.Raw().Context().Value(tickCallKey{}).(*tickCall); ok && !c.enter(req.Raw()) {
			return nil, ErrBudgetSpent
		}
		return req.Next()
	})
}

// enter records try as the call's current attempt and reports whether it may
// be sent: the first attempt always, a later one if the budget has a retry.
func (c *tickCall) enter(try *http.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.try == try:
		return true
	case c.try == nil:
		c.try = try
		return true
	}
	c.try = try
	return c.budget.Take()
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }
