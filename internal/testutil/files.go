package testutil

import (
	"os"
	"syscall"
	"testing"
)

// FIFO makes a named pipe at path and returns path: open(2) for reading
// blocks on it until a writer comes, which no test provides.
func FIFO(t testing.TB, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ZeroLink makes path a symlink to /dev/zero and returns path: a file that
// looks like any other by its name and whose reads never end.
func ZeroLink(t testing.TB, path string) string {
	t.Helper()
	if err := os.Symlink("/dev/zero", path); err != nil {
		t.Fatal(err)
	}
	return path
}
