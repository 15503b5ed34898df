package azrest

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
	DefaultMaxRetries    = 4
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = time.Minute
	// DefaultMaxRetryAfter bounds how long one call may wait for a throttled
	// service: Power BI has been seen to ask for ~3400 s, which is better
	// spent failing the tick and trying at the next one.
	DefaultMaxRetryAfter = 5 * time.Minute
	// DefaultTryTimeout bounds one wire attempt; the services answer in
	// seconds, so a minute means the connection is stuck.
	DefaultTryTimeout = time.Minute
)

// Service is what differs between the services a Client calls.
type Service struct {
	Name      string // as hints name the service: "Power BI", "Fabric"
	Package   string // the client package: prefixes New's errors, and names the pipeline ("rotatord/pbi")
	APIURLKey string // the inventory key of the API URL, named by hints: "powerbi.api_url"
	// Fail makes the service's typed error of a failed call. It must not
	// put f.Body into the error but what CleanCode and CleanMessage keep of
	// it. Required.
	Fail func(ctx context.Context, f *Failure) error
}

// Hints returns the service's hints for the failures the core knows.
func (s Service) Hints() Hints { return MakeHints(s.Name, s.APIURLKey) }

// Options configures a Client. Zero values take the defaults above, except
// APIURL and Scope, which the service sets.
type Options struct {
	Service       Service
	APIURL        string                 // an https URL without query
	Scope         string                 // the token scope
	Credential    azcore.TokenCredential // required
	Transport     policy.Transporter     // nil → wire.NewClient's
	MaxRetries    int                    // default 4 (negative: none); inside a tick its retry budget decides instead
	RetryDelay    time.Duration          // default 1s; exponential with jitter
	MaxRetryDelay time.Duration          // default 1m
	MaxRetryAfter time.Duration          // default 5m: a Retry-After above this fails the call at once
	TryTimeout    time.Duration          // default 1m: one wire attempt that takes longer is abandoned and retried
	// OnResponse, optional, sees every wire attempt: the call's operation
	// and the status, 0 for a transport failure.
	OnResponse func(operation string, statusCode int)
	// Clock reads Retry-After dates, checks waits against the context's
	// deadline and times the long Retry-After waits; nil → clock.Real().
	// azcore's own retry backoff sleeps on wall time: that is azcore's.
	Clock clock.Clock
	// MaxBody bounds the body of a 2xx answer, in bytes; required.
	MaxBody int64
	// Sleep waits out a long Retry-After; nil → Sleep on Clock. Tests
	// replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client sends requests to one service's API. It is safe for concurrent use.
type Client struct {
	svc           Service
	hints         Hints
	base          string   // API URL without a trailing slash
	baseURL       *url.URL // base, parsed: a link followed must stay under it
	pl            runtime.Pipeline
	maxTries      int // MaxRetries+1: wire attempts one call may make
	retryDelay    time.Duration
	maxRetryDelay time.Duration
	maxRetryAfter time.Duration
	tryTimeout    time.Duration
	onResponse    func(string, int)
	clock         clock.Clock
	sleep         func(ctx context.Context, d time.Duration) error
}

// New returns a Client for o.
func New(o Options) (*Client, error) {
	if o.Service.Fail == nil {
		return nil, fmt.Errorf("%s: Service.Fail is required", o.Service.Package)
	}
	if o.Credential == nil {
		return nil, fmt.Errorf("%s: Options.Credential is required", o.Service.Package)
	}
	u, err := url.Parse(o.APIURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// https only: azcore's bearer policy refuses to send a token in clear text.
		return nil, fmt.Errorf("%s: api url %q is not an https URL without query", o.Service.Package, o.APIURL)
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
		svc:           o.Service,
		hints:         o.Service.Hints(),
		base:          strings.TrimRight(o.APIURL, "/"),
		baseURL:       u,
		maxTries:      o.MaxRetries + 1,
		retryDelay:    o.RetryDelay,
		maxRetryDelay: o.MaxRetryDelay,
		maxRetryAfter: o.MaxRetryAfter,
		tryTimeout:    o.TryTimeout,
		onResponse:    o.OnResponse,
		clock:         o.Clock,
		sleep:         o.Sleep,
	}
	if c.sleep == nil {
		c.sleep = func(ctx context.Context, d time.Duration) error { return Sleep(ctx, c.clock, d) }
	}
	c.pl = runtime.NewPipeline("rotatord/"+o.Service.Package, "v1.0.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{
			// First: a retry the tick's budget has no room for gets no token.
			wire.SpendBudget(),
			runtime.NewBearerTokenPolicy(tokenCredential{o.Credential}, []string{o.Scope}, nil),
			attemptPolicy{}, // after the bearer policy: sees each request that goes on the wire
			// Below attemptPolicy, so that an attempt whose 200 came without
			// its body counts as a transport failure (code 0). Only GETs
			// answer with a document; writes may answer with an empty 2xx,
			// and so may a GET whose call says so (Request.EmptyOK).
			wire.CompleteBody(wantBody),
		},
	}, &policy.ClientOptions{
		Transport: wire.LimitBodies(o.Transport, o.MaxBody),
		Retry:     c.retryOptions(c.maxTries, nil),
	})
	return c, nil
}

// Clock returns the client's clock.
func (c *Client) Clock() clock.Clock { return c.clock }

