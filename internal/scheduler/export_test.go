package scheduler

import (
	"sort"
	"time"

	"github.com/robfig/cron/v3"
)

// JobState is what the tests see of one job.
type JobState struct {
	Name      string
	Next      time.Time // zero before Run; while running, provisional until the tick ends
	ExpiresAt time.Time // from the last successful Result
}

// Snapshot returns the state of every job, sorted by name.
func (s *Scheduler) Snapshot() []JobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobState, 0, len(s.jobs))
	for name, e := range s.jobs {
		if e.removed {
			continue
		}
		out = append(out, JobState{Name: name, Next: e.next, ExpiresAt: e.expiresAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Waiting returns how many jobs are due but not running: held back by
// Options.MaxRunning.
func (s *Scheduler) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	n := 0
	for _, e := range s.jobs {
		if !e.running && !e.next.IsZero() && !e.next.After(now) {
			n++
		}
	}
	return n
}

// ParseSchedule parses spec in the scheduler's dialect, for tests of NextRun.
func ParseSchedule(spec string) (cron.Schedule, error) { return parser.Parse(spec) }
