package pbi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/rotatord/rotatord/internal/budget"
	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/wire"
)

// Defaults for Options.
const (
	DefaultAPIURL        = "https://api.powerbi.com/v1.0/myorg"
	DefaultScope         = "https://analysis.windows.net/powerbi/api/.default"
	DefaultMaxRetries    = 4
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = time.Minute
	// DefaultMaxRetryAfter bounds how long one call may wait for a throttled
	// Power BI: it has been seen to ask for ~3400 s, which is better spent
	// failing the tick and trying at the next one.
	DefaultMaxRetryAfter = 5 * time.Minute
	// DefaultTryTimeout bounds one wire attempt; Power BI answers a gateway
	// call in seconds, so a minute means the connection is stuck.
	DefaultTryTimeout = time.Minute
)

// maxResponseBody bounds the body of a Power BI success: a gateway is a few
// KB, the users of a data source a few hundred bytes each, so 4 MiB holds
// a user list of thousands; a longer body is a hostile or broken endpoint.
const maxResponseBody = 4 << 20

// Options configures a Client. Zero values take the defaults above.
type Options struct {
	APIURL        string                                 // default "https://api.powerbi.com/v1.0/myorg"; sovereign clouds set their own
	Scope         string                                 // default "https://analysis.windows.net/powerbi/api/.default"
	Credential    azcore.TokenCredential                 // required
	Transport     policy.Transporter                     // nil → wire.NewClient's (TLS 1.2+, no redirect off the host); tests pass an *http.Client trusting the emulator
	MaxRetries    int                                    // default 4 (negative: none); inside a tick its retry budget decides instead
	RetryDelay    time.Duration                          // default 1s; exponential with jitter
	MaxRetryDelay time.Duration                          // default 1m
	MaxRetryAfter time.Duration                          // default 5m: a Retry-After above this fails the call at once as throttled
	TryTimeout    time.Duration                          // default 1m: one wire attempt that takes longer is abandoned and retried
	OnResponse    func(operation string, statusCode int) // optional metrics hook, every attempt; 0 for transport errors
	// Clock reads Retry-After dates, checks waits against the tick's
	// deadline and times the long Retry-After waits; nil → clock.Real().
	// azcore's own retry backoff sleeps on wall time: that is azcore's.
	Clock clock.Clock
}

// Client calls the Power BI gateway API. It is safe for concurrent use.
type Client struct {
	base          string   // API URL without a trailing slash
	baseURL       *url.URL // base, parsed: a next page's link must stay under it
	pl            runtime.Pipeline
	maxTries      int // MaxRetries+1: wire attempts one call may make
	retryDelay    time.Duration
	maxRetryDelay time.Duration
	maxRetryAfter time.Duration
	tryTimeout    time.Duration
	onResponse    func(string, int)
	maxListing    int // bytes one listing's pages may hold together; maxListing, tests set less
	clock         clock.Clock
	// sleep waits out a long Retry-After on clock; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client for o.
func New(o Options) (*Client, error) {
	if o.Credential == nil {
		return nil, errors.New("pbi: Options.Credential is required")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(o.APIURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// https only: azcore's bearer policy refuses to send a token in clear text.
		return nil, fmt.Errorf("pbi: api url %q is not an https URL without query", o.APIURL)
	}
	if o.Scope == "" {
		o.Scope = DefaultScope
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if o.TryTimeout <= 0 {
		o.TryTimeout = DefaultTryTimeout
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:          strings.TrimRight(o.APIURL, "/"),
		baseURL:       u,
		maxTries:      o.MaxRetries + 1,
		retryDelay:    o.RetryDelay,
		maxRetryDelay: o.MaxRetryDelay,
		maxRetryAfter: o.MaxRetryAfter,
		tryTimeout:    o.TryTimeout,
		onResponse:    o.OnResponse,
		maxListing:    maxListing,
		clock:         o.Clock,
	}
	c.sleep = func(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, c.clock, d) }
	c.pl = runtime.NewPipeline("rotatord/pbi", "v1.0.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{
			// First: a retry the tick's budget has no room for gets no token.
			wire.SpendBudget(),
			runtime.NewBearerTokenPolicy(tokenCredential{o.Credential}, []string{o.Scope}, nil),
			attemptPolicy{}, // after the bearer policy: sees each request that goes on the wire
			// Below attemptPolicy, so that an attempt whose 200 came without
			// its body counts as a transport failure (code 0). Only GETs
			// answer with a document; writes answer with an empty 200, and
			// so does the data source status GET when it connected.
			wire.CompleteBody(wantBody),
		},
	}, &policy.ClientOptions{
		Transport: wire.LimitBodies(o.Transport, maxResponseBody),
		Retry:     c.retryOptions(c.maxTries, nil),
	})
	return c, nil
}

