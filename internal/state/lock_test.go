package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/state"
	"github.com/rotatord/rotatord/internal/testutil"
)

// TestLockHeld: two writers on one state file would erase each other's
// records, so the second Open fails and names the holder's pid and the
// lock file; a read-only open (plan) still works.
func TestLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first := open(t, path)
	first.Update("a", func(d *state.Datasource) { d.SourceVersion = "v1" })
	if err := first.Save(); err != nil {
		t.Fatal(err)
	}

	_, err := state.Open(path, discard())
	var le *state.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Open = %v, want a *LockedError", err)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, want := range []string{"pid " + pid, path + ".lock", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if le.PID != os.Getpid() {
		t.Errorf("PID = %d, want %d", le.PID, os.Getpid())
	}

	ro, err := state.OpenReadOnly(path, discard())
	if err != nil {
		t.Fatalf("OpenReadOnly while locked = %v", err)
	}
	if d, ok := ro.Get("a"); !ok || d.SourceVersion != "v1" {
		t.Errorf("read-only Get(a) = %+v, %v", d, ok)
	}
	// The lock is on its own file, so the rename of a Save keeps it.
	if err := first.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(path, discard()); !errors.As(err, &le) {
		t.Errorf("Open after a Save of the holder = %v, want a *LockedError", err)
	}
}

// TestLockReleasedOnClose: Close lets the next daemon in, and the closed
// Store no longer writes.
func TestLockReleasedOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first := open(t, path)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := first.Save(); err == nil {
		t.Error("Save after Close succeeded")
	}
	second := open(t, path)
	second.Update("a", func(d *state.Datasource) { d.SourceVersion = "v" })
	if err := second.Save(); err != nil {
		t.Errorf("Save of the new holder = %v", err)
	}
}

// TestUntrustedDirRefused: a state directory someone else can write lets
// them plant a state file that makes skip_unchanged skip the PATCH.
func TestUntrustedDirRefused(t *testing.T) {
	tests := map[string]struct {
		mode     os.FileMode
		uid, gid int // -1: ours
		want     []string
	}{
		"world-writable":             {0o777, -1, -1, []string{"writable by others", "chmod go-w"}},
		"sticky world-writable":      {0o777 | os.ModeSticky, -1, -1, []string{"writable by others", "chmod go-w"}},
		"writable by a shared group": {0o770, -1, 4242, []string{"writable by its group (gid 4242", "chmod go-w"}},
		"foreign owner":              {0o700, 4242, -1, []string{"owned by uid 4242", "chown"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.uid >= 0 || tc.gid >= 0 {
				if err := os.Chown(dir, tc.uid, tc.gid); err != nil {
					t.Skipf("cannot chown (not root?): %v", err)
				}
			}
			path := filepath.Join(dir, "state.json")
			planted := `{"Version": 1, "Datasources": {"a": {"SourceVersion": "v1", "CredentialSetAt": "2026-01-01T00:00:00Z"}}}`
			if err := os.WriteFile(path, []byte(planted), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := state.Open(path, discard())
			var ue *state.UntrustedError
			if !errors.As(err, &ue) {
				t.Fatalf("Open = %v, want an *UntrustedError", err)
			}
			for _, want := range append(tc.want, dir) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Stat(path + ".lock"); err == nil {
				t.Error("a lock file was created in the refused directory")
			}
		})
	}
}

// TestOwnGroupWritableAccepted: kubelet makes a volume with fsGroup
// group-writable by rotatord's own group at every mount; that group has no
// one else in it, so a restarted pod must not be refused.
func TestOwnGroupWritableAccepted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte(`{"Version": 1, "Datasources": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	open(t, path)
}

// TestUntrustedFileRefused: a file planted while the directory was open to
// others stays refused after the directory is fixed.
func TestUntrustedFileRefused(t *testing.T) {
	for name, prep := range map[string]func(string) error{
		"foreign owner":  func(p string) error { return os.Chown(p, 4242, -1) },
		"world-writable": func(p string) error { return os.Chmod(p, 0o666) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(`{"Version": 1, "Datasources": {}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := prep(path); err != nil {
				t.Skipf("cannot prepare the file (not root?): %v", err)
			}
			_, err := state.Open(path, discard())
			var ue *state.UntrustedError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), "file "+path) {
				t.Fatalf("Open = %v, want an *UntrustedError naming the file", err)
			}
			// Refused, the lock is not kept.
			open(t, filepath.Join(filepath.Dir(path), "other.json"))
			if err := os.Chown(path, os.Geteuid(), -1); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			open(t, path)
		})
	}
}

// TestMissingDirCreated: rotatord makes its own 0700 directory inside a
// volume (the chart's state_file points into one), but not a missing volume.
func TestMissingDirCreated(t *testing.T) {
	vol := t.TempDir()
	if err := os.Chmod(vol, 0o777); err != nil { // an emptyDir, as kubelet makes it
		t.Fatal(err)
	}
	dir := filepath.Join(vol, "state")
	open(t, filepath.Join(dir, "state.json"))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("created directory mode %v, want 0700", perm)
	}
	missing := filepath.Join(vol, "no-volume", "state", "state.json")
	if _, err := state.Open(missing, discard()); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("Open under a missing parent = %v, want no such file or directory", err)
	}
}

// TestOrphanTempFilesRemoved: a crash between CreateTemp and rename leaves
// a temp file that nothing else would ever delete.
func TestOrphanTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	orphans := []string{".state.json.tmp-123456", ".state.json.tmp-9"}
	others := []string{"state.json.corrupt-1700000000", ".other.json.tmp-1", "state.json.tmp-1", "notes"}
	for _, n := range append(append([]string{}, orphans...), others...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A directory of the pattern is not a temp file of ours.
	if err := os.Mkdir(filepath.Join(dir, ".state.json.tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	open(t, path)
	assertOnlyFiles(t, dir, ".other.json.tmp-1", ".state.json.tmp-dir", "notes", "state.json.corrupt-1700000000", "state.json.lock", "state.json.tmp-1")

	// A read-only open (plan, next to a running daemon) removes nothing.
	if err := os.WriteFile(filepath.Join(dir, orphans[0]), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := state.OpenReadOnly(path, discard()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, orphans[0])); err != nil {
		t.Errorf("OpenReadOnly removed a temp file: %v", err)
	}
}

// TestNotRegularStateRefused: a FIFO in the state file's place hung Open
// (and so the start) forever, and a link to /dev/zero filled memory; both
// are refused at once, for writers and for plan's read-only open alike.
func TestNotRegularStateRefused(t *testing.T) {
	for name, prep := range map[string]func(testing.TB, string) string{
		"fifo":              testutil.FIFO,
		"link to /dev/zero": testutil.ZeroLink,
	} {
		for _, readOnly := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "", true: " read-only"}[readOnly], func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "state.json")
				prep(t, path)
				openFn := state.Open
				if readOnly {
					openFn = state.OpenReadOnly
				}
				done := make(chan error, 1)
				go func() {
					s, err := openFn(path, discard())
					if err == nil {
						s.Close()
					}
					done <- err
				}()
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "state file "+path+": not a regular file") {
						t.Fatalf("Open = %v, want it refused as not a regular file", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Open still blocked after 5 s")
				}
			})
		}
	}
}
