package sources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/testutil"
)

func TestReadFile(t *testing.T) {
	tests := map[string]struct {
		content    string
		mode       os.FileMode
		want       string
		wantReason string // "" means success
		wantHint   string // in the message, followed by the path
	}{
		"no newline":       {content: "s3cret", mode: 0o600, want: "s3cret"},
		"one newline":      {content: "s3cret\n", mode: 0o600, want: "s3cret"},
		"crlf":             {content: "s3cret\r\n", mode: 0o400, want: "s3cret"},
		"only one trimmed": {content: "s3cret\n\n", mode: 0o600, want: "s3cret\n"},
		"inner newlines":   {content: "line1\nline2\n", mode: 0o640, want: "line1\nline2"},
		"spaces kept":      {content: " s3cret \n", mode: 0o600, want: " s3cret "},
		"world readable":   {content: "s3cret\n", mode: 0o644, wantReason: ReasonWorldReadable},
		"world read only":  {content: "s3cret\n", mode: 0o604, wantReason: ReasonWorldReadable},
		"group read":       {content: "s3cret\n", mode: 0o440, want: "s3cret"},
		"group writable":   {content: "s3cret\n", mode: 0o620, wantReason: ReasonWritableByOthers, wantHint: "run chmod g-w "},
		"other writable":   {content: "s3cret\n", mode: 0o602, wantReason: ReasonWritableByOthers, wantHint: "run chmod o-w "},
		"all of it":        {content: "s3cret\n", mode: 0o666, wantReason: ReasonWritableByOthers, wantHint: "run chmod g-w,o-rw "},
		"largest":          {content: strings.Repeat("s", MaxFileSize), mode: 0o600, want: strings.Repeat("s", MaxFileSize)},
		"too large":        {content: strings.Repeat("s3cret", MaxFileSize/6+1), mode: 0o600, wantReason: ReasonFileTooLarge},
		"empty":            {content: "", mode: 0o600, wantReason: ReasonEmpty},
		"just a newline":   {content: "\n", mode: 0o600, wantReason: ReasonEmpty},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			v, err := ReadFile(t.Context(), path)
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				if v.Secret.RevealString() != tc.want || v.Version != "" || !v.ExpiresAt.IsZero() {
					t.Errorf("ReadFile = %q, want %q", v.Secret.RevealString(), tc.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.wantReason || e.Source != SourceFile || e.Resource != path {
				t.Fatalf("ReadFile error = %v, want file %s %s", err, path, tc.wantReason)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error reveals the content: %v", err)
			}
			if tc.wantHint != "" && !strings.Contains(err.Error(), tc.wantHint+path) {
				t.Errorf("error %q does not say %q and the path", err, tc.wantHint)
			}
			if tc.wantReason == ReasonWorldReadable && !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Errorf("error %q does not suggest chmod 600 on the path", err)
			}
		})
	}
}

func TestReadFileNotThere(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct {
		path       string
		wantReason string
	}{
		"missing":             {path: filepath.Join(dir, "nope"), wantReason: ReasonNotFound},
		"directory":           {path: dir, wantReason: ReasonNotRegular},
		"fifo":                {path: filepath.Join(dir, "fifo"), wantReason: ReasonNotRegular},
		"dev zero":            {path: "/dev/zero", wantReason: ReasonNotRegular},
		"symlink to dev zero": {path: filepath.Join(dir, "zero"), wantReason: ReasonNotRegular},
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	testutil.FIFO(t, filepath.Join(dir, "fifo"))
	testutil.ZeroLink(t, filepath.Join(dir, "zero"))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// A FIFO blocked open(2) forever: bound the call, and on
			// failure open the FIFO's other end so nothing is left hanging.
			done := make(chan error, 1)
			go func() { _, err := ReadFile(t.Context(), tc.path); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				if f, err := os.OpenFile(filepath.Join(dir, "fifo"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatalf("ReadFile(%s) still running after 5s", tc.path)
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.wantReason || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("ReadFile(%s) error = %v, want reason %s naming the path", tc.path, err, tc.wantReason)
			}
		})
	}
}

func TestReadFileCanceled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var e *Error
	if _, err := ReadFile(ctx, path); !errors.As(err, &e) || e.Reason != ReasonCanceled {
		t.Fatalf("ReadFile with a canceled context = %v, want reason %s", err, ReasonCanceled)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"PW": "s3cret", "EMPTY": "", "BLANK": " \t"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := map[string]struct {
		name       string
		want       string
		wantReason string
	}{
		"set":     {name: "PW", want: "s3cret"},
		"missing": {name: "NOPE", wantReason: ReasonNotFound},
		"empty":   {name: "EMPTY", wantReason: ReasonEmpty},
		"blank":   {name: "BLANK", wantReason: ReasonEmpty},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := FromEnv(lookup, tc.name)
			if tc.wantReason == "" {
				if err != nil || v.Secret.RevealString() != tc.want {
					t.Fatalf("FromEnv = %q, %v; want %q", v.Secret.RevealString(), err, tc.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.wantReason || e.Source != SourceEnv || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("FromEnv error = %v, want env %s naming %s", err, tc.wantReason, tc.name)
			}
		})
	}
	t.Setenv("ROTATORD_TEST_SECRET", "from-os")
	if v, err := FromEnv(nil, "ROTATORD_TEST_SECRET"); err != nil || v.Secret.RevealString() != "from-os" {
		t.Errorf("FromEnv(nil lookup) = %q, %v", v.Secret.RevealString(), err)
	}
}
