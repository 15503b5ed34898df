package clock_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRealTimer(t *testing.T) {
	c := clock.Real()
	start := c.Now()
	tm := c.NewTimer(time.Millisecond)
	v := <-tm.C()
	if v.Before(start) {
		t.Errorf("real timer fired at %v, before it was made at %v", v, start)
	}
	if tm.Stop() {
		t.Error("Stop after firing = true, want false")
	}
	if tm.Reset(time.Hour) {
		t.Error("Reset of a fired timer = true, want false")
	}
	if !tm.Stop() {
		t.Error("Stop of an armed real timer = false, want true")
	}
}
