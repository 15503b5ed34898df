package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
)

// How long TestConnection waits between two polls of its operation: the
// Retry-After Fabric asks for, else defaultPollDelay, and never less than
// minPollDelay (a Retry-After of 0 would poll in a loop) or more than
// maxPollDelay.
const (
	defaultPollDelay = 5 * time.Second
	minPollDelay     = time.Second
	maxPollDelay     = time.Minute
)

// TestConnection asks Fabric to connect to a connection's data source with
// the credential it holds (Connections_TestConnection), and returns nil
// when it did.
//
// Fabric answers at once (200) or starts a long-running operation (202):
// TestConnection then polls it — at its Location, which must be an https
// URL on the API URL's host and under its path, or, without one, at
// /operations/{x-ms-operation-id} — waiting each Retry-After (5s when
// absent, at most a minute) on Options.Clock, until it has Succeeded (and
// its result says Online or Offline) or Failed, for at most
// Options.MaxPollWait and never past ctx's deadline. Each poll is a call of
// its own (LongRunningOperations_GetOperationState, then _GetOperationResult),
// with the usual retries.
//
// A connection that did not connect (Offline) is an *Error for ErrOffline
// whose ConnectionFailure says why; an operation that failed is one for
// ErrOperationFailed; one still running is one for ErrStillRunning.
func (c *Client) TestConnection(ctx context.Context, connectionID string) error {
	if err := checkUUIDs(opTestConnection, "connectionId", connectionID); err != nil {
		return err
	}
	resp, err := c.core.Do(ctx, azrest.Request{Op: opTestConnection, Method: http.MethodPost, Path: []string{"connections", connectionID, "testConnection"}})
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusAccepted {
		return c.poll(ctx, resp)
	}
	return c.connectionStatus(ctx, opTestConnection, resp)
}

// connectionStatus reads a ConnectionStatusResponse, {"status": "Online" |
// "Offline", "errors": [{"errorCode", "message"}]}, answered to op.
func (c *Client) connectionStatus(ctx context.Context, op string, resp *azrest.Response) error {
	var st struct {
		Status string          `json:"status"`
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		return c.core.DecodeError(ctx, op, resp.StatusCode, err)
	}
	switch st.Status {
	case "Online":
		return nil
	case "Offline":
		return offlineError(ctx, resp, details(st.Errors))
	}
	// "Additional statuses may be added over time": none says it connected.
	return c.core.DecodeError(ctx, op, resp.StatusCode, fmt.Errorf("connection status %q is neither Online nor Offline", azrest.CleanCode(st.Status)))
}

// offlineError is the *Error for an Offline answer, classified by its first
// error.
func offlineError(ctx context.Context, resp *azrest.Response, errs []detail) *Error {
	var first detail
	if len(errs) > 0 {
		first = errs[0]
	}
	e := &Error{
		Operation:  opTestConnection,
		StatusCode: resp.StatusCode,
		Code:       azrest.CleanSafeCode(ctx, first.ErrorCode),
		Message:    azrest.CleanMessage(ctx, first.Message),
		RequestID:  azrest.RequestID(resp.Header),
		Err:        ErrOffline,
		classified: true,
	}
	e.failure = offlineReason(azrest.CleanCode(first.ErrorCode), first.Message)
	e.Hint = azrest.ReasonHint(e.failure)
	return e
}

// poll follows the operation a 202 started until it ends.
func (c *Client) poll(ctx context.Context, accepted *azrest.Response) error {
	stateURL, err := c.operationURL(ctx, accepted.Header)
	if err != nil {
		return err
	}
	start := c.core.Clock().Now()
	deadline := start.Add(c.maxPollWait)
	resp := accepted
	for {
		now := c.core.Clock().Now()
		wait := pollDelay(resp.Header, now)
		if now.Add(wait).After(deadline) || !azrest.FitsBefore(ctx, now, wait) {
			return &Error{Operation: opTestConnection, Err: fmt.Errorf("after %s: %w", now.Sub(start).Round(time.Second), ErrStillRunning), Hint: hintStillRunning}
		}
		if err := azrest.Sleep(ctx, c.core.Clock(), wait); err != nil {
			return &Error{Operation: opTestConnection, Err: err}
		}
		resp, err = c.core.Do(ctx, azrest.Request{Op: opGetOperationState, Method: http.MethodGet, URL: stateURL})
		if err != nil {
			return err
		}
		var st struct {
			Status string          `json:"status"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(resp.Body, &st); err != nil {
			return c.core.DecodeError(ctx, opGetOperationState, resp.StatusCode, err)
		}
		switch st.Status {
		case "Succeeded":
			res, err := c.core.Do(ctx, azrest.Request{Op: opGetOperationResult, Method: http.MethodGet, URL: resultURL(stateURL)})
			if err != nil {
				return err
			}
			return c.connectionStatus(ctx, opGetOperationResult, res)
		case "Failed":
			return operationFailed(ctx, resp, st.Error)
		}
		// NotStarted, Running, Undefined, or one added later: not over.
	}
}

// operationURL is where the operation a 202 started is polled: its
// Location, once CheckLink accepts it, else /operations/{x-ms-operation-id}.
func (c *Client) operationURL(ctx context.Context, h http.Header) (string, error) {
	if loc := h.Get("Location"); loc != "" {
		u, why, problem := c.core.CheckLink(loc)
		if problem != 0 {
			return "", c.core.LinkError(ctx, opTestConnection, "Location", "operation link", why, problem)
		}
		return u.String(), nil
	}
	if id := h.Get("X-Ms-Operation-Id"); azrest.IsUUID(id) {
		return c.core.URL("operations", id), nil
	}
	return "", c.core.DecodeError(ctx, opTestConnection, http.StatusAccepted, errors.New("202 Accepted without a Location or an x-ms-operation-id"))
}

// resultURL is the URL of the result of the operation polled at stateURL,
// which came from url.URL.String.
func resultURL(stateURL string) string {
	u, err := url.Parse(stateURL)
	if err != nil {
		return stateURL + "/result"
	}
	u.Path += "/result"
	u.RawPath = ""
	return u.String()
}

// pollDelay is how long to wait before the next poll, as an answer's
// Retry-After asks, within [minPollDelay, maxPollDelay].
func pollDelay(h http.Header, now time.Time) time.Duration {
	d, ok := azrest.ParseRetryAfter(h.Get("Retry-After"), now)
	if !ok {
		d = defaultPollDelay
	}
	return min(max(d, minPollDelay), maxPollDelay)
}

// operationFailed is the *Error for an operation that ended Failed, from
// its error, an ErrorResponse.
func operationFailed(ctx context.Context, resp *azrest.Response, raw json.RawMessage) *Error {
	var eb errorBody
	_ = json.Unmarshal(raw, &eb) // what does not parse says nothing
	e := &Error{
		Operation:  opTestConnection,
		StatusCode: resp.StatusCode,
		Code:       azrest.CleanSafeCode(ctx, eb.ErrorCode),
		Message:    azrest.CleanMessage(ctx, eb.Message),
		RequestID:  azrest.CleanSafeCode(ctx, eb.RequestID),
		Err:        ErrOperationFailed,
		classified: true,
	}
	if e.RequestID == "" {
		e.RequestID = azrest.RequestID(resp.Header)
	}
	e.failure = classify(azrest.CleanCode(eb.ErrorCode), eb.Message, details(eb.MoreDetails))
	e.Hint = azrest.ReasonHint(e.failure)
	if e.Hint == "" {
		e.Hint = hintTestFailed
	}
	return e
}
