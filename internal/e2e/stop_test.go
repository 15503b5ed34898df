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
// The PATCH's answer trickles a byte every 200 ms (the slow-body fault), so
// the stop must also end a body read under way, not only a request waiting
// for its answer. It waits out the real 30 s.
func TestRunSIGTERMStopTimeout(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	// lake-oauth (OAuth2) is rotated at start; its PATCH's answer trickles.
	reading := make(chan struct{})
	e.demo.Stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{
		SlowBody: 200 * time.Millisecond, SlowBodyFor: 3 * time.Minute, Times: 1,
		OnHit: func() { close(reading) }})
	d := e.start("run", "--config", e.demo.ConfigPath)
	select {
	case <-reading:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for the PATCH to be in flight; output:\n%s", e.out)
	}
	time.Sleep(time.Second) // well into the trickle
	start := time.Now()
	if code := d.stop(syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM past the stop timeout, want 0; output:\n%s", code, e.out)
	}
	if took := time.Since(start); took < 29*time.Second || took > 40*time.Second {
		t.Errorf("stopped after %s, want the 30 s bound (and no more than 10 s after it)", took)
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
	ftClean(t, out)
	e.checkNoLeak()
}
