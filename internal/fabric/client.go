package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/clock"
)

// Defaults for Options.
const (
	DefaultAPIURL        = "https://api.fabric.microsoft.com/v1"
	DefaultScope         = "https://api.fabric.microsoft.com/.default"
	DefaultMaxRetries    = azrest.DefaultMaxRetries
	DefaultRetryDelay    = azrest.DefaultRetryDelay
	DefaultMaxRetryDelay = azrest.DefaultMaxRetryDelay
	DefaultMaxRetryAfter = azrest.DefaultMaxRetryAfter
	DefaultTryTimeout    = azrest.DefaultTryTimeout
	// DefaultMaxPollWait bounds how long TestConnection polls a test that
	// Fabric runs as a long-running operation.
	DefaultMaxPollWait = 2 * time.Minute
)

// maxResponseBody bounds the body of a Fabric success: a connection is
// about a kilobyte, so 4 MiB holds a page of thousands; a longer body is a
// hostile or broken endpoint.
const maxResponseBody = 4 << 20

// What names Fabric in hints and errors.
const (
	serviceName = "Fabric"
	apiURLKey   = "fabric.api_url"
)

// Operation names: the swagger operationIds, used in errors and metrics.
const (
	opGetConnection                  = "Connections_GetConnection"
	opListConnections                = "Connections_ListConnections"
	opUpdateConnection               = "Connections_UpdateConnection"
	opTestConnection                 = "Connections_TestConnection"
	opListConnectionRoleAssignments  = "Connections_ListConnectionRoleAssignments"
	opAddConnectionRoleAssignment    = "Connections_AddConnectionRoleAssignment"
	opUpdateConnectionRoleAssignment = "Connections_UpdateConnectionRoleAssignment"
	opDeleteConnectionRoleAssignment = "Connections_DeleteConnectionRoleAssignment"
	opGetGateway                     = "Gateways_GetGateway"
	opListGatewayMembers             = "Gateways_ListGatewayMembers"
	opGetOperationState              = "LongRunningOperations_GetOperationState"
	opGetOperationResult             = "LongRunningOperations_GetOperationResult"
)

// Options configures a Client. Zero values take the defaults above.
type Options struct {
	APIURL        string                                 // default "https://api.fabric.microsoft.com/v1"; sovereign clouds set their own
	Scope         string                                 // default "https://api.fabric.microsoft.com/.default"
	Credential    azcore.TokenCredential                 // required
	Transport     policy.Transporter                     // nil → wire.NewClient's (TLS 1.2+, no redirect off the host)
	MaxRetries    int                                    // default 4 (negative: none); inside a tick its retry budget decides instead
	RetryDelay    time.Duration                          // default 1s; exponential with jitter
	MaxRetryDelay time.Duration                          // default 1m
	MaxRetryAfter time.Duration                          // default 5m: a Retry-After above this fails the call at once as throttled
	TryTimeout    time.Duration                          // default 1m: one wire attempt that takes longer is abandoned and retried
	OnResponse    func(operation string, statusCode int) // optional metrics hook, every attempt; 0 for transport errors
	// Clock reads Retry-After dates, checks waits against the tick's
	// deadline, times the long Retry-After waits and TestConnection's polls;
	// nil → clock.Real(). azcore's own retry backoff sleeps on wall time.
	Clock clock.Clock
	// MaxPollWait bounds how long TestConnection polls a long-running test
	// before failing; default 2m.
	MaxPollWait time.Duration
}

