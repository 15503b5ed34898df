package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/testutil"
)

// daemon is a running `rotatord run`.
type daemon struct {
	e    *env
	done chan error
	cmd  interface{ Signal(os.Signal) error }
	addr string
}

func (e *env) start(args ...string) *daemon {
	e.t.Helper()
	return e.startFor(2*time.Minute, args...)
}

// startFor starts rotatord, killed after timeout at the latest.
func (e *env) startFor(timeout time.Duration, args ...string) *daemon {
	e.t.Helper()
	d, _ := e.startInto(e.out, timeout, args...)
	return d
}

// startInto starts rotatord writing its output to out, killed after
// timeout at the latest, and returns it once it has started, with its pid.
func (e *env) startInto(out *testutil.SyncBuffer, timeout time.Duration, args ...string) (*daemon, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	e.t.Cleanup(cancel)
	cmd := e.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = out, out
	wait, err := startBounded(e.t, cmd, childMemoryLimit)
	if err != nil {
		e.t.Fatal(err)
	}
	d := &daemon{e: e, done: make(chan error, 1), cmd: cmd.Process}
	go func() { d.done <- wait() }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a paused one must hear the kill
		_ = cmd.Process.Kill()
		<-d.done
	})
	started := regexp.MustCompile(`msg="rotatord started".* listen=(\S+)`)
	testutil.WaitFor(e.t, "rotatord to start", 30*time.Second, func() bool {
		m := started.FindStringSubmatch(out.String())
		if m != nil {
			d.addr = m[1]
		}
		return m != nil
	})
	return d, cmd.Process.Pid
}

func (d *daemon) get(path string) (int, string) {
	d.e.t.Helper()
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		d.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends sig and waits for the exit code.
func (d *daemon) stop(sig os.Signal, within time.Duration) int {
	d.e.t.Helper()
	if err := d.cmd.Signal(sig); err != nil {
		d.e.t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(within):
		d.e.t.Fatalf("rotatord did not stop within %s", within)
		return -1
	}
}

// TestRunReload: a changed inventory is picked up on SIGHUP; a broken one is
// refused while the old one keeps running, visibly in logs and metrics.
func TestRunReload(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	d := e.start("run", "--config", e.demo.ConfigPath)
	if code, body := d.get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	orig, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	// Broken: refused, old inventory kept.
	if err := os.WriteFile(e.demo.ConfigPath, append(orig, []byte("  - name: broken\n    bogus_key: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the bad reload to be refused", 20*time.Second, func() bool {
		return strings.Contains(e.out.String(), "config reload refused")
	})
	if !strings.Contains(e.out.String(), `unknown key \"bogus_key\"`) && !strings.Contains(e.out.String(), `unknown key "bogus_key"`) {
		t.Errorf("the refusal does not say what is wrong:\n%s", e.out)
	}
	if _, body := d.get("/metrics"); !strings.Contains(body, "rotatord_config_last_reload_success 0") {
		t.Error("rotatord_config_last_reload_success is not 0 after a refused reload")
	}

	// Good: one data source fewer; its series go away.
	var kept []string
	skip := false
	for _, line := range strings.SplitAfter(string(orig), "\n") {
		if strings.HasPrefix(line, "  - name: ") {
			skip = strings.HasPrefix(line, "  - name: public-feed")
		}
		if !skip {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(e.demo.ConfigPath, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the good reload", 20*time.Second, func() bool {
		return strings.Contains(e.out.String(), `msg="config reloaded"`)
	})
	_, body := d.get("/metrics")
	if !strings.Contains(body, "rotatord_config_last_reload_success 1") {
		t.Error("rotatord_config_last_reload_success is not 1 after a good reload")
	}
	e.checkTextNoLeak("metrics", body)
	if strings.Contains(body, `datasource="public-feed"`) {
		t.Error("series of the removed data source are still served")
	}
	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	e.checkNoLeak()
}

// TestRunSIGTERMMidRotation: a rotation in flight when SIGTERM arrives is
// finished, the state written, and the exit code is 0.
func TestRunSIGTERMMidRotation(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	// lake-oauth (OAuth2) is rotated at start; make its PATCH slow.
	// The stage timings are recorded at the end of the tick, so the
	// emulator, not /metrics, says when the PATCH is in flight.
	patching := make(chan struct{})
	e.demo.Stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Latency: 2 * time.Second, Times: 1,
		OnHit: func() { close(patching) }})
	d := e.start("run", "--config", e.demo.ConfigPath)
	select {
	case <-patching:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for the PATCH to be in flight; output:\n%s", e.out)
	}
	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; output:\n%s", code, e.out)
	}
	if _, ok := e.received("lake-oauth"); !ok {
		t.Error("the rotation in flight at SIGTERM was not finished")
	}
	if st := e.state(); st.Datasources["lake-oauth"].LastSuccess.IsZero() {
		t.Error("the state file does not record the rotation finished during shutdown")
	}
}
