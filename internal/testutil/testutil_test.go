package testutil

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d ok\n", i) })
		_ = b.String() // reading while others write is the point
	}
	wg.Wait()
	if got := len(b.Lines("line", "ok")); got != 8 {
		t.Errorf("%d matching lines, want 8:\n%s", got, b.String())
	}
}

func TestLines(t *testing.T) {
	var b SyncBuffer
	b.Write([]byte("level=INFO msg=a job=x\nlevel=WARN msg=b job=x\nlevel=WARN msg=c job=y\n"))
	if got, want := b.Lines("WARN", "job=x"), []string{"level=WARN msg=b job=x"}; !slices.Equal(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := b.Lines("absent"); got != nil {
		t.Errorf("Lines of an absent part = %q, want none", got)
	}
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, "three looks", time.Minute, func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Errorf("cond called %d times, want 3", n.Load())
	}
}

// recorder is a testing.TB whose Fatalf records instead of stopping the test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestWaitForFailsAtTheTimeout(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != r {
				panic(p)
			}
		}()
		WaitFor(r, "never", time.Millisecond, func() bool { return false })
	}()
	if want := "timed out after 1ms waiting for never"; r.msg != want {
		t.Errorf("Fatalf(%q), want %q", r.msg, want)
	}
}
