package rotate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
	"github.com/rotatord/rotatord/internal/wire"
)

// Error is a failed rotation: which data source, at which stage and why.
type Error struct {
	Datasource string
	Stage      Stage
	Reason     string // stable snake_case word, used as a metric label
	Err        error

	// text, when set, is Err's text scrubbed of the rotation's secrets;
	// Err itself stays, for errors.As.
	text string
}

func (e *Error) Error() string {
	return fmt.Sprintf("datasource %q: %s: %s", e.Datasource, e.Stage, e.Detail())
}

// Detail is the text of Err, scrubbed of the rotation's secrets: Error
// without the data source and stage. Print it, never Err itself.
func (e *Error) Detail() string {
	if e.text != "" || e.Err == nil {
		return e.text
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether running the rotation again in the same tick may
// succeed without anyone changing anything: a source that failed for a
// passing reason (throttling, a server or network error). A failure once
// Power BI was called never is: the Power BI client has already retried it
// within the tick's retry budget, and running the rotation again would only
// send the requests before it once more.
func (e *Error) Retryable() bool {
	var se *sources.Error
	return e.Stage == StageSource && errors.As(e.Err, &se) && se.Retryable()
}

// fail wraps err as a rotation failure at stage.
func fail(ds string, stage Stage, err error) *Error {
	return &Error{Datasource: ds, Stage: stage, Reason: reasonOf(err), Err: err}
}

// scrubbed returns err with its text cleaned of the secret values in ctx
// (secret.WithValues). Only the text changes: classification (Reason,
// errors.As to *pbi.Error or *sources.Error) works on the error as it was.
// It is the last step of every rotation, so that no service echoing a
// secret, whichever call and layer it reached, puts it in a log line.
func scrubbed(ctx context.Context, ds string, err error) error {
	if err == nil {
		return nil
	}
	e, ok := err.(*Error)
	if !ok {
		e = fail(ds, StageOther, err)
	}
	if e.Err != nil {
		if msg := e.Err.Error(); secret.Leaks(ctx, msg) {
			c := *e
			c.text = secret.Scrub(ctx, msg)
			return &c
		}
	}
	return e
}

// reasonOf condenses an error into a label value of bounded cardinality.
func reasonOf(err error) string {
	var pe *pbi.Error
	var se *sources.Error
	var fe *cipher.FIPSError
	var fabErr *fabric.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &fe):
		return "fips"
	case errors.As(err, &se):
		return se.Reason
	// Endpoint faults package wire refuses, in any client; a source's are
	// in its *sources.Error above.
	case wire.Reason(err) != "":
		return wire.Reason(err)
	case errors.As(err, &pe):
		return httpReason(pe.Throttled(), pe.StatusCode)
	case errors.As(err, &fabErr):
		return httpReason(fabErr.Throttled(), fabErr.StatusCode)
	case errors.Is(err, errBadKey):
		return "bad_gateway_key"
	case errors.Is(err, errBuild):
		return "bad_credential"
	}
	return "other"
}

// httpReason is the reason of a failed call to Power BI or Fabric.
func httpReason(throttled bool, status int) string {
	switch {
	case throttled:
		return "throttled"
	case status == 0:
		return "unreachable"
	}
	return "http_" + strconv.Itoa(status)
}

var (
	errBadKey = errors.New("gateway public key unusable")
	errBuild  = errors.New("credentials cannot be built")
)
