package safefile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/testutil"
)

// secretRules are the rules of a secret file, the strictest caller.
var secretRules = Rules{MaxSize: 16, Deny: 0o022}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
			t.Fatal(err)
		}
		return p
	}
	fifo := testutil.FIFO(t, filepath.Join(dir, "fifo"))
	zeroLink := testutil.ZeroLink(t, filepath.Join(dir, "zero-link"))
	goodLink := filepath.Join(dir, "good-link")
	if err := os.Symlink(write("target", "s3cret", 0o400), goodLink); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path    string
		want    string // content, when wantErr is nil
		wantErr error  // an Err variable, or fs.ErrNotExist
		wantMsg string // in the message as well as the path
	}{
		"owner only":          {path: write("a", "s3cret", 0o600), want: "s3cret"},
		"systemd credential":  {path: write("b", "s3cret", 0o400), want: "s3cret"},
		"group readable":      {path: write("c", "s3cret", 0o640), want: "s3cret"},
		"empty":               {path: write("d", "", 0o600), want: ""},
		"exactly the limit":   {path: write("e", strings.Repeat("x", 16), 0o600), want: strings.Repeat("x", 16)},
		"symlink to a file":   {path: goodLink, want: "s3cret"},
		"one past the limit":  {path: write("f", strings.Repeat("x", 17), 0o600), wantErr: ErrTooLarge, wantMsg: "larger than 16 bytes"},
		"group writable":      {path: write("g", "s3cret", 0o620), wantErr: ErrMode, wantMsg: "mode 0620 lets its group write it (run chmod g-w "},
		"other writable":      {path: write("h", "s3cret", 0o602), wantErr: ErrMode, wantMsg: "mode 0602 lets every user write it (run chmod o-w "},
		"both writable":       {path: write("i", "s3cret", 0o666), wantErr: ErrMode, wantMsg: "(run chmod go-w "},
		"fifo":                {path: fifo, wantErr: ErrNotRegular, wantMsg: "a named pipe (FIFO)"},
		"dev zero":            {path: "/dev/zero", wantErr: ErrNotRegular, wantMsg: "a device"},
		"symlink to dev zero": {path: zeroLink, wantErr: ErrNotRegular, wantMsg: "a device"},
		"directory":           {path: dir, wantErr: ErrNotRegular, wantMsg: "a directory"},
		"missing":             {path: filepath.Join(dir, "nope"), wantErr: fs.ErrNotExist},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// A FIFO or a device must be refused at once, not read: bound
			// the call so a regression fails instead of hanging the suite.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			start := time.Now()
			got, err := ReadFile(ctx, tc.path, secretRules)
			if d := time.Since(start); d > time.Second {
				t.Errorf("ReadFile took %v", d)
			}
			if tc.wantErr == nil {
				if err != nil || string(got) != tc.want {
					t.Fatalf("ReadFile = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("ReadFile error = %v, want %v naming %s and saying %q", err, tc.wantErr, tc.path, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("error reveals the content: %v", err)
			}
		})
	}
}

func TestReadFileNoLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	want := strings.Repeat("0123456789", 30_000) // several read chunks
	if err := os.WriteFile(p, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(t.Context(), p, Rules{})
	if err != nil || string(got) != want {
		t.Fatalf("ReadFile = %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
}

func TestReadFileCanceled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ReadFile(ctx, p, Rules{}); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), p) {
		t.Fatalf("ReadFile with a canceled context = %v, want context.Canceled naming the path", err)
	}
}

func TestFix(t *testing.T) {
	tests := map[string]struct {
		path       string
		mode, deny fs.FileMode
		want       string
	}{
		"group write":          {"F", 0o620, 0o022, "chmod g-w F"},
		"other write":          {"F", 0o602, 0o022, "chmod o-w F"},
		"both write":           {"F", 0o666, 0o022, "chmod go-w F"},
		"other read and write": {"F", 0o646, 0o026, "chmod o-rw F"},
		"mixed":                {"F", 0o666, 0o026, "chmod g-w,o-rw F"},
		"path with a space":    {"my secrets/F", 0o620, 0o022, "chmod g-w 'my secrets/F'"},
		"path with a quote":    {"it's/F", 0o620, 0o022, `chmod g-w 'it'\''s/F'`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := &Error{Path: tc.path, Err: ErrMode, Mode: tc.mode, Deny: tc.deny}
			if got := e.Fix(); got != tc.want {
				t.Errorf("Fix() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
