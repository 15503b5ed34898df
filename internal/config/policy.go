package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/rotatord/rotatord/internal/scheduler"
)

var (
	// policyKeys are the keys defaults: holds; every one of them may also be
	// set on a data source, which wins.
	policyKeys      = []string{"schedule", "jitter", "privacy_level", "encrypted_connection", "retry", "skip_unchanged", "prune", "verify", "rollback", "verify_every"}
	retryKeys       = []string{"attempts", "initial_backoff", "max_backoff"}
	privacyLevels   = []string{"None", "Public", "Organizational", "Private"}
	connectionModes = []string{"Encrypted", "NotEncrypted"}
)

// opt is a setting and where it was set; line 0 means the built-in default.
type opt[T any] struct {
	v    T
	line int
	path string
	set  bool
}

func (o opt[T]) or(base opt[T]) opt[T] {
	if o.set {
		return o
	}
	return base
}

func set[T any](v T, e entry) opt[T] { return opt[T]{v: v, line: e.key.Line, path: e.path, set: true} }

// policy is the part of a data source that defaults: can set for all.
// Keeping it in one type means defaults are applied in exactly one place:
// builtin, then defaults:, then the data source, each over the last.
type policy struct {
	schedule            opt[string]
	jitter              opt[time.Duration]
	privacyLevel        opt[string]
	encryptedConnection opt[string]
	attempts            opt[int]
	initialBackoff      opt[time.Duration]
	maxBackoff          opt[time.Duration]
	skipUnchanged       opt[bool]
	prune               opt[bool]
	verify              opt[bool]
	rollback            opt[bool]
	verifyEvery         opt[time.Duration]
}

func builtinPolicy() policy {
	return policy{
		schedule:            opt[string]{v: "@every 24h", set: true},
		jitter:              opt[time.Duration]{v: 5 * time.Minute, set: true},
		privacyLevel:        opt[string]{v: "Organizational", set: true},
		encryptedConnection: opt[string]{v: "Encrypted", set: true},
		attempts:            opt[int]{v: scheduler.DefaultAttempts, set: true},
		initialBackoff:      opt[time.Duration]{v: scheduler.DefaultInitialBackoff, set: true},
		maxBackoff:          opt[time.Duration]{v: scheduler.DefaultMaxBackoff, set: true},
		skipUnchanged:       opt[bool]{set: true},
		prune:               opt[bool]{set: true},
		verify:              opt[bool]{v: true, set: true},
		rollback:            opt[bool]{set: true},
		verifyEvery:         opt[time.Duration]{set: true},
	}
}

// over returns p with every unset setting taken from base.
func (p policy) over(base policy) policy {
	return policy{
		schedule:            p.schedule.or(base.schedule),
		jitter:              p.jitter.or(base.jitter),
		privacyLevel:        p.privacyLevel.or(base.privacyLevel),
		encryptedConnection: p.encryptedConnection.or(base.encryptedConnection),
		attempts:            p.attempts.or(base.attempts),
		initialBackoff:      p.initialBackoff.or(base.initialBackoff),
		maxBackoff:          p.maxBackoff.or(base.maxBackoff),
		skipUnchanged:       p.skipUnchanged.or(base.skipUnchanged),
		prune:               p.prune.or(base.prune),
		verify:              p.verify.or(base.verify),
		rollback:            p.rollback.or(base.rollback),
		verifyEvery:         p.verifyEvery.or(base.verifyEvery),
	}
}

