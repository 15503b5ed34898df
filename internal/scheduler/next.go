package scheduler

import (
	"time"

	"github.com/robfig/cron/v3"
)

// DefaultExpiryMargin is how long before a reported expiry a job runs again
// when Job.ExpiryMargin is zero. No tick runs longer than its margin (see
// TickTimeout), so a tick renewing an OAuth2 token ends, retries and all,
// before the token it replaces dies.
const DefaultExpiryMargin = 10 * time.Minute

// RenewFloor is the shortest delay NextRun picks because of an expiry. When
// the expiry minus the margin is already past (a source handed out a secret
// that is about to expire, or a tick failed until too late), running again at
// once would hammer Entra or Key Vault in a tight loop; a minute keeps trying
// soon without doing that.
const RenewFloor = time.Minute

// NextRun returns when a job should run next, computed at now:
//
//	min(sched.Next(now) + jitter×rnd(), max(expiresAt − margin, now + RenewFloor))
//
// truncated to the second. A zero expiresAt means nothing expires, and rnd
// must return values in [0, 1). The expiry bound is not jittered: it is a
// deadline, not a cadence. The result is truncated to the second so that it
// matches what metrics and the state file (which hold seconds) report, and
// so that runs restarted within the same second agree; the truncation moves
// a run earlier by under a second, never past an expiry bound. NextRun
// returns the zero time if the schedule never fires and nothing expires.
func NextRun(now time.Time, sched cron.Schedule, jitter time.Duration, expiresAt time.Time, margin time.Duration, rnd func() float64) time.Time {
	next := sched.Next(now)
	if !next.IsZero() && jitter > 0 {
		next = next.Add(time.Duration(rnd() * float64(jitter)))
	}
	if !expiresAt.IsZero() {
		renew := expiresAt.Add(-margin)
		if floor := now.Add(RenewFloor); renew.Before(floor) {
			renew = floor
		}
		if next.IsZero() || renew.Before(next) {
			next = renew
		}
	}
	return next.Truncate(time.Second)
}

// TickTimeout is how long a tick started at start may run, retries included:
// the schedule's period there (from its next fire to the one after), so that
// a tick is over before the next one is due, and never more than margin, the
// time a tick renewing an expiring credential has before that credential
// dies. A schedule that never fires again leaves margin.
func TickTimeout(sched cron.Schedule, start time.Time, margin time.Duration) time.Duration {
	next := sched.Next(start)
	if next.IsZero() {
		return margin
	}
	if after := sched.Next(next); !after.IsZero() {
		return min(margin, after.Sub(next))
	}
	return margin
}
