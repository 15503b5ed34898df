package state_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/state"
)

func discard() state.Options { return state.Options{Logger: slog.New(slog.DiscardHandler)} }

func open(t *testing.T, path string) *state.Store {
	t.Helper()
	s, err := state.Open(path, discard())
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// restart closes s, as a stopping daemon does, and opens path again.
func restart(t *testing.T, s *state.Store, path string) *state.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return open(t, path)
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	setAt := time.Date(2026, 3, 10, 4, 0, 1, 999_999_999, paris)
	s := open(t, path)
	s.Update("sales-sql", func(d *state.Datasource) {
		d.LastAttempt, d.LastSuccess, d.CredentialSetAt = setAt, setAt, setAt
		d.SourceVersion, d.VerifiedVersion = "8f1c2a", "77e0b4"
		d.LastVerify, d.Verified = setAt, true
	})
	s.Update("lake-oauth", func(d *state.Datasource) {
		d.LastAttempt = setAt.Add(time.Hour)
		d.ExpiresAt = setAt.Add(2 * time.Hour)
		d.LastError = "patch: 403 forbidden"
	})
	if err := s.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}

	want := map[string]state.Datasource{
		"sales-sql": {
			LastAttempt: time.Date(2026, 3, 10, 3, 0, 1, 0, time.UTC), LastSuccess: time.Date(2026, 3, 10, 3, 0, 1, 0, time.UTC),
			CredentialSetAt: time.Date(2026, 3, 10, 3, 0, 1, 0, time.UTC), SourceVersion: "8f1c2a",
			LastVerify: time.Date(2026, 3, 10, 3, 0, 1, 0, time.UTC), Verified: true, VerifiedVersion: "77e0b4",
		},
		"lake-oauth": {
			LastAttempt: time.Date(2026, 3, 10, 4, 0, 1, 0, time.UTC), ExpiresAt: time.Date(2026, 3, 10, 5, 0, 1, 0, time.UTC),
			LastError: "patch: 403 forbidden",
		},
	}
	if got := s.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("before restart:\n got %+v\nwant %+v", got, want)
	}
	if got := restart(t, s, path).Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("after restart:\n got %+v\nwant %+v", got, want)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %o, want 600", mode)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"Version": 1`)) {
		t.Errorf("file does not record its version:\n%s", raw)
	}
	if bytes.Contains(raw, []byte(`"SourceVersion": ""`)) {
		t.Errorf("empty SourceVersion not omitted:\n%s", raw)
	}
	assertOnlyFiles(t, filepath.Dir(path), "state.json", "state.json.lock")
}

func TestGetUpdatePrune(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.json"))
	if _, ok := s.Get("a"); ok {
		t.Error("Get on an empty store found a record")
	}
	for _, name := range []string{"a", "b", "c"} {
		s.Update(name, func(d *state.Datasource) { d.SourceVersion = "v-" + name })
	}
	s.Update("b", func(d *state.Datasource) { d.LastError = "source: 404" })
	if d, ok := s.Get("b"); !ok || d.SourceVersion != "v-b" || d.LastError != "source: 404" {
		t.Errorf("Get(b) = %+v, %v; want the fields of both updates", d, ok)
	}
	s.Prune([]string{"b", "c", "not-there"})
	if got := len(s.Snapshot()); got != 2 {
		t.Errorf("after Prune %d records, want 2", got)
	}
	if _, ok := s.Get("a"); ok {
		t.Error("Prune kept a record not in keep")
	}

	// Snapshot is a copy: changing it must not change the store.
	snap := s.Snapshot()
	delete(snap, "b")
	if _, ok := s.Get("b"); !ok {
		t.Error("deleting from a Snapshot changed the store")
	}
}

func TestLongErrorIsCut(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.json"))
	long := "patch: " + strings.Repeat("é", 300)
	s.Update("x", func(d *state.Datasource) { d.LastError = long })
	d, _ := s.Get("x")
	if len(d.LastError) > 256 || !strings.HasPrefix(long, strings.TrimSuffix(d.LastError, "…")) {
		t.Errorf("LastError = %q (%d bytes), want a prefix of at most 256 bytes plus an ellipsis", d.LastError, len(d.LastError))
	}
	if !strings.HasSuffix(d.LastError, "é…") {
		t.Errorf("LastError was cut inside a character: %q", d.LastError[len(d.LastError)-8:])
	}
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "state.json"))
	if n := len(s.Snapshot()); n != 0 {
		t.Errorf("missing file gave %d records", n)
	}
	assertOnlyFiles(t, dir, "state.json.lock")
}

