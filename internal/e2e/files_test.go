package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/testutil"
)

// runWithin runs rotatord and fails t unless it exits within d: a FIFO or
// /dev/zero used to block it forever or until the memory limit killed it.
func (e *env) runWithin(d time.Duration, args ...string) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := runBounded(e.t, e.command(ctx, args...))
	if ctx.Err() != nil {
		e.t.Fatalf("rotatord %v still running after %s; output:\n%s", args, time.Since(start).Round(time.Second), e.out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		e.t.Fatalf("rotatord %v: %v", args, err)
	}
	return 0
}

// TestFilesCheckRefusesNonRegular: `check --config /dev/zero` grew ~1 GB/s
// until the OOM killer came, and a FIFO blocked forever. Both exit 2 at
// once with one line saying why.
func TestFilesCheckRefusesNonRegular(t *testing.T) {
	skipIfShort(t)
	dir := t.TempDir()
	fifo := testutil.FIFO(t, filepath.Join(dir, "fifo.yaml"))
	link := testutil.ZeroLink(t, filepath.Join(dir, "zero.yaml"))
	for name, tc := range map[string]struct {
		path, want string
	}{
		"dev zero":            {"/dev/zero", "/dev/zero: not a regular file (a device): the inventory must be a regular file"},
		"fifo":                {fifo, fifo + ": not a regular file (a named pipe (FIFO))"},
		"symlink to dev zero": {link, link + ": not a regular file (a device)"},
	} {
		t.Run(name, func(t *testing.T) {
			e := &env{t: t, dir: dir, out: &testutil.SyncBuffer{}, godebug: "fips140=on"}
			if code := e.runWithin(20*time.Second, "check", "--config", tc.path); code != 2 {
				t.Fatalf("exit %d, want 2; output:\n%s", code, e.out)
			}
			out := strings.TrimSpace(e.out.String())
			if strings.Contains(out, "\n") || !strings.Contains(out, tc.want) {
				t.Errorf("want one line saying %q, got:\n%s", tc.want, out)
			}
		})
	}
}

// TestFilesOnceBadSecretFile: a `file:` source that is a FIFO hung the tick
// and `once` forever; a group- or world-writable one was pushed. Each now
// fails its data source with a stable reason, and once exits 1.
func TestFilesOnceBadSecretFile(t *testing.T) {
	skipIfShort(t)
	for name, tc := range map[string]struct {
		spoil  func(t *testing.T, path string)
		reason string
		want   string // also in the failure line
	}{
		"fifo": {
			spoil: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				testutil.FIFO(t, path)
			},
			reason: "not_regular", want: "a named pipe (FIFO), not a regular file",
		},
		"group writable": {
			spoil:  func(t *testing.T, path string) { chmod(t, path, 0o620) },
			reason: "writable_by_others", want: "run chmod g-w ",
		},
		"world writable": {
			spoil:  func(t *testing.T, path string) { chmod(t, path, 0o602) },
			reason: "writable_by_others", want: "run chmod o-w ",
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, "")
			path := filepath.Join(e.dir, "ledger-key")
			tc.spoil(t, path)
			if code := e.runWithin(60*time.Second, "once", "--config", e.demo.ConfigPath, "--only", "ledger-key"); code != 1 {
				t.Fatalf("exit %d, want 1; output:\n%s", code, e.out)
			}
			line := regexp.MustCompile(`(?m)^.*msg=rotation datasource=ledger-key .*result=failure stage=source reason=` + tc.reason + `\b.*$`).FindString(e.out.String())
			if line == "" || !strings.Contains(line, tc.want) {
				t.Errorf("no failure line with reason %s saying %q; output:\n%s", tc.reason, tc.want, e.out)
			}
			if got := e.state().Datasources["ledger-key"].LastError; got != "source:"+tc.reason {
				t.Errorf("state LastError = %q, want source:%s", got, tc.reason)
			}
			if _, ok := e.received("ledger-key"); ok {
				t.Error("the gateway received a credential from the refused file")
			}
			e.checkNoLeak()
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestFilesRunConfigSwapped: `run` whose inventory was swapped for a link
// to /dev/zero read it until it held 11 GB and ignored SIGTERM. Now the
// change (seen by the poll) and a SIGHUP with a FIFO in its place are both
// refused reloads, the old inventory keeps running, and SIGTERM stops it.
func TestFilesRunConfigSwapped(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	d := e.start("run", "--config", e.demo.ConfigPath)
	if code, body := d.get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	swap := func(create func(tmp string) error) {
		t.Helper()
		tmp := e.demo.ConfigPath + ".new"
		if err := create(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, e.demo.ConfigPath); err != nil { // atomic, as a ConfigMap's ..data swap
			t.Fatal(err)
		}
	}
	refused := func(what string) {
		t.Helper()
		testutil.WaitFor(t, what+" to be refused", 30*time.Second, func() bool {
			return strings.Contains(e.out.String(), "config reload refused") && strings.Contains(e.out.String(), what)
		})
		if _, body := d.get("/metrics"); !strings.Contains(body, "rotatord_config_last_reload_success 0") {
			t.Errorf("after %s: rotatord_config_last_reload_success is not 0", what)
		}
		if code, body := d.get("/readyz"); code != 200 {
			t.Errorf("after %s: /readyz = %d %s", what, code, body)
		}
	}

	// The poll sees the change: no signal needed.
	swap(func(tmp string) error { return os.Symlink("/dev/zero", tmp) })
	refused("not a regular file (a device)")

	swap(func(tmp string) error { return syscall.Mkfifo(tmp, 0o600) })
	if err := d.cmd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	refused("not a regular file (a named pipe (FIFO))")

	if code := d.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; output:\n%s", code, e.out)
	}
	e.checkNoLeak()
}

// TestFilesClientSecretFIFO: auth.client_secret_file is read at start; a
// FIFO there blocked `run` (and every command) before it began.
func TestFilesClientSecretFIFO(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	path := filepath.Join(e.dir, "client-secret")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	testutil.FIFO(t, path)
	if code := e.runWithin(30*time.Second, "once", "--config", e.demo.ConfigPath); code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, e.out)
	}
	out := strings.TrimSpace(e.out.String())
	if want := "auth.client_secret_file: file " + path + ": not_regular"; strings.Contains(out, "\n") || !strings.Contains(out, want) {
		t.Errorf("want one line saying %q, got:\n%s", want, out)
	}
}
