package pbi

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/clock"
)

// Defaults for Options.
const (
	DefaultAPIURL        = "https://api.powerbi.com/v1.0/myorg"
	DefaultScope         = "https://analysis.windows.net/powerbi/api/.default"
	DefaultMaxRetries    = azrest.DefaultMaxRetries
	DefaultRetryDelay    = azrest.DefaultRetryDelay
	DefaultMaxRetryDelay = azrest.DefaultMaxRetryDelay
	// DefaultMaxRetryAfter bounds how long one call may wait for a throttled
	// Power BI: it has been seen to ask for ~3400 s, which is better spent
	// failing the tick and trying at the next one.
	DefaultMaxRetryAfter = azrest.DefaultMaxRetryAfter
	// DefaultTryTimeout bounds one wire attempt; Power BI answers a gateway
	// call in seconds, so a minute means the connection is stuck.
	DefaultTryTimeout = azrest.DefaultTryTimeout
)

// maxResponseBody bounds the body of a Power BI success: a gateway is a few
// KB, the users of a data source a few hundred bytes each, so 4 MiB holds
// a user list of thousands; a longer body is a hostile or broken endpoint.
const maxResponseBody = 4 << 20

// What names Power BI in hints and errors.
const (
	serviceName = "Power BI"
	apiURLKey   = "powerbi.api_url"
)

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
	core       *azrest.Client
	maxListing int // bytes one listing's pages may hold together; maxListing, tests set less
	// sleep waits out a long Retry-After on the clock; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client for o.
func New(o Options) (*Client, error) {
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if o.Scope == "" {
		o.Scope = DefaultScope
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	c := &Client{maxListing: maxListing}
	c.sleep = func(ctx context.Context, d time.Duration) error { return azrest.Sleep(ctx, o.Clock, d) }
	core, err := azrest.New(azrest.Options{
		Service:       azrest.Service{Name: serviceName, Package: "pbi", APIURLKey: apiURLKey, Fail: fail},
		APIURL:        o.APIURL,
		Scope:         o.Scope,
		Credential:    o.Credential,
		Transport:     o.Transport,
		MaxRetries:    o.MaxRetries,
		RetryDelay:    o.RetryDelay,
		MaxRetryDelay: o.MaxRetryDelay,
		MaxRetryAfter: o.MaxRetryAfter,
		TryTimeout:    o.TryTimeout,
		OnResponse:    o.OnResponse,
		Clock:         o.Clock,
		MaxBody:       maxResponseBody,
		Sleep:         func(ctx context.Context, d time.Duration) error { return c.sleep(ctx, d) },
	})
	if err != nil {
		return nil, err
	}
	c.core = core
	return c, nil
}

// request is one API call to make.
type request struct {
	op     string
	method string
	path   []string // segments after the API URL, escaped by the core
	body   []byte   // JSON, or nil
	// emptyOK: an empty 200 is the answer, even to a GET (the data source
	// status), not a document lost on the way.
	emptyOK bool
}

// do sends r and returns the body of its 2xx response: azrest's call, with
// its retries, 401 re-send and long Retry-After waits, in the tick's budget.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.core.Do(ctx, azrest.Request{Op: r.op, Method: r.method, Path: r.path, Body: r.body, EmptyOK: r.emptyOK})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// fail is the *Error of a failed call (azrest.Service.Fail).
func fail(ctx context.Context, f *azrest.Failure) error {
	if f.Response != nil {
		e := responseError(ctx, f.Op, f.Response, f.Body, f.Now)
		e.waitLonger = f.WaitLonger
		return e
	}
	return &Error{Operation: f.Op, StatusCode: f.StatusCode, Err: f.Err, Hint: f.Hint}
}