// TestOpenUnreadable: a state file that cannot be read, or whose directory
// is missing, is refused with an error that names the file once.
func TestOpenUnreadable(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path string
		want string
	}{
		"volume missing": {filepath.Join(dir, "nope", "state", "state.json"),
			"state file " + filepath.Join(dir, "nope", "state", "state.json") + ": mkdir " + filepath.Join(dir, "nope", "state") + ": no such file or directory"},
		"parent is a file":    {filepath.Join(notDir, "state.json"), "state file " + filepath.Join(notDir, "state.json") + ": " + notDir + " is not a directory"},
		"path is a directory": {dir, "state file " + dir + ": not a regular file (a directory)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := state.Open(tc.path, discard()); err == nil || err.Error() != tc.want {
				t.Errorf("Open = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOpenReadOnly: plan reads the state if there is one and never writes,
// creates or renames anything; a missing directory is not its business.
func TestOpenReadOnly(t *testing.T) {
	t.Run("directory missing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "nope", "state.json")
		s, err := state.OpenReadOnly(path, discard())
		if err != nil {
			t.Fatalf("OpenReadOnly = %v, want an empty state", err)
		}
		if n := len(s.Snapshot()); n != 0 {
			t.Errorf("%d records, want none", n)
		}
		s.Update("a", func(d *state.Datasource) { d.SourceVersion = "v" })
		if err, want := s.Save(), "state file "+path+": opened read-only"; err == nil || err.Error() != want {
			t.Errorf("Save = %v, want %q", err, want)
		}
		assertOnlyFiles(t, dir)
	})
	t.Run("file present", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		w := open(t, path)
		w.Update("a", func(d *state.Datasource) { d.SourceVersion = "v1" })
		if err := w.Save(); err != nil {
			t.Fatal(err)
		}
		s, err := state.OpenReadOnly(path, discard())
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := s.Get("a"); !ok || d.SourceVersion != "v1" {
			t.Errorf("Get(a) = %+v, %v; want the saved record", d, ok)
		}
	})
	t.Run("corrupt file is reported and left in place", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		s, err := state.OpenReadOnly(path, state.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("OpenReadOnly = %v, want a corrupt file not to be fatal", err)
		}
		if n := len(s.Snapshot()); n != 0 {
			t.Errorf("corrupt file gave %d records", n)
		}
		if line := logs.String(); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "state file is corrupt") || !strings.Contains(line, "invalid character") {
			t.Errorf("log = %q, want a corrupt-file warning with the cause", line)
		}
		assertOnlyFiles(t, dir, "state.json")
	})
	t.Run("unreadable is still an error", func(t *testing.T) {
		dir := t.TempDir()
		want := "state file " + dir + ": not a regular file (a directory)"
		if _, err := state.OpenReadOnly(dir, discard()); err == nil || err.Error() != want {
			t.Errorf("OpenReadOnly = %v, want %q", err, want)
		}
	})
}

func TestOpenCorruptSetsAside(t *testing.T) {
	tests := map[string]struct {
		content string
		cause   string // in the log line
	}{
		"not json":       {`garbage`, "invalid character"},
		"truncated":      {`{"Version": 1, "Datasources": {"a": {`, "unexpected end of JSON input"},
		"wrong type":     {`{"Version": "one"}`, "cannot unmarshal"},
		"future version": {`{"Version": 2, "Datasources": {}}`, "unsupported version 2, want 1"},
		"no version":     {`{}`, "unsupported version 0, want 1"},
		"empty":          {``, "unexpected end of JSON input"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			s, err := state.Open(path, state.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Open = %v, want a corrupt file not to be fatal", err)
			}
			if n := len(s.Snapshot()); n != 0 {
				t.Errorf("corrupt file gave %d records", n)
			}
			if line := logs.String(); !strings.Contains(line, "state file is corrupt") || !strings.Contains(line, tc.cause) {
				t.Errorf("log = %q, want a corrupt-file line with %q", line, tc.cause)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("set-aside files: %v, want one", aside)
			}
			if got, _ := os.ReadFile(aside[0]); string(got) != tc.content {
				t.Errorf("set-aside file holds %q, want the original %q", got, tc.content)
			}
			if !strings.Contains(logs.String(), aside[0]) {
				t.Errorf("log does not say where the file went: %q", logs.String())
			}
			// The daemon carries on: the next Save writes a fresh file.
			s.Update("a", func(d *state.Datasource) { d.SourceVersion = "v1" })
			if err := s.Save(); err != nil {
				t.Fatalf("Save after set-aside: %v", err)
			}
			s.Close()
			if d, ok := open(t, path).Get("a"); !ok || d.SourceVersion != "v1" {
				t.Errorf("after Save and reopen, Get(a) = %+v, %v", d, ok)
			}
		})
	}
}

