package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/scheduler"
)

// TestCheckSchedule: one rule for check and run, whatever today's date.
func TestCheckSchedule(t *testing.T) {
	tests := map[string]struct {
		spec  string
		never bool // want ErrNeverFires
		parse bool // want a parse error
	}{
		"daily":                  {spec: "0 3 * * *"},
		"every":                  {spec: "@every 45m"},
		"leap day":               {spec: "0 0 29 2 *"},
		"leap day in a timezone": {spec: "CRON_TZ=Europe/Paris 0 0 29 2 *"},
		"feb 30 or a monday":     {spec: "0 0 30 2 1"}, // day-of-month and weekday both set: either matches
		"feb 30":                 {spec: "0 0 30 2 *", never: true},
		"april 31":               {spec: "0 0 31 4 *", never: true},
		"feb 30 and 31":          {spec: "0 0 30,31 2 *", never: true},
		"four fields":            {spec: "0 3 * *", parse: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := scheduler.CheckSchedule(tc.spec)
			switch {
			case tc.never:
				if !errors.Is(err, scheduler.ErrNeverFires) {
					t.Errorf("CheckSchedule(%q) = %v, want ErrNeverFires", tc.spec, err)
				}
			case tc.parse:
				if err == nil || errors.Is(err, scheduler.ErrNeverFires) {
					t.Errorf("CheckSchedule(%q) = %v, want a parse error", tc.spec, err)
				}
			case err != nil:
				t.Errorf("CheckSchedule(%q) = %v, want nil", tc.spec, err)
			}
		})
	}
}

// TestLeapDayAcceptedAnyYear: robfig's Next looks five years ahead, and
// from March 2097 the next Feb 29 is in 2104 (2100 is no leap year). A
// daemon started then must not refuse what check accepted.
func TestLeapDayAcceptedAnyYear(t *testing.T) {
	run := func(context.Context) (scheduler.Result, error) { return scheduler.Result{}, nil }
	for _, at := range []time.Time{t0, time.Date(2097, 3, 1, 0, 0, 0, 0, time.UTC)} {
		s := scheduler.New(scheduler.Options{Clock: clocktest.NewFake(at)})
		if err := s.SetJobs([]scheduler.Job{{Name: "leap", Schedule: "0 0 29 2 *", Run: run}}); err != nil {
			t.Errorf("at %s: SetJobs = %v, want the leap-day schedule accepted", at.Format(time.DateOnly), err)
		}
	}
}