// Client calls the Fabric REST API's connection and gateway operations. It
// is safe for concurrent use.
type Client struct {
	core        *azrest.Client
	maxPollWait time.Duration
	maxListing  int // bytes one listing's pages may hold together; azrest.MaxListing, tests set less
	// sleep waits out a long Retry-After on the clock; tests replace it.
	// TestConnection's polls wait on the clock itself.
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
	if o.MaxPollWait <= 0 {
		o.MaxPollWait = DefaultMaxPollWait
	}
	c := &Client{maxPollWait: o.MaxPollWait, maxListing: azrest.MaxListing}
	c.sleep = func(ctx context.Context, d time.Duration) error { return azrest.Sleep(ctx, o.Clock, d) }
	core, err := azrest.New(azrest.Options{
		Service:       azrest.Service{Name: serviceName, Package: "fabric", APIURLKey: apiURLKey, Fail: fail},
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

// fail is the *Error of a failed call (azrest.Service.Fail).
func fail(ctx context.Context, f *azrest.Failure) error {
	if f.Response != nil {
		e := parseError(ctx, f.Op, f.Response, f.Body, f.Now)
		e.waitLonger = f.WaitLonger
		return e
	}
	return &Error{Operation: f.Op, StatusCode: f.StatusCode, Err: f.Err, Hint: f.Hint}
}

// getJSON GETs path and decodes its document into out.
func (c *Client) getJSON(ctx context.Context, op string, out any, path ...string) error {
	resp, err := c.core.Do(ctx, azrest.Request{Op: op, Method: http.MethodGet, Path: path})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return c.core.DecodeError(ctx, op, resp.StatusCode, err)
	}
	return nil
}

// send makes a write whose answer's body, if any, rotatord does not need.
func (c *Client) send(ctx context.Context, op, method string, body []byte, path ...string) error {
	_, err := c.core.Do(ctx, azrest.Request{Op: op, Method: method, Path: path, Body: body})
	return err
}

// marshal encodes a request body that holds no secret.
func marshal(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Operation: op, Err: fmt.Errorf("encoding request: %w", err)}
	}
	return b, nil
}

// list reads a Fabric listing (a PaginatedResponse of T) at path: every
// page, following its continuationToken, sent back as ?continuationToken=
// on the first page's URL, or, without one, its continuationUri, when that
// is on the API URL's host and under its path (azrest.List).
func list[T any](ctx context.Context, c *Client, op string, path ...string) ([]T, error) {
	first := c.core.URL(path...)
	return azrest.List(ctx, c.core, azrest.Listing[T]{Op: op, Path: path, MaxBytes: c.maxListing,
		Read: func(body []byte) ([]T, azrest.Link, error) { return readPage[T](first, body) }})
}

// readPage reads one page of a listing whose first page is at first.
func readPage[T any](first string, body []byte) ([]T, azrest.Link, error) {
	var page struct {
		Value             json.RawMessage `json:"value"`
		ContinuationToken string          `json:"continuationToken"`
		ContinuationURI   string          `json:"continuationUri"`
	}
	var values []T
	err := json.Unmarshal(body, &page)
	if err == nil && page.Value == nil {
		// No list at all (a "value" of null is an empty one).
		err = errors.New(`no "value" in the answer`)
	}
	if err == nil {
		err = json.Unmarshal(page.Value, &values)
	}
	if err != nil {
		return nil, azrest.Link{}, err
	}
	switch {
	case page.ContinuationToken != "":
		// The token names the next page whatever host continuationUri
		// names: a proxy or a sovereign cloud may answer with its own.
		return values, azrest.Link{URL: first + "?continuationToken=" + queryValue(page.ContinuationToken), Field: "continuationToken"}, nil
	case page.ContinuationURI != "":
		return values, azrest.Link{URL: page.ContinuationURI, Field: "continuationUri"}, nil
	}
	return values, azrest.Link{}, nil
}

// queryValue is a continuationToken as a query value. Fabric sends the
// token already URL-encoded — its examples' "LDEsMTAwMDAwLDA%3D" is in
// continuationUri as it is —, so a valid percent-escape is kept as it is,
// and only what may not stand in a query value is escaped: the query is
// then continuationUri's, and a token that is not encoded still arrives
// whole.
func queryValue(token string) string {
	const hex = "0123456789ABCDEF"
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	var b strings.Builder
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '%' && i+2 < len(token) && isHex(token[i+1]) && isHex(token[i+2]):
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
