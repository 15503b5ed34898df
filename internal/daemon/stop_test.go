package daemon

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/testutil"
)

// TestStopTimeoutIsNoError: a SIGTERM whose rotations outlive the stop
// timeout ends Run without an error (rotatord run exits 0, which systemd
// does not count as the unit failing), with a warning, and the cancelled
// rotation is recorded as failed with reason canceled. The stop timeout
// runs on the daemon's fake clock.
func TestStopTimeoutIsNoError(t *testing.T) {
	fake := clocktest.NewFake(time.Now().Truncate(time.Second))
	logs := &testutil.SyncBuffer{}
	d, dm := newDemoDaemon(t, Options{Clock: fake, RotateAtStart: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer d.Close()
	var once sync.Once
	parked := make(chan struct{})
	// Every PATCH hangs until its request is cancelled.
	dm.Stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Latency: time.Hour, OnHit: func() { once.Do(func() { close(parked) }) }})
	_, cancel, done := startDaemon(t, d)
	select {
	case <-parked:
	case <-time.After(30 * time.Second):
		t.Fatal("no PATCH reached the emulator")
	}
	cancel()
	// Move the fake clock on until the stop timer (30 s) has fired.
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after a stop timeout", err)
			}
			if !strings.Contains(logs.String(), `level=WARN msg="stopped at the stop timeout`) {
				t.Errorf("no stop-timeout warning in:\n%s", logs)
			}
			st, _ := d.state.Get("sales-sql")
			if st.LastError != "patch:canceled" {
				t.Errorf("sales-sql LastError = %q, want patch:canceled", st.LastError)
			}
			if !strings.Contains(logs.String(), "msg=rotation datasource=sales-sql") || !strings.Contains(logs.String(), "reason=canceled") {
				t.Errorf("no failed rotation line with reason=canceled for sales-sql:\n%s", logs)
			}
			return
		case <-deadline:
			t.Fatalf("Run did not return; logs:\n%s", logs)
		case <-time.After(10 * time.Millisecond):
			fake.Advance(time.Second)
		}
	}
}
