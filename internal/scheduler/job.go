package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one thing to run on a schedule; for rotatord, one data source.
type Job struct {
	// Name identifies the job across reloads; it must be unique and non-empty.
	Name string
	// Schedule is a 5-field cron spec ("0 3 * * *") or a descriptor
	// ("@hourly", "@every 45m"). A "CRON_TZ=Europe/Paris " prefix is honoured;
	// otherwise times are in the clock's location.
	Schedule string
	// Jitter delays each scheduled tick by U[0, Jitter), so that replicas and
	// data sources sharing a schedule do not hit Entra or Key Vault together.
	Jitter time.Duration
	// Retry is the tick's retry budget and backoff, which the job's own
	// clients spend too (see package budget).
	Retry Retry
	// RunAtStart runs the job as soon as the scheduler runs, or as soon as
	// SetJobs adds it. OAuth2 data sources need it: Power BI keeps no
	// refresh token, so the credential left from before a restart may be dead.
	RunAtStart bool
	// ExpiryMargin is how long before a reported Result.ExpiresAt the job
	// runs again; zero means DefaultExpiryMargin.
	ExpiryMargin time.Duration
	// Run does the work. Its context is not cancelled when the scheduler
	// starts stopping, only when Options.StopTimeout runs out, so that a
	// PATCH in flight can finish. A panic is recovered and reported as an
	// error.
	Run func(ctx context.Context) (Result, error)
}

// Result is what a run reports back.
type Result struct {
	// ExpiresAt is when the credential just set stops working; zero means
	// nothing expires. The next tick is no later than ExpiresAt − margin.
	// Only a successful run's counts.
	ExpiresAt time.Time
	// Report is the job's own account of the run, failed or not, which
	// the scheduler hands to OnTick in TickReport.Reports untouched: so that
	// the job's owner records a tick's outcome in one place, at its end.
	Report any
}

// timing is the part of a Job that decides when it runs; two jobs with the
// same timing keep their planned next run across SetJobs.
type timing struct {
	Schedule     string
	Jitter       time.Duration
	Retry        Retry
	RunAtStart   bool
	ExpiryMargin time.Duration
}

func (j Job) timing() timing {
	return timing{j.Schedule, j.Jitter, j.Retry, j.RunAtStart, j.ExpiryMargin}
}

func (j Job) margin() time.Duration {
	if j.ExpiryMargin == 0 {
		return DefaultExpiryMargin
	}
	return j.ExpiryMargin
}

// parser accepts the 5 standard fields and the @ descriptors (@hourly,
// @every 45m): the dialect operators know from crontab. Seconds are not a
// field because no credential needs rotating that often.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ErrNeverFires is CheckSchedule's error for a spec that parses but names
// no time in any year, such as "0 0 30 2 *".
var ErrNeverFires = errors.New("never fires: no such date in any year")

// neverFiresFrom is the instant a schedule is judged from. robfig's Next
// gives up after five years, so judged from today "0 0 29 2 *" would pass
// or fail with the date (2097-2103 hold no Feb 29). From 2000-01-01, a leap
// year, every schedule that fires at all fires within five years: only
// Feb 29 depends on the year.
var neverFiresFrom = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// CheckSchedule is the one rule for a Job.Schedule, shared by config
// validation (which reports its line) and SetJobs: spec must parse and must
// fire some day. The answer does not depend on today's date.
func CheckSchedule(spec string) error {
	_, err := checkSchedule(spec)
	return err
}

func checkSchedule(spec string) (cron.Schedule, error) {
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	if s.Next(neverFiresFrom).IsZero() {
		return nil, ErrNeverFires
	}
	return s, nil
}

// validate checks every job and returns their parsed schedules, or every
// problem found joined into one error.
func validate(jobs []Job) ([]cron.Schedule, error) {
	var errs []error
	scheds := make([]cron.Schedule, len(jobs))
	seen := make(map[string]bool, len(jobs))
	for i, j := range jobs {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("jobs[%d] %q: "+format, append([]any{i, j.Name}, args...)...))
		}
		switch {
		case j.Name == "":
			fail("name is empty")
		case seen[j.Name]:
			fail("name is used by an earlier job")
		}
		seen[j.Name] = true
		if j.Run == nil {
			fail("Run is nil")
		}
		if s, err := checkSchedule(j.Schedule); err != nil {
			fail("schedule %q: %w", j.Schedule, err)
		} else {
			scheds[i] = s
		}
		if j.Jitter < 0 {
			fail("jitter %s is negative", j.Jitter)
		}
		if j.ExpiryMargin < 0 {
			fail("expiry margin %s is negative", j.ExpiryMargin)
		}
		if r := j.Retry; r.Attempts < 0 || r.InitialBackoff < 0 || r.MaxBackoff < 0 {
			fail("retry {attempts: %d, initial_backoff: %s, max_backoff: %s} has a negative value", r.Attempts, r.InitialBackoff, r.MaxBackoff)
		} else if r.MaxBackoff > 0 && r.InitialBackoff > r.MaxBackoff {
			fail("retry initial backoff %s exceeds max backoff %s", r.InitialBackoff, r.MaxBackoff)
		}
	}
	return scheds, errors.Join(errs...)
}
