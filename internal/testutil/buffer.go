package testutil

import (
	"bytes"
	"strings"
	"sync"
)

// SyncBuffer is an io.Writer that a test may read while others write to it:
// a logger's sink, or a child process's output. The zero value is ready.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines written so far that contain every one of parts.
func (b *SyncBuffer) Lines(parts ...string) []string {
	var out []string
next:
	for _, line := range strings.Split(b.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}
