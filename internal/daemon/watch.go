package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/rotate"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/state"
)

// busy keeps a data source's rotation and its watch check apart: a check
// during a rotation would judge a credential half pushed.
type busy struct {
	mu   sync.Mutex
	held map[string]chan struct{} // by data source; closed when released
}

// acquire waits until name is free and takes it.
func (b *busy) acquire(ctx context.Context, name string) (release func(), err error) {
	for {
		release, wait := b.take(name)
		if release != nil {
			return release, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take takes name if it is free; else it returns a channel closed when it is.
func (b *busy) take(name string) (release func(), wait <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.held[name]; ok {
		return nil, ch
	}
	if b.held == nil {
		b.held = make(map[string]chan struct{})
	}
	ch := make(chan struct{})
	b.held[name] = ch
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.held, name)
		close(ch)
	}, nil
}

// watchJobs are the status checks verify_every asks for between
// rotations, one job per data source that verifies and sets it.
func (d *Daemon) watchJobs(cfg *config.Config) []scheduler.Job {
	var jobs []scheduler.Job
	for _, ds := range cfg.Datasources {
		if !ds.Verify || ds.VerifyEvery <= 0 {
			continue
		}
		name := ds.Name
		jobs = append(jobs, scheduler.Job{
			Name:     name,
			Schedule: fmt.Sprintf("@every %s", ds.VerifyEvery),
			// A tenth of the period at most: checks spread out, yet come
			// about as often as asked.
			Jitter: min(ds.Jitter, ds.VerifyEvery/10),
			Retry:  ds.Retry, // the status call's 429s and 5xx spend it
			Run: func(ctx context.Context) (scheduler.Result, error) {
				return d.watch(ctx, name)
			},
		})
	}
	return jobs
}

// watchSkipped is the Report of a check skipped for a rotation in flight,
// which checks the credential itself.
type watchSkipped struct{}

// watch is one status check between rotations.
func (d *Daemon) watch(ctx context.Context, name string) (scheduler.Result, error) {
	ds, ok := d.datasource(name)
	if !ok {
		return scheduler.Result{}, scheduler.Permanent(fmt.Errorf("datasource %q left the inventory", name))
	}
	ctx, unbind := d.bound(ctx) // a rollback PATCHes too
	defer unbind()
	release, _ := d.busy.take(name)
	if release == nil {
		return scheduler.Result{Report: watchSkipped{}}, nil
	}
	defer release()
	c := d.rot.Check(ctx, ds)
	// The status call has spent the tick's retries itself; running the
	// check again would only repeat them.
	return scheduler.Result{Report: c}, scheduler.Permanent(c.Err)
}

// recordCheck is the watch's record: the state and the "verification" log
// line of one check.
func (d *Daemon) recordCheck(r scheduler.TickReport) {
	if _, ok := d.datasource(r.Job); !ok || len(r.Reports) == 0 {
		return
	}
	switch c := r.Reports[len(r.Reports)-1].(type) {
	case watchSkipped:
		d.log.Debug("verification skipped: a rotation is running", "datasource", r.Job)
	case rotate.Check:
		if c.Says() {
			d.state.Update(r.Job, func(s *state.Datasource) { noteCheck(s, c) })
			d.markDirty()
		}
		attrs := []any{"datasource", r.Job, "duration", r.End.Sub(r.Start).Round(time.Millisecond), "next", r.Next.UTC().Format(time.RFC3339)}
		switch {
		case c.Connected():
			d.log.Info("verification", append(attrs, "result", "connected")...)
		case c.Conclusive():
			d.log.Error("verification", append(attrs, "result", "failure", "reason", c.Reason, "error", c.Err.Error())...)
		default:
			d.log.Warn("verification", append(attrs, "result", "unknown", "reason", c.Reason, "error", c.Err.Error())...)
		}
	}
}

// noteCheck writes what a check says into a data source's state record,
// for a rotation's verify stage and a watch check alike; one that says
// nothing changes nothing.
func noteCheck(s *state.Datasource, c rotate.Check) {
	if c.Says() {
		s.LastVerify, s.Verified = c.At, c.Connected()
	}
}

// verified returns the source version the state records as pushed and
// verified, for rotate's rollback.
func (d *Daemon) verified(name string) (string, bool) {
	st, ok := d.state.Get(name)
	return st.VerifiedVersion, ok && st.VerifiedVersion != ""
}
