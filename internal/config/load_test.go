package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/safefile"
	"github.com/rotatord/rotatord/internal/testutil"
)

// TestLoadRefusesNonRegular: a FIFO blocked open(2) forever, /dev/zero (or a
// symlink to it) was read until the OOM killer came, a directory failed late.
func TestLoadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := testutil.FIFO(t, filepath.Join(dir, "fifo.yaml"))
	link := testutil.ZeroLink(t, filepath.Join(dir, "link.yaml"))
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxSize+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	tests := map[string]struct {
		path    string
		wantErr error
		wantMsg string
	}{
		"fifo":                {fifo, safefile.ErrNotRegular, "not a regular file (a named pipe (FIFO)): the inventory must be a regular file"},
		"dev zero":            {"/dev/zero", safefile.ErrNotRegular, "not a regular file (a device)"},
		"symlink to dev zero": {link, safefile.ErrNotRegular, "not a regular file (a device)"},
		"directory":           {dir, safefile.ErrNotRegular, "not a regular file (a directory)"},
		"past the limit":      {big, safefile.ErrTooLarge, "larger than 64 MiB: split the data sources between inventories"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load(t.Context(), tc.path); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				unblockFIFO(fifo)
				t.Fatalf("Load(%s) still running after 5s", tc.path)
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.path+": "+tc.wantMsg) {
				t.Fatalf("Load(%s) = %v, want %v saying %q", tc.path, err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

// unblockFIFO lets a reader stuck opening fifo go: it opens the other end
// and closes it, so a test that failed does not leave a goroutine behind.
func unblockFIFO(fifo string) {
	if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

func TestLoadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Load(ctx, "testdata/good/minimal.yaml"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a canceled context = %v, want context.Canceled", err)
	}
}
