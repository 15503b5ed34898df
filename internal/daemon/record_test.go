package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/internal/metrics"
	"github.com/rotatord/rotatord/internal/rotate"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/state"
)

// TestRecord: one tick's outcome, from the attempts' rotate.Results and the
// last error, lands in the state record, the metrics and one log line.
func TestRecord(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	stages := func(names ...rotate.Stage) []rotate.StageTime {
		var out []rotate.StageTime
		for _, n := range names {
			out = append(out, rotate.StageTime{Stage: n, Duration: time.Second})
		}
		return out
	}
	pushed := rotate.Result{Started: at(10), Patched: true, PatchedAt: at(12), SourceVersion: "v2", ExpiresAt: at(3600),
		Stages: stages(rotate.StageSource, rotate.StageEncrypt, rotate.StagePatch, rotate.StageUsers)}
	rejected := &rotate.Error{Datasource: "sales-sql", Stage: rotate.StageVerify, Reason: "rejected", Err: errors.New("login failed")}
	throttled := &rotate.Error{Datasource: "sales-sql", Stage: rotate.StageVerify, Reason: "throttled", Err: errors.New("429")}
	tests := map[string]struct {
		report     scheduler.TickReport // Job sales-sql, Start at(0), End at(20) unless set
		wantState  *state.Datasource    // nil: no record
		wantSeries []string             // present in the exposition, with these values
		wantLog    []string             // in the one log line
	}{
		"success after a retried source": {
			report:    scheduler.TickReport{Attempts: 2, Reports: []any{rotate.Result{Started: at(0), Stages: stages(rotate.StageSource)}, pushed}},
			wantState: &state.Datasource{LastAttempt: at(10), LastSuccess: at(20), CredentialSetAt: at(12), SourceVersion: "v2", ExpiresAt: at(3600)},
			wantSeries: []string{
				`rotatord_rotation_duration_seconds_count{stage="source"} 2`,
				`rotatord_rotation_duration_seconds_count{stage="patch"} 1`,
				`rotatord_rotations_total{credential_type="Anonymous",datasource="sales-sql",result="success"} 1`,
				`rotatord_rotations_total{credential_type="Anonymous",datasource="sales-sql",result="failure"} 0`,
			},
			wantLog: []string{"level=INFO", "msg=rotation", "datasource=sales-sql", "attempts=2", "duration=20s", "result=success"},
		},
		"users failure after the PATCH keeps the credential": {
			report: scheduler.TickReport{Attempts: 1, Reports: []any{pushed},
				Err: &rotate.Error{Datasource: "sales-sql", Stage: rotate.StageUsers, Reason: "http_403", Err: errors.New("forbidden")}},
			wantState: &state.Datasource{LastAttempt: at(10), CredentialSetAt: at(12), SourceVersion: "v2", ExpiresAt: at(3600), LastError: "users:http_403"},
			wantSeries: []string{
				`rotatord_rotation_failures_total{datasource="sales-sql",reason="http_403",stage="users"} 1`,
				`rotatord_rotations_total{credential_type="Anonymous",datasource="sales-sql",result="failure"} 1`,
			},
			wantLog: []string{"level=ERROR", "msg=rotation", "result=failure", "stage=users", "reason=http_403", `error="datasource \"sales-sql\": users: forbidden"`},
		},
		"rejected, rolled back to the version verified before": {
			report: scheduler.TickReport{Attempts: 1, Err: rejected,
				Reports: []any{rotate.Result{Started: at(10), Patched: true, PatchedAt: at(14), SourceVersion: "v1", ExpiresAt: at(3600),
					Check: rotate.Check{At: at(15)}, VerifiedVersion: "v1", Rollback: rotate.RollbackRestored, RollbackVersion: "v1"}}},
			wantState: &state.Datasource{LastAttempt: at(10), CredentialSetAt: at(14), SourceVersion: "v1", ExpiresAt: at(3600),
				LastError: "verify:rejected", LastVerify: at(15), Verified: true, VerifiedVersion: "v1"},
			wantSeries: []string{
				`rotatord_rotation_failures_total{datasource="sales-sql",reason="rejected",stage="verify"} 1`,
				`rotatord_rollbacks_total{datasource="sales-sql",result="restored"} 1`,
			},
			wantLog: []string{"level=ERROR", "result=failure", "stage=verify", "reason=rejected", "verify=connected",
				"rollback=restored", "rollback_version=v1", "source_version=v1"},
		},
		"rejected, nothing to roll back to": {
			report: scheduler.TickReport{Attempts: 1, Err: rejected,
				Reports: []any{rotate.Result{Started: at(10), Patched: true, PatchedAt: at(12), SourceVersion: "v2",
					Check: rotate.Check{At: at(13), Reason: "rejected", Err: rejected}, Rollback: rotate.RollbackUnavailable}}},
			wantState: &state.Datasource{LastAttempt: at(10), CredentialSetAt: at(12), SourceVersion: "v2",
				LastError: "verify:rejected", LastVerify: at(13)},
			wantSeries: []string{`rotatord_rollbacks_total{datasource="sales-sql",result="unavailable"} 1`},
			wantLog:    []string{"stage=verify", "reason=rejected", "verify=rejected", "rollback=unavailable"},
		},
		"a throttled check says nothing of the credential": {
			report: scheduler.TickReport{Attempts: 1, Err: throttled,
				Reports: []any{rotate.Result{Started: at(10), Patched: true, PatchedAt: at(12), SourceVersion: "v2",
					Check: rotate.Check{At: at(13), Reason: "throttled", Err: throttled}}}},
			wantState: &state.Datasource{LastAttempt: at(10), CredentialSetAt: at(12), SourceVersion: "v2", LastError: "verify:throttled"},
			wantLog:   []string{"stage=verify", "reason=throttled", "verify=throttled"},
		},
		"a panic is stage other": {
			report:    scheduler.TickReport{Attempts: 1, Reports: []any{nil}, Err: errors.New(`job "sales-sql" panicked: a string`)},
			wantState: &state.Datasource{LastAttempt: at(0), LastError: "other:other"},
			wantSeries: []string{
				`rotatord_rotation_failures_total{datasource="sales-sql",reason="other",stage="other"} 1`,
			},
			wantLog: []string{"level=ERROR", "result=failure", "stage=other", "reason=other"},
		},
		"a data source that left the inventory leaves nothing": {
			report:  scheduler.TickReport{Job: "gone", Attempts: 1, Reports: []any{pushed}},
			wantLog: []string{"rotation ended after the data source left the inventory", "datasource=gone", "succeeded=true"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, reg, logs := newRecorder(t)
			r := tc.report
			if r.Job == "" {
				r.Job = "sales-sql"
			}
			r.Start, r.End, r.Next = at(0), at(20), at(86400)
			d.record(r)

			st, ok := d.state.Get(r.Job)
			switch {
			case tc.wantState == nil && ok:
				t.Errorf("state %+v, want no record", st)
			case tc.wantState != nil && st != *tc.wantState:
				t.Errorf("state\n %+v, want\n %+v", st, *tc.wantState)
			}
			got := exposition(t, reg)
			for _, s := range tc.wantSeries {
				if !strings.Contains(got, s+"\n") {
					t.Errorf("metrics lack %s; have:\n%s", s, got)
				}
			}
			if tc.wantState == nil && strings.Contains(got, `datasource="gone"`) {
				t.Errorf("series of a data source not in the inventory:\n%s", got)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want one:\n%s", len(lines), logs.String())
			}
			for _, part := range tc.wantLog {
				if !strings.Contains(lines[0], part) {
					t.Errorf("log line lacks %s: %s", part, lines[0])
				}
			}
			select {
			case <-d.dirty:
			default:
				if tc.wantState != nil {
					t.Error("the state was not marked for saving")
				}
			}
		})
	}
}

