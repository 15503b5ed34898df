package testutil

import (
	"testing"
	"time"
)

// maxPoll caps the pause between two looks at a condition: short enough
// not to slow a test, long enough not to crowd a busy machine.
const maxPoll = 50 * time.Millisecond

// WaitFor checks cond until it holds and fails tb if it does not within
// timeout. The pause between checks starts short and doubles up to 50 ms,
// so a condition about to hold is seen at once and a slow one costs little.
// Call it from the test's goroutine: it may call tb.Fatalf.
func WaitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for pause := 100 * time.Microsecond; !cond(); pause = min(2*pause, maxPoll) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
	}
}