// retryOptions configures azcore's retry policy for a run of at most tries
// wire attempts, with the tick's backoffs when b is a tick's budget.
func (c *Client) retryOptions(tries int, b *budget.Budget) policy.RetryOptions {
	retries := tries - 1
	if retries <= 0 {
		retries = -1 // azcore reads 0 as "default" and negative as "none"
	}
	delay, maxDelay := c.retryDelay, c.maxRetryDelay
	if b != nil {
		delay, maxDelay = b.InitialBackoff, b.MaxBackoff
	}
	maxRetryAfter, now := c.maxRetryAfter, c.clock.Now
	return policy.RetryOptions{
		MaxRetries:    int32(retries),
		RetryDelay:    delay,
		MaxRetryDelay: maxDelay,
		// A hung connection must not hold a tick until shutdown.
		TryTimeout: c.tryTimeout,
		// ShouldRetry replaces azcore's status list (408, 429, 500, 502, 503,
		// 504) by 408/429/5xx, and refuses to wait for a Retry-After beyond
		// the ceiling even when MaxRetryDelay would allow it.
		ShouldRetry: func(resp *http.Response, err error) bool {
			if err != nil {
				return true // azcore has already filtered cancellation and non-retriable errors
			}
			if !retryableStatus(resp.StatusCode) {
				return false
			}
			d, ok := retryAfter(resp, now()) // the client's clock, as everywhere else
			return !ok || (d <= maxRetryAfter && fitsBefore(resp.Request.Context(), now(), d))
		},
	}
}

// fitsBefore reports whether waiting d from now ends before ctx's deadline:
// a wait that outlasts the tick only delays its failure.
func fitsBefore(ctx context.Context, now time.Time, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || !now.Add(d).After(deadline)
}

// wantBody reports whether a 2xx to r must carry a document: a GET's must,
// unless its call expects an empty 200.
func wantBody(r *http.Request) bool {
	st, _ := r.Context().Value(callKey{}).(*call)
	return r.Method == http.MethodGet && (st == nil || !st.emptyOK)
}

// callKey keys the per-call state in a request's context.
type callKey struct{}

// call is the state of one client call across pipeline runs. A call runs
// in one goroutine, so its fields need no lock.
type call struct {
	op         string
	tries      int
	onResponse func(string, int)
	budget     *budget.Budget // the tick's, or nil
	emptyOK    bool           // request.emptyOK
}

// canResend reports whether the call may send its request once more beyond
// azcore's retries: within a tick, if its budget has a retry left; outside
// one, if the call has made fewer than maxTries attempts (or always, for
// maxTries 0).
func (st *call) canResend(maxTries int) bool {
	if left, ok := st.budget.Left(); ok {
		return left > 0
	}
	return maxTries == 0 || st.tries < maxTries
}

// attemptPolicy counts wire attempts for the retry limit and reports each
// to the metrics hook.
type attemptPolicy struct{}

func (attemptPolicy) Do(req *policy.Request) (*http.Response, error) {
	st, ok := req.Raw().Context().Value(callKey{}).(*call)
	resp, err := req.Next()
	if ok {
		st.tries++
		if st.onResponse != nil {
			code := 0
			if err == nil {
				code = resp.StatusCode
			}
			st.onResponse(st.op, code)
		}
	}
	return resp, err
}

// tokenError marks a failure to get a token, so that it gets its own hint.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "acquiring token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// tokenCredential tags the errors of the credential it wraps.
type tokenCredential struct{ cred azcore.TokenCredential }

func (t tokenCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tk, err := t.cred.GetToken(ctx, o)
	if err != nil {
		return tk, &tokenError{err}
	}
	return tk, nil
}

