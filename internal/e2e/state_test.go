package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

// runSeparate runs rotatord to completion with its own output buffer, for
// a second process beside one that writes e.out.
func (e *env) runSeparate(args ...string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	err := runBounded(e.t, cmd)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		e.t.Fatalf("rotatord %v: %v", args, err)
	}
	return 0, out.String()
}

// lineOf is the 1-based line of the first line of file starting with prefix.
func lineOf(t *testing.T, file, prefix string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line starting with %q", file, prefix)
	return 0
}

// TestStateLockSecondDaemon: a second `rotatord run` (or `once`) on the
// state file of a running one would erase its records; it exits 2 naming
// the first's pid and the lock file, and the first keeps running.
func TestStateLockSecondDaemon(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	cfg := e.demo.ConfigPath
	first := e.start("run", "--config", cfg)
	pid := first.cmd.(*os.Process).Pid
	at := fmt.Sprintf("%s:%d: ", cfg, lineOf(t, cfg, "state_file:"))
	lock := filepath.Join(e.dir, "state.json.lock")

	for _, cmd := range []string{"run", "once"} {
		code, out := e.runSeparate(cmd, "--config", cfg)
		if code != 2 {
			t.Fatalf("second %s exited %d, want 2; output:\n%s", cmd, code, out)
		}
		want := "rotatord " + cmd + ": " + at + "state file " + filepath.Join(e.dir, "state.json") +
			" is in use by another rotatord, pid " + strconv.Itoa(pid) + " (lock file " + lock + ")"
		if !strings.HasPrefix(strings.TrimSpace(out), want) || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("second %s said:\n%s\nwant one line starting %q", cmd, out, want)
		}
	}
	if code, body := first.get("/healthz"); code != 200 {
		t.Errorf("first daemon /healthz = %d %s after the second was refused", code, body)
	}
	select {
	case err := <-first.done:
		first.done <- err
		t.Fatalf("the first daemon exited (%v):\n%s", err, e.out)
	default:
	}
	if code := first.stop(syscall.SIGTERM, time.Minute); code != 0 {
		t.Errorf("first daemon exited %d on SIGTERM, want 0", code)
	}
	// Released on exit: the next daemon starts.
	if code, out := e.runSeparate("once", "--config", cfg, "--only", "ledger-key"); code != 0 {
		t.Errorf("once after the first stopped exited %d:\n%s", code, out)
	}
}

// TestCheckNeverFiringSchedule: check and run judge a schedule alike, so
// ExecStartPre=rotatord check stops a unit that run would refuse, and says
// which line.
func TestCheckNeverFiringSchedule(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	orig, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(spec string) string {
		p := filepath.Join(t.TempDir(), "rotatord.yaml")
		data := strings.Replace(string(orig), `  schedule: "@every 1m"`, `  schedule: "`+spec+`"`, 1)
		if data == string(orig) {
			t.Fatal("the demo inventory has no defaults schedule to replace")
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	never := write("0 0 30 2 *")
	want := fmt.Sprintf(`%s:%d: defaults.schedule: "0 0 30 2 *" never fires`, never, lineOf(t, never, "  schedule:"))
	for _, cmd := range []string{"check", "run"} {
		code, out := e.runSeparate(cmd, "--config", never)
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("%s exited %d, want 2 and %q; output:\n%s", cmd, code, want, out)
		}
	}
	if code, out := e.runSeparate("check", "--config", write("0 0 29 2 *")); code != 0 {
		t.Errorf("check of a leap-day schedule exited %d, want 0:\n%s", code, out)
	}
}

// TestPlantedStateRefused: in a state directory anyone can write, a state
// file naming the Key Vault version just created made skip_unchanged skip
// the PATCH and log result=success, leaving the gateway on the old
// credential. rotatord refuses the directory, and after a chmod still
// refuses the file another user planted.
func TestPlantedStateRefused(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	shared := filepath.Join(e.dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	ftEditInventory(t, e, "state_file: "+filepath.Join(e.dir, "state.json"), "state_file: "+filepath.Join(shared, "state.json"))
	ftEditInventory(t, e, "      password_secret: sales-sql-password\n", "      password_secret: sales-sql-password\n    skip_unchanged: true\n")

	version := e.demo.Stack.KeyVault.SetSecret("sales-sql-password", secret.FromString("brand-new-password"), emulator.SecretAttributes{})
	planted := filepath.Join(shared, "state.json")
	doc := fmt.Sprintf(`{"Version": 1, "Datasources": {"sales-sql": {"LastSuccess": "2026-01-01T00:00:00Z", "LastAttempt": "2026-01-01T00:00:00Z", "SourceVersion": %q, "ExpiresAt": "0001-01-01T00:00:00Z", "CredentialSetAt": "2026-01-01T00:00:00Z"}}}`, version)
	if err := os.WriteFile(planted, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(planted, 4242, 4242); err != nil { // the other user's
		t.Skipf("cannot chown (not root?): %v", err)
	}
	at := fmt.Sprintf("%s:%d: ", e.demo.ConfigPath, lineOf(t, e.demo.ConfigPath, "state_file:"))

	for _, tc := range []struct {
		name, want string
		prep       func() error
	}{
		{"open directory", "directory " + shared + " is writable by others", func() error { return nil }},
		{"after chmod 700", "file " + planted + " is owned by uid 4242", func() error { return os.Chmod(shared, 0o700) }},
	} {
		if err := tc.prep(); err != nil {
			t.Fatal(err)
		}
		code, out := e.runSeparate("once", "--config", e.demo.ConfigPath, "--only", "sales-sql")
		if code != 2 {
			t.Errorf("%s: once exited %d, want 2; output:\n%s", tc.name, code, out)
		}
		if !strings.Contains(out, at+"state file "+planted+": "+tc.want) || strings.Contains(out, "result=success") {
			t.Errorf("%s: output does not refuse the state with %q:\n%s", tc.name, tc.want, out)
		}
	}
	for _, r := range e.demo.Stack.PowerBI.Requests() {
		if r.Operation == emulator.OpUpdateDatasource {
			t.Errorf("a PATCH was sent by a daemon that refused its state: %+v", r)
		}
	}
	e.checkNoLeak()
}
