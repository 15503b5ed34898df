package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
)

// TestRunSIGTERMStopTimeout: a rotation that outlives the 30 s stop bound
// is cancelled and recorded as failed, and rotatord still exits 0: the stop
// was asked for, and systemd would count an exit 1 as the unit failing.
// It waits out the real 30 s.
func TestRunSIGTERMStopTimeout(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	// lake-oauth (OAuth2) is rotated at start; its PATCH never answers.
	patching := make(chan struct{})
	e.demo.Stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Latency: time.Hour, Times: 1,
		OnHit: func() { close(patching) }})
	d := e.start("run", "--config", e.demo.ConfigPath)
	select {
	case <-patching:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for the PATCH to be in flight; output:\n%s", e.out)
	}
	start := time.Now()
	if code := d.stop(syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM past the stop timeout, want 0; output:\n%s", code, e.out)
	}
	if took := time.Since(start); took < 29*time.Second {
		t.Errorf("stopped after %s, before the 30 s bound", took)
	}
	out := e.out.String()
	if !strings.Contains(out, `level=WARN msg="stopped at the stop timeout`) {
		t.Errorf("no stop-timeout warning; output:\n%s", out)
	}
	if !strings.Contains(out, "msg=rotation datasource=lake-oauth") || !strings.Contains(out, "reason=canceled") {
		t.Errorf("no failed rotation line for lake-oauth with reason=canceled; output:\n%s", out)
	}
	if got := e.state().Datasources["lake-oauth"].LastError; got != "patch:canceled" {
		t.Errorf("state LastError of lake-oauth = %q, want patch:canceled", got)
	}
	e.checkNoLeak()
}
