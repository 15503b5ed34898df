package rotate

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/secret"
)

// Check is the outcome of one status call: whether the gateway connected to
// the data source with the credential Power BI holds.
type Check struct {
	At     time.Time // when the answer came
	Reason string    // why it did not connect; "" when it did
	Err    error     // an *Error at StageVerify; nil when it connected
}

// Connected reports whether the data source accepted the credential.
func (c Check) Connected() bool { return c.Err == nil }

// Conclusive reports whether the check says anything about the credential:
// it connected, or the service said why not. A throttled or failed status
// call says nothing, and must not change what is known.
func (c Check) Conclusive() bool {
	switch c.Reason {
	case "", connstatus.GatewayUnreachable, connstatus.Rejected, connstatus.DatasourceUnreachable, connstatus.DatasourceError:
		return true
	}
	return false
}

// Says reports whether a check was made and says something of the
// credential (Conclusive): what state and metrics may record.
func (c Check) Says() bool { return !c.At.IsZero() && c.Conclusive() }

// The results of a rollback, the result label of rotatord_rollbacks_total.
const (
	RollbackRestored    = "restored"    // the previous version verified and is back in Power BI
	RollbackRejected    = "rejected"    // the previous version was refused too: the newest is back
	RollbackFailed      = "failed"      // fetching or pushing it failed, or its check said nothing
	RollbackUnavailable = "unavailable" // no earlier verified version to go back to
)

// Check asks Power BI whether the gateway connects to ds with the
// credential it holds now. It reads no secret and changes nothing.
// For a Fabric connection it is Test Connection; a streaming
// virtual-network connection, which Fabric cannot test, gets a zero Check:
// none was made.
func (r *Rotator) Check(ctx context.Context, ds config.Datasource) Check {
	var (
		c   Check
		err error
	)
	if ds.Fabric() {
		c, err = r.checkConnection(ctx, ds)
		if c.At.IsZero() && err == nil {
			return c
		}
	} else {
		err = r.o.PowerBI.GetDatasourceStatus(ctx, ds.GatewayID, ds.DatasourceID)
	}
	c.At = r.o.Clock.Now()
	if err != nil {
		e := fail(ds.Name, StageVerify, err)
		// Both services' errors say why a data source did not connect.
		var cf interface{ ConnectionFailure() string }
		if errors.As(err, &cf) {
			e.Reason = cmp.Or(cf.ConnectionFailure(), e.Reason)
		}
		c.Reason, c.Err = e.Reason, e
	}
	return c
}

// verify is the verify stage: the check of the credential just pushed (or,
// when skip_unchanged skipped the PATCH, of the one Power BI holds), and,
// when the data source refused a new credential and ds.Rollback allows it,
// the rollback.
func (r *Rotator) verify(ctx context.Context, ds config.Datasource, cred prepared, res *Result) error {
	c := r.timedCheck(ctx, ds, res)
	if c.At.IsZero() {
		return nil // the service cannot check this connection
	}
	res.Check = c
	if c.Connected() {
		res.VerifiedVersion = cred.version
		return nil
	}
	if res.Patched && ds.Rollback && c.Reason == connstatus.Rejected {
		res.Rollback = r.rollback(ctx, ds, cred, res)
	}
	return c.Err
}

func (r *Rotator) timedCheck(ctx context.Context, ds config.Datasource, res *Result) Check {
	t := r.o.Clock.Now()
	c := r.Check(ctx, ds)
	r.observe(res, StageVerify, t)
	return c
}

// rollback puts back the last version that verified, after newest was
// rejected, and checks it. It never leaves the gateway holding something
// known to be worse than newest: when the old version is refused too,
// newest goes back. res is updated to say what Power BI holds at the end.
func (r *Rotator) rollback(ctx context.Context, ds config.Datasource, newest prepared, res *Result) string {
	prev, ok := "", false
	if r.o.Verified != nil {
		prev, ok = r.o.Verified(ds.Name)
	}
	if !ok || prev == "" || prev == newest.version {
		return RollbackUnavailable
	}
	pins, ok := splitVersions(ds, prev)
	if !ok {
		return RollbackUnavailable
	}
	res.RollbackVersion = prev
	old, err := r.prepareAt(ctx, ds, pins)
	ctx = secret.WithValues(ctx, old.values...)
	if err == nil {
		err = r.push(ctx, ds, old, res)
	}
	if err != nil {
		// The gateway still holds newest: no PATCH landed, or the one
		// that failed did not store anything.
		res.RollbackErr = scrubbed(ctx, ds.Name, err)
		return RollbackFailed
	}
	res.SourceVersion, res.ExpiresAt, res.PatchedAt = old.version, old.expiresAt, r.o.Clock.Now()

	c := r.timedCheck(ctx, ds, res)
	switch {
	case c.Connected():
		res.Check, res.VerifiedVersion = c, prev
		return RollbackRestored
	case c.Reason != connstatus.Rejected:
		// Nothing says the old version is worse than newest, which is
		// known to be refused: keep it, and let the next check tell.
		res.RollbackErr = scrubbed(ctx, ds.Name, c.Err)
		return RollbackFailed
	}
	if err := r.push(ctx, ds, newest, res); err != nil {
		res.RollbackErr = scrubbed(ctx, ds.Name, err)
		return RollbackRejected
	}
	res.SourceVersion, res.ExpiresAt, res.PatchedAt = newest.version, newest.expiresAt, r.o.Clock.Now()
	return RollbackRejected
}