// policy reads the policy keys of m; invalid values stay unset so the
// default shows through and no second error follows from the first.
func (p *parser) policy(m mapping) policy {
	var pol policy
	if e, ok := m.get("schedule"); ok {
		if s, ok := p.schedule(e); ok {
			pol.schedule = set(s, e)
		}
	}
	if e, ok := m.get("jitter"); ok {
		if d, ok := p.duration(e, 0); ok {
			pol.jitter = set(d, e)
		}
	}
	if e, ok := m.get("privacy_level"); ok {
		if s, ok := p.enum(e, privacyLevels...); ok {
			pol.privacyLevel = set(s, e)
		}
	}
	if e, ok := m.get("encrypted_connection"); ok {
		if s, ok := p.enum(e, connectionModes...); ok {
			pol.encryptedConnection = set(s, e)
		}
	}
	for _, b := range []struct {
		key string
		dst *opt[bool]
	}{{"skip_unchanged", &pol.skipUnchanged}, {"prune", &pol.prune}, {"verify", &pol.verify}, {"rollback", &pol.rollback}} {
		if e, ok := m.get(b.key); ok {
			if v, ok := p.boolean(e); ok {
				*b.dst = set(v, e)
			}
		}
	}
	if e, ok := m.get("verify_every"); ok {
		if d, ok := p.verifyEvery(e); ok {
			pol.verifyEvery = set(d, e)
		}
	}
	if e, ok := m.get("retry"); ok {
		r, _ := p.mapping(e.val, e.path, e.key.Line, retryKeys...)
		if e, ok := r.get("attempts"); ok {
			if n, ok := p.integer(e); ok {
				if n < 1 {
					p.errorf(e.val.Line, "%s: must be at least 1, got %d", e.path, n)
				} else {
					pol.attempts = set(n, e)
				}
			}
		}
		if e, ok := r.get("initial_backoff"); ok {
			if d, ok := p.duration(e, time.Millisecond); ok {
				pol.initialBackoff = set(d, e)
			}
		}
		if e, ok := r.get("max_backoff"); ok {
			if d, ok := p.duration(e, time.Millisecond); ok {
				pol.maxBackoff = set(d, e)
			}
		}
	}
	return pol
}

// checkRetry reports a merged retry whose backoff starts above its cap, at
// whichever of the two was written last in the file.
func (p *parser) checkRetry(pol policy) bool {
	in, max := pol.initialBackoff, pol.maxBackoff
	if in.v <= max.v {
		return true
	}
	at := max
	if in.line > max.line {
		at = in
	}
	p.errorf(at.line, "%s: initial_backoff %s (%s) is longer than max_backoff %s (%s)", at.path, in.v, origin(in), max.v, origin(max))
	return false
}

// origin says where a merged setting came from, for messages about two
// settings that may live in different places.
func origin[T any](o opt[T]) string {
	if o.line == 0 {
		return "built-in default"
	}
	return fmt.Sprintf("%s, line %d", o.path, o.line)
}

// MinVerifyEvery is the shortest verify_every: a status check makes the
// gateway open a connection to the database, which is not to be hammered.
const MinVerifyEvery = time.Minute

// verifyEvery reads verify_every: 0 turns the watch off (to override a
// default), anything else must be at least MinVerifyEvery.
func (p *parser) verifyEvery(e entry) (time.Duration, bool) {
	d, ok := p.duration(e, 0)
	if ok && d != 0 && d < MinVerifyEvery {
		p.errorf(e.val.Line, "%s: must be 0 (off) or at least %s, got %s", e.path, MinVerifyEvery, d)
		return 0, false
	}
	return d, ok
}

// schedule accepts what the scheduler's cron parser accepts. @every needs
// at least a second: cron rounds anything shorter up to one silently.
func (p *parser) schedule(e entry) (string, bool) {
	s, ok := p.required(e)
	if !ok {
		return "", false
	}
	// The scheduler's own rule, so that what passes here is what runs.
	switch err := scheduler.CheckSchedule(s); {
	case errors.Is(err, scheduler.ErrNeverFires):
		p.errorf(e.val.Line, "%s: %s never fires: no year has that date (February has 29 days at most; April, June, September and November 30)", e.path, quote(s))
		return "", false
	case err != nil:
		p.errorf(e.val.Line, "%s: %s does not parse (%v); write 5 cron fields like \"0 3 * * *\", @hourly, @daily or @every 45m", e.path, quote(s), err)
		return "", false
	}
	const every = "@every "
	if len(s) > len(every) && s[:len(every)] == every {
		if d, err := time.ParseDuration(s[len(every):]); err == nil && d < time.Second {
			p.errorf(e.val.Line, "%s: %s is shorter than 1s", e.path, quote(s))
			return "", false
		}
	}
	return s, true
}
