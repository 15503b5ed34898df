package scheduler_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/scheduler"
)

func mustParse(t *testing.T, spec string) interface{ Next(time.Time) time.Time } {
	t.Helper()
	s, err := scheduler.ParseSchedule(spec)
	if err != nil {
		t.Fatalf("ParseSchedule(%q): %v", spec, err)
	}
	return s
}

func constRand(v float64) func() float64 { return func() float64 { return v } }

func TestNextRun(t *testing.T) {
	// 12:00:00.5 on a Tuesday, so truncation to the second shows.
	now := time.Date(2026, 3, 10, 12, 0, 0, 500_000_000, time.UTC)
	at := func(day, h, m, s int) time.Time { return time.Date(2026, 3, day, h, m, s, 0, time.UTC) }
	tests := map[string]struct {
		spec      string
		jitter    time.Duration
		rnd       float64
		expiresAt time.Time
		margin    time.Duration
		want      time.Time
	}{
		"every 24h":                          {spec: "@every 24h", want: at(11, 12, 0, 0)},
		"daily cron at 03:00":                {spec: "0 3 * * *", want: at(11, 3, 0, 0)},
		"hourly":                             {spec: "@hourly", want: at(10, 13, 0, 0)},
		"jitter with rand 0 adds nothing":    {spec: "0 3 * * *", jitter: 5 * time.Minute, rnd: 0, want: at(11, 3, 0, 0)},
		"jitter with rand 0.5 adds half":     {spec: "0 3 * * *", jitter: 5 * time.Minute, rnd: 0.5, want: at(11, 3, 2, 30)},
		"jitter with rand 0.999 stays below": {spec: "0 3 * * *", jitter: 5 * time.Minute, rnd: 0.999, want: at(11, 3, 4, 59)},
		"oauth2 token renewed before expiry": {
			spec: "@every 24h", jitter: 5 * time.Minute, rnd: 0.5,
			expiresAt: now.Add(time.Hour), margin: 10 * time.Minute, want: at(10, 12, 50, 0),
		},
		"far expiry leaves the cron time": {
			spec: "0 3 * * *", expiresAt: at(20, 0, 0, 0), margin: 10 * time.Minute, want: at(11, 3, 0, 0),
		},
		"expiry just after cron+jitter leaves it": {
			spec: "0 3 * * *", jitter: 5 * time.Minute, rnd: 0.999,
			expiresAt: at(11, 3, 15, 0), margin: 10 * time.Minute, want: at(11, 3, 4, 59),
		},
		"expiry inside the jitter window wins": {
			spec: "0 3 * * *", jitter: 5 * time.Minute, rnd: 0.999,
			expiresAt: at(11, 3, 12, 0), margin: 10 * time.Minute, want: at(11, 3, 2, 0),
		},
		"expiry already past: floor of a minute": {
			spec: "@every 24h", expiresAt: now.Add(-time.Hour), margin: 10 * time.Minute, want: at(10, 12, 1, 0),
		},
		"expiry inside the margin: floor of a minute": {
			spec: "@every 24h", expiresAt: now.Add(5 * time.Minute), margin: 10 * time.Minute, want: at(10, 12, 1, 0),
		},
		"zero margin renews at expiry": {
			spec: "@every 24h", expiresAt: at(10, 18, 0, 0), want: at(10, 18, 0, 0),
		},
		"never-firing spec without expiry": {spec: "0 0 30 2 *", want: time.Time{}},
		"never-firing spec with expiry": {
			spec: "0 0 30 2 *", expiresAt: at(10, 14, 0, 0), margin: 10 * time.Minute, want: at(10, 13, 50, 0),
		},
		"cron in another zone": {spec: "CRON_TZ=Asia/Tokyo 0 3 * * *", want: at(10, 18, 0, 0)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rndCalls := 0
			rnd := func() float64 { rndCalls++; return tc.rnd }
			got := scheduler.NextRun(now, mustParse(t, tc.spec), tc.jitter, tc.expiresAt, tc.margin, rnd)
			if !got.Equal(tc.want) {
				t.Errorf("NextRun = %v, want %v", got, tc.want)
			}
			if tc.jitter == 0 && rndCalls != 0 {
				t.Errorf("rand called %d times without jitter", rndCalls)
			}
		})
	}
}

// TestNextRunJitterBounds checks both ends of the jitter window across
// schedules: never before the cron time, always before cron time + jitter.
func TestNextRunJitterBounds(t *testing.T) {
	now := time.Date(2026, 7, 1, 8, 17, 42, 0, time.UTC)
	const jitter = 7 * time.Minute
	for _, spec := range []string{"@every 45m", "0 3 * * *", "*/5 * * * *", "@daily", "0 0 1 * *"} {
		sched := mustParse(t, spec)
		base := sched.Next(now)
		for _, r := range []float64{0, 0.999} {
			got := scheduler.NextRun(now, sched, jitter, time.Time{}, 0, constRand(r))
			if got.Before(base) || !got.Before(base.Add(jitter)) {
				t.Errorf("%s, rand %v: NextRun = %v, want in [%v, %v)", spec, r, got, base, base.Add(jitter))
			}
			if r == 0 && !got.Equal(base) {
				t.Errorf("%s, rand 0: NextRun = %v, want exactly %v", spec, got, base)
			}
			if r == 0.999 && got.Sub(base) < jitter-time.Second {
				t.Errorf("%s, rand 0.999: NextRun = %v, want within a second of %v", spec, got, base.Add(jitter))
			}
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	def := scheduler.Retry{Attempts: 5, InitialBackoff: 2 * time.Second, MaxBackoff: 2 * time.Minute}
	tests := map[string]struct {
		retry   scheduler.Retry
		attempt int
		rnd     float64
		want    time.Duration
	}{
		"first, low jitter":         {def, 1, 0, time.Second},
		"first, high jitter":        {def, 1, 0.5, 1500 * time.Millisecond},
		"doubles":                   {def, 2, 0, 2 * time.Second},
		"doubles again":             {def, 3, 0, 4 * time.Second},
		"capped at max":             {def, 8, 0, time.Minute},
		"capped, top of jitter":     {def, 8, 0.999, 119_940 * time.Millisecond},
		"huge attempt, no overflow": {def, 1000, 0, time.Minute},
		"zero fields take defaults": {scheduler.Retry{}, 1, 0, time.Second},
		"default max applies":       {scheduler.Retry{InitialBackoff: time.Minute}, 5, 0, time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.retry.Backoff(tc.attempt, constRand(tc.rnd)); got != tc.want {
				t.Errorf("Backoff(%d) = %v, want %v", tc.attempt, got, tc.want)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	if scheduler.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	p := scheduler.Permanent(io.EOF)
	wrapped := fmt.Errorf("patch datasource: %w", p)
	tests := map[string]struct {
		err  error
		want bool
	}{
		"plain":            {io.EOF, false},
		"nil":              {nil, false},
		"permanent":        {p, true},
		"wrapped":          {wrapped, true},
		"joined with more": {errors.Join(io.ErrUnexpectedEOF, wrapped), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := scheduler.IsPermanent(tc.err); got != tc.want {
				t.Errorf("IsPermanent = %v, want %v", got, tc.want)
			}
		})
	}
	if !errors.Is(wrapped, io.EOF) {
		t.Error("Permanent hides the wrapped error from errors.Is")
	}
	if p.Error() != io.EOF.Error() {
		t.Errorf("Permanent changed the message to %q", p.Error())
	}
}