// request is one API call to make.
type request struct {
	op     string
	method string
	path   []string // segments after the API URL, escaped here
	url    string   // or a whole URL, query included: a listing's next page, checked by nextPage
	body   []byte   // JSON, or nil
	// emptyOK: an empty 200 is the answer, even to a GET (the data source
	// status), not a document lost on the way.
	emptyOK bool
}

// do sends r and returns the body of its 2xx response.
//
// Around azcore's retry policy it adds two re-sends azcore does not do: once
// after a 401 (the bearer policy has dropped its cached token, so the re-send
// carries a fresh one — an expired or revoked token must not fail a tick),
// and after a Retry-After longer than MaxRetryDelay but within MaxRetryAfter
// (azcore returns such responses without waiting). Both spend the same
// budget as azcore's retries: the tick's retry budget when ctx carries one
// (every re-send takes one retry from it), else MaxRetries+1 wire attempts.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	u := r.url
	if u == "" {
		u = c.base
		for _, s := range r.path {
			u += "/" + url.PathEscape(s)
		}
	}
	st := &call{op: r.op, onResponse: c.onResponse, budget: budget.FromContext(ctx), emptyOK: r.emptyOK}
	// One call for wire.SpendBudget across every pipeline run below: only
	// the call's first send is free.
	ctx = context.WithValue(wire.BudgetCall(ctx), callKey{}, st)
	reauthorized := false
	for {
		tries := max(c.maxTries-st.tries, 1)
		if left, ok := st.budget.Left(); ok {
			// The tick's budget, not MaxRetries: a run's first send is free
			// only as the call's first.
			tries = left + 1
			if st.tries > 0 {
				tries = left
			}
		}
		req, err := runtime.NewRequest(policy.WithRetryOptions(ctx, c.retryOptions(tries, st.budget)), r.method, u)
		if err != nil {
			return nil, &Error{Operation: r.op, Err: err, Hint: hintTransport}
		}
		req.Raw().Header.Set("Accept", "application/json")
		if r.body != nil {
			if err := req.SetBody(streaming.NopCloser(bytes.NewReader(r.body)), "application/json"); err != nil {
				return nil, &Error{Operation: r.op, Err: err}
			}
		}
		resp, err := c.pl.Do(req)
		if err != nil {
			return nil, transportError(r.op, err)
		}
		body, err := runtime.Payload(resp)
		if err != nil {
			return nil, transportError(r.op, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return body, nil
		}
		if resp.StatusCode == http.StatusUnauthorized && !reauthorized && st.canResend(0) {
			reauthorized = true
			continue
		}
		maxDelay := c.maxRetryDelay // what azcore waited for itself
		if st.budget != nil {
			maxDelay = st.budget.MaxBackoff
		}
		now := c.clock.Now()
		if d, ok := retryAfter(resp, now); ok && retryableStatus(resp.StatusCode) &&
			d > maxDelay && d <= c.maxRetryAfter && fitsBefore(ctx, now, d) && st.canResend(c.maxTries) {
			if err := c.sleep(ctx, d); err != nil {
				return nil, transportError(r.op, err)
			}
			continue
		}
		e := responseError(ctx, r.op, resp, body, now)
		e.waitLonger = e.RetryAfter > c.maxRetryAfter
		return nil, e
	}
}

func transportError(op string, err error) *Error {
	hint := hintTransport
	var (
		te *tokenError
		ie *wire.IncompleteError
	)
	switch wire.Reason(err) {
	case wire.ReasonRedirect:
		return &Error{Operation: op, Err: err, Hint: hintRedirect}
	case wire.ReasonTooLarge:
		return &Error{Operation: op, Err: err, Hint: hintTooLarge}
	case wire.ReasonTLS:
		return &Error{Operation: op, Err: err, Hint: hintTLS}
	}
	switch {
	case errors.As(err, &te):
		hint = hintToken
	case errors.As(err, &ie):
		hint = hintIncomplete
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		hint = ""
	}
	return &Error{Operation: op, Err: err, Hint: hint}
}

// sleepCtx waits d on clk, or until ctx ends.
func sleepCtx(ctx context.Context, clk clock.Clock, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