func TestSaveFailureLeavesNoTrace(t *testing.T) {
	t.Run("read-only directory keeps the old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		s := open(t, path)
		s.Update("a", func(d *state.Datasource) { d.SourceVersion = "old" })
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		old, _ := os.ReadFile(path)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		if probe, err := os.CreateTemp(dir, "probe"); err == nil {
			// Root (CAP_DAC_OVERRIDE) writes anyway; the cases below cover it.
			_ = probe.Close()
			_ = os.Remove(probe.Name())
			t.Skip("directory permissions do not bind this user")
		}
		s.Update("a", func(d *state.Datasource) { d.SourceVersion = "new" })
		if err := s.Save(); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Save = %v, want an error naming %s", err, path)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
			t.Errorf("old file changed:\n%s\nwant:\n%s", now, old)
		}
		assertOnlyFiles(t, dir, "state.json", "state.json.lock")
	})
	t.Run("parent is a file", func(t *testing.T) {
		// Root ignores directory permissions, but not a file where the
		// directory should be: the directory is replaced after Open.
		sub := filepath.Join(t.TempDir(), "sub")
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		s := open(t, filepath.Join(sub, "state.json"))
		if err := os.RemoveAll(sub); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sub, []byte("not a dir"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Update("a", func(d *state.Datasource) { d.SourceVersion = "v" })
		if err := s.Save(); err == nil || !strings.Contains(err.Error(), "create temp file") {
			t.Fatalf("Save = %v, want a create temp file error", err)
		}
		if got, _ := os.ReadFile(sub); string(got) != "not a dir" {
			t.Errorf("the blocking file changed to %q", got)
		}
		assertOnlyFiles(t, filepath.Dir(sub), "sub")
	})
	t.Run("rename fails: old content and no temp file remain", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		s := open(t, path)
		// A non-empty directory where the file should go makes the final
		// rename fail, as root too, after the temp file was written.
		if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
			t.Fatal(err)
		}
		s.Update("a", func(d *state.Datasource) { d.SourceVersion = "v" })
		if err := s.Save(); err == nil || !strings.Contains(err.Error(), "rename temp file") {
			t.Fatalf("Save = %v, want a rename error", err)
		}
		assertOnlyFiles(t, dir, "state.json", "state.json.lock")
		if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
			t.Errorf("what was at the path changed: %v", err)
		}
	})
}

// TestConcurrentUpdate runs read-modify-write updates on one record from
// many goroutines, alongside Saves and Snapshots: every increment must land.
func TestConcurrentUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := open(t, path)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			own := fmt.Sprintf("ds-%d", w)
			for i := range each {
				s.Update("shared", func(d *state.Datasource) {
					n, _ := strconv.Atoi(d.SourceVersion)
					d.SourceVersion = strconv.Itoa(n + 1)
				})
				s.Update(own, func(d *state.Datasource) { d.LastError = strconv.Itoa(i) })
				if i%10 == 0 {
					if err := s.Save(); err != nil {
						t.Errorf("Save: %v", err)
					}
				}
				_ = s.Snapshot()
			}
		})
	}
	wg.Wait()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	got := restart(t, s, path).Snapshot()
	if want := strconv.Itoa(workers * each); got["shared"].SourceVersion != want {
		t.Errorf("shared counter = %s, want %s", got["shared"].SourceVersion, want)
	}
	if len(got) != workers+1 {
		t.Errorf("%d records, want %d", len(got), workers+1)
	}
	assertOnlyFiles(t, filepath.Dir(path), "state.json", "state.json.lock")
}

// assertOnlyFiles fails if dir holds anything but names (temp files left
// behind by a failed Save, in particular).
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) && !(len(got) == 0 && len(names) == 0) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// TestSetAsideNamedOnTheClock: the set-aside name takes its seconds from
// the injected clock, the daemon's one clock, not from wall time.
func TestSetAsideNamedOnTheClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	if _, err := state.Open(path, state.Options{Clock: clocktest.NewFake(at)}); err != nil {
		t.Fatal(err)
	}
	want := path + ".corrupt-" + strconv.FormatInt(at.Unix(), 10)
	if _, err := os.Stat(want); err != nil {
		t.Errorf("corrupt file not set aside as %s: %v", want, err)
	}
}

// TestEmpty: a Store of no file holds nothing and refuses to save.
func TestEmpty(t *testing.T) {
	s := state.Empty(state.Options{})
	if n := len(s.Snapshot()); n != 0 {
		t.Errorf("%d records, want none", n)
	}
	s.Update("sales-sql", func(d *state.Datasource) { d.SourceVersion = "v1" })
	if err := s.Save(); err == nil {
		t.Error("Save of a Store of no file succeeded")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