// Hints returns the service's hints.
func (c *Client) Hints() Hints { return c.hints }

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
			if !RetryableStatus(resp.StatusCode) {
				return false
			}
			d, ok := RetryAfter(resp, now()) // the client's clock, as everywhere else
			return !ok || (d <= maxRetryAfter && FitsBefore(resp.Request.Context(), now(), d))
		},
	}
}

// FitsBefore reports whether waiting d from now ends before ctx's deadline:
// a wait that outlasts the tick only delays its failure.
func FitsBefore(ctx context.Context, now time.Time, d time.Duration) bool {
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
	emptyOK    bool           // Request.EmptyOK
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

// Request is one API call to make.
type Request struct {
	Op     string   // the swagger operationId, for errors and OnResponse
	Method string   // http.MethodGet, …
	Path   []string // segments after the API URL, escaped here
	URL    string   // or a whole URL, query included, checked by the caller (CheckLink)
	Body   []byte   // JSON, or nil
	// EmptyOK: an empty 200 is the answer, even to a GET, not a document
	// lost on the way.
	EmptyOK bool
}

// Response is a 2xx answer.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte // whole, bounded by Options.MaxBody
}

// Do sends r and returns its 2xx answer, or the error Service.Fail made of
// what went wrong.
//
// Around azcore's retry policy it adds two re-sends azcore does not do: once
// after a 401 (the bearer policy has dropped its cached token, so the re-send
// carries a fresh one — an expired or revoked token must not fail a tick),
// and after a Retry-After longer than MaxRetryDelay but within MaxRetryAfter
// (azcore returns such responses without waiting). Both spend the same
// budget as azcore's retries: the tick's retry budget when ctx carries one
// (every re-send takes one retry from it), else MaxRetries+1 wire attempts.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	u := r.URL
	if u == "" {
		u = c.URL(r.Path...)
	}
	st := &call{op: r.Op, onResponse: c.onResponse, budget: budget.FromContext(ctx), emptyOK: r.EmptyOK}
	// One call for wire.SpendBudget across every pipeline run below: only
	// the call's first send is free.
	callCtx := context.WithValue(wire.BudgetCall(ctx), callKey{}, st)
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
		req, err := runtime.NewRequest(policy.WithRetryOptions(callCtx, c.retryOptions(tries, st.budget)), r.Method, u)
		if err != nil {
			return nil, c.svc.Fail(ctx, &Failure{Op: r.Op, Err: err, Hint: c.hints.Transport})
		}
		req.Raw().Header.Set("Accept", "application/json")
		if r.Body != nil {
			if err := req.SetBody(streaming.NopCloser(bytes.NewReader(r.Body)), "application/json"); err != nil {
				return nil, c.svc.Fail(ctx, &Failure{Op: r.Op, Err: err})
			}
		}
		resp, err := c.pl.Do(req)
		if err != nil {
			return nil, c.transportFailure(ctx, r.Op, err)
		}
		body, err := runtime.Payload(resp)
		if err != nil {
			return nil, c.transportFailure(ctx, r.Op, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
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
		if d, ok := RetryAfter(resp, now); ok && RetryableStatus(resp.StatusCode) &&
			d > maxDelay && d <= c.maxRetryAfter && FitsBefore(ctx, now, d) && st.canResend(c.maxTries) {
			if err := c.sleep(ctx, d); err != nil {
				return nil, c.transportFailure(ctx, r.Op, err)
			}
			continue
		}
		return nil, c.svc.Fail(ctx, &Failure{
			Op: r.Op, Response: resp, Body: body, Now: now,
			WaitLonger: ThrottleDelay(resp, now) > c.maxRetryAfter,
		})
	}
}

// transportFailure is the error for a call that got no answer to read, with
// the hint for the way it failed.
func (c *Client) transportFailure(ctx context.Context, op string, err error) error {
	return c.svc.Fail(ctx, &Failure{Op: op, Err: err, Hint: c.transportHint(err)})
}

func (c *Client) transportHint(err error) string {
	var (
		te *tokenError
		ie *wire.IncompleteError
	)
	switch wire.Reason(err) {
	case wire.ReasonRedirect:
		return c.hints.Redirect
	case wire.ReasonTooLarge:
		return c.hints.TooLarge
	case wire.ReasonTLS:
		return c.hints.TLS
	}
	switch {
	case errors.As(err, &te):
		return c.hints.Token
	case errors.As(err, &ie):
		return c.hints.Incomplete
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ""
	}
	return c.hints.Transport
}

// DecodeError is the service's error for a 2xx answer (status) whose
// document is not the one due: a wrong endpoint, which retrying does not
// mend. err says what is wrong; it must not quote the body.
func (c *Client) DecodeError(ctx context.Context, op string, status int, err error) error {
	return c.svc.Fail(ctx, &Failure{Op: op, StatusCode: status, Err: fmt.Errorf("decoding response: %w", err), Hint: c.hints.Unexpected})
}

// URL is the URL a Request with path is sent to: the API URL and the
// segments, each escaped.
func (c *Client) URL(path ...string) string {
	u := c.base
	for _, s := range path {
		u += "/" + url.PathEscape(s)
	}
	return u
}

// Sleep waits d on clk, or until ctx ends.
func Sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
