package daemon

import (
	"errors"
	"time"

	"github.com/rotatord/rotatord/internal/rotate"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/state"
)

// pushed returns the source version the state records as set in Power BI,
// for rotate's skip_unchanged.
func (d *Daemon) pushed(name string) (string, bool) {
	st, ok := d.state.Get(name)
	return st.SourceVersion, ok && !st.CredentialSetAt.IsZero()
}

// record is the one place a tick's outcome (all its attempts) is written:
// the state record, the metrics and the "rotation" log line. It marks the
// state dirty for the save loop, which writes the file.
func (d *Daemon) record(r scheduler.TickReport) {
	ds, ok := d.datasource(r.Job)
	if !ok {
		// It left the inventory while this tick ran: count and keep
		// nothing. Reload has forgotten its series, state and drift; the
		// tick may have set the rotator's drift again since, so forget that
		// once more (the state is written only here, below).
		d.forget(r.Job)
		d.log.Info("rotation ended after the data source left the inventory", "datasource", r.Job, "succeeded", r.Err == nil)
		return
	}
	var attempts []rotate.Result
	for _, rep := range r.Reports {
		if res, ok := rep.(rotate.Result); ok { // an attempt that panicked has none
			attempts = append(attempts, res)
		}
	}

	stage, reason := rotate.StageOther, "other"
	var re *rotate.Error
	if errors.As(r.Err, &re) {
		stage, reason = re.Stage, re.Reason
	}
	d.state.Update(r.Job, func(s *state.Datasource) {
		s.LastAttempt = r.Start
		for _, a := range attempts {
			s.LastAttempt = a.Started
			// A PATCH that landed counts even when a stage after it failed:
			// the credential in Power BI is the new one.
			if a.Patched {
				s.CredentialSetAt, s.SourceVersion, s.ExpiresAt = a.PatchedAt, a.SourceVersion, a.ExpiresAt
			}
			noteCheck(s, a.Check)
			if a.VerifiedVersion != "" {
				s.VerifiedVersion = a.VerifiedVersion
			}
		}
		if r.Err != nil {
			s.LastError = string(stage) + ":" + reason
			return
		}
		s.LastError, s.LastSuccess = "", r.End
	})

	// Every attempt's stages: the histogram counts retries too.
	for _, a := range attempts {
		for _, st := range a.Stages {
			d.metrics.ObserveStage(string(st.Stage), st.Duration)
		}
	}
	credType := string(ds.CredentialType)
	d.metrics.RotationDone(r.Job, credType, r.Err == nil)
	attrs := []any{
		"datasource", r.Job,
		"credential_type", credType,
		"attempts", r.Attempts,
		"duration", r.End.Sub(r.Start).Round(time.Millisecond),
		"next", r.Next.UTC().Format(time.RFC3339),
	}
	if n := len(attempts); n > 0 {
		attrs = append(attrs, verifyAttrs(attempts[n-1])...)
	}
	for _, a := range attempts {
		if a.Rollback != "" {
			d.metrics.RollbackDone(r.Job, a.Rollback)
		}
	}
	if r.Err == nil {
		d.log.Info("rotation", append(attrs, "result", "success")...)
	} else {
		d.metrics.RotationFailed(r.Job, string(stage), reason)
		d.log.Error("rotation", append(attrs, "result", "failure", "stage", string(stage), "reason", reason, "error", r.Err.Error())...)
	}

	d.markDirty()
}

// markDirty tells the save loop that the state changed.
func (d *Daemon) markDirty() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// verifyAttrs are the rotation line's words on the verify stage and a
// rollback: what the check said, and what the rollback restored.
func verifyAttrs(a rotate.Result) []any {
	var attrs []any
	switch c := a.Check; {
	case c.At.IsZero():
	case c.Connected():
		attrs = append(attrs, "verify", "connected")
	default:
		attrs = append(attrs, "verify", c.Reason)
	}
	if a.Rollback == "" {
		return attrs
	}
	attrs = append(attrs, "rollback", a.Rollback)
	if a.RollbackVersion != "" {
		attrs = append(attrs, "rollback_version", a.RollbackVersion)
	}
	if a.RollbackErr != nil {
		attrs = append(attrs, "rollback_error", a.RollbackErr.Error())
	}
	// What Power BI holds now, after the rollback's pushes.
	return append(attrs, "source_version", a.SourceVersion)
}
