package clocktest_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fired returns the value waiting on t's channel, if any.
func fired(t clock.Timer) (time.Time, bool) {
	select {
	case v := <-t.C():
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeAdvanceFiresDueTimers(t *testing.T) {
	tests := map[string]struct {
		after   time.Duration // timer duration
		advance time.Duration // how far the clock moves
		want    bool          // whether the timer fires
	}{
		"before deadline":   {after: time.Minute, advance: 59 * time.Second, want: false},
		"at deadline":       {after: time.Minute, advance: time.Minute, want: true},
		"past deadline":     {after: time.Minute, advance: time.Hour, want: true},
		"zero fires now":    {after: 0, advance: 0, want: true},
		"negative fires":    {after: -time.Second, advance: 0, want: true},
		"no advance at all": {after: time.Nanosecond, advance: 0, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := clocktest.NewFake(epoch)
			tm := f.NewTimer(tc.after)
			f.Advance(tc.advance)
			v, ok := fired(tm)
			if ok != tc.want {
				t.Fatalf("fired = %v, want %v", ok, tc.want)
			}
			if ok && !v.Equal(epoch.Add(tc.advance)) {
				t.Errorf("fired with %v, want the fake now %v", v, epoch.Add(tc.advance))
			}
			if got := f.Now(); !got.Equal(epoch.Add(tc.advance)) {
				t.Errorf("Now() = %v, want %v", got, epoch.Add(tc.advance))
			}
		})
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := clocktest.NewFake(epoch)
	tm := f.NewTimer(time.Minute)
	if f.Timers() != 1 {
		t.Fatalf("Timers() = %d, want 1", f.Timers())
	}
	if !tm.Stop() {
		t.Error("Stop on an armed timer = false, want true")
	}
	if tm.Stop() {
		t.Error("second Stop = true, want false")
	}
	f.Advance(time.Hour)
	if _, ok := fired(tm); ok {
		t.Error("stopped timer fired")
	}
	if tm.Reset(time.Minute) {
		t.Error("Reset of a stopped timer = true, want false")
	}
	f.Advance(time.Minute)
	if _, ok := fired(tm); !ok {
		t.Error("reset timer did not fire")
	}

	// A fired but unreceived value must not survive Reset (Go 1.23 semantics).
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Reset(time.Minute)
	if _, ok := fired(tm); ok {
		t.Error("stale value received after Reset")
	}
	if !tm.Reset(2 * time.Minute) {
		t.Error("Reset of an armed timer = false, want true")
	}
	f.Advance(time.Minute)
	if _, ok := fired(tm); ok {
		t.Error("timer fired at its old deadline after Reset")
	}
}

func TestFakeSetBackwardsFiresNothing(t *testing.T) {
	f := clocktest.NewFake(epoch)
	tm := f.NewTimer(time.Minute)
	f.Set(epoch.Add(-time.Hour))
	if _, ok := fired(tm); ok {
		t.Fatal("timer fired after the clock stepped back")
	}
	f.Set(epoch.Add(time.Minute))
	if _, ok := fired(tm); !ok {
		t.Fatal("timer did not fire once the clock reached its deadline")
	}
}

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	f := clocktest.NewFake(epoch)
	late, early := f.NewTimer(2*time.Minute), f.NewTimer(time.Minute)
	f.Advance(time.Hour)
	for name, tm := range map[string]clock.Timer{"early": early, "late": late} {
		if _, ok := fired(tm); !ok {
			t.Errorf("%s timer did not fire", name)
		}
	}
	if f.Timers() != 0 {
		t.Errorf("Timers() = %d after all fired, want 0", f.Timers())
	}
}

func TestFakeBlockUntil(t *testing.T) {
	f := clocktest.NewFake(epoch)
	got := make(chan time.Time)
	go func() {
		tm := f.NewTimer(time.Minute)
		got <- <-tm.C()
	}()
	f.BlockUntil(1) // without it, Advance could run before the timer exists
	f.Advance(time.Minute)
	if v := <-got; !v.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("goroutine received %v, want %v", v, epoch.Add(time.Minute))
	}
}