// newRecorder is a Daemon with what record uses, on the inventory sales-sql.
func newRecorder(t *testing.T) (*Daemon, *prometheus.Registry, *strings.Builder) {
	t.Helper()
	logs := &strings.Builder{}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), "state.json"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: slog.New(slog.NewTextHandler(logs, nil)), state: st, metrics: m,
		rot: rotate.New(rotate.Options{}), dirty: make(chan struct{}, 1)}
	d.cfg.Store(inventory("sales-sql"))
	d.declare(d.cfg.Load())
	return d, reg, logs
}

// exposition renders reg's counters and histogram counts, one
// name{labels} value per line.
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			ls := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				fmt.Fprintf(&b, "%s%s %g\n", mf.GetName(), ls, m.GetCounter().GetValue())
			case m.GetHistogram() != nil:
				fmt.Fprintf(&b, "%s_count%s %d\n", mf.GetName(), ls, m.GetHistogram().GetSampleCount())
			}
		}
	}
	return b.String()
}

// TestRecordCheck: a watch check that says something lands in the state
// and one "verification" line; one that says nothing, or was skipped for a
// rotation, leaves the state alone.
func TestRecordCheck(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	refused := &rotate.Error{Datasource: "sales-sql", Stage: rotate.StageVerify, Reason: "rejected", Err: errors.New("login failed")}
	busy := &rotate.Error{Datasource: "sales-sql", Stage: rotate.StageVerify, Reason: "http_503", Err: errors.New("503")}
	tests := map[string]struct {
		report    any
		wantState *state.Datasource
		wantLog   string // "" for no line at INFO and above
	}{
		"connected":    {rotate.Check{At: t0}, &state.Datasource{LastVerify: t0, Verified: true}, "level=INFO msg=verification datasource=sales-sql"},
		"rejected":     {rotate.Check{At: t0, Reason: "rejected", Err: refused}, &state.Datasource{LastVerify: t0}, "level=ERROR msg=verification datasource=sales-sql"},
		"inconclusive": {rotate.Check{At: t0, Reason: "http_503", Err: busy}, nil, "level=WARN msg=verification datasource=sales-sql"},
		"skipped":      {watchSkipped{}, nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, _, logs := newRecorder(t)
			d.recordCheck(scheduler.TickReport{Job: "sales-sql", Start: t0, End: t0, Next: t0.Add(time.Hour), Attempts: 1, Reports: []any{tc.report}})
			st, ok := d.state.Get("sales-sql")
			switch {
			case tc.wantState == nil && ok:
				t.Errorf("state %+v, want none", st)
			case tc.wantState != nil && st != *tc.wantState:
				t.Errorf("state %+v, want %+v", st, *tc.wantState)
			}
			if got := logs.String(); !strings.Contains(got, tc.wantLog) || tc.wantLog == "" && got != "" {
				t.Errorf("log %q, want %q", got, tc.wantLog)
			}
		})
	}
}
