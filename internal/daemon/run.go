package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/state"
	"github.com/rotatord/rotatord/internal/web"
)

// staleAfter is how long the scheduler loop may go without a heartbeat
// before /healthz reports the daemon wedged.
const staleAfter = 5 * time.Minute

// Listen binds the metrics and health listener. Call it before Run, so that a
// port in use or a bad web config file is reported as a usage error.
// A bind failure names FILE:LINE of listen; a web config file error names
// that file, which comes from the command line.
func (d *Daemon) Listen() (*web.Server, error) {
	cfg := d.cfg.Load()
	srv, err := web.Listen(web.Options{
		Listen:        cfg.Listen,
		WebConfigFile: d.o.WebConfigFile,
		Gatherer:      d.o.Registry,
		Healthy:       d.healthy,
		Ready:         d.readyErr,
		Logger:        d.log,
	})
	// A web config error names the flag's file; anything else is the bind
	// of listen.
	if wce := (*web.ConfigError)(nil); err != nil && !errors.As(err, &wce) {
		err = cfg.At(cfg.Lines.Listen, err)
	}
	return srv, err
}

func (d *Daemon) healthy() error {
	if hb := d.sched.Heartbeat(); !hb.IsZero() && d.o.Clock.Now().Sub(hb) > staleAfter {
		return fmt.Errorf("scheduler loop silent since %s", hb.UTC().Format(time.RFC3339))
	}
	return nil
}

func (d *Daemon) readyErr() error {
	if !d.ready.Load() {
		return errors.New("scheduler not started")
	}
	return nil
}

// Run schedules every data source and serves srv until ctx is done; then it
// stops taking ticks, lets in-flight rotations finish (bounded by
// StopTimeout), writes the state and returns. Rotations cancelled at
// StopTimeout are a warning, not an error: the stop was asked for. With
// ha:, the scheduling happens only in the terms this process leads; it
// serves srv, and stands by, in between.
func (d *Daemon) Run(ctx context.Context, srv *web.Server) error {
	d.metrics.ConfigReloaded(true)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error { d.watchConfig(gctx); return nil })
	if d.elector == nil {
		g.Go(func() error { return d.lead(gctx, nil) })
	} else {
		g.Go(func() error {
			return d.elector.Run(gctx, func(t *leader.Term) {
				if err := d.lead(t.Context(), t); err != nil {
					d.log.Error("term ended with an error", "error", err.Error())
				}
			})
		})
	}
	// Ready as soon as it serves: a stand-by is a working replica too.
	d.ready.Store(true)
	d.notify("READY=1")
	d.log.Info("rotatord started", "datasources", len(d.cfg.Load().Datasources), "listen", srv.Addr(), "fips140", cipher.FIPSMode(), "ha", d.elector != nil, "identity", d.o.Identity)
	<-gctx.Done()
	d.ready.Store(false)
	d.notify("STOPPING=1")
	d.log.Info("stopping: no new rotations, waiting for those in flight", "bound", d.o.StopTimeout)
	err := g.Wait()
	switch {
	case errors.Is(err, context.Canceled):
		err = nil
	case errors.Is(err, scheduler.ErrStopTimeout):
		err = nil // lead logged it
	}
	d.log.Info("rotatord stopped")
	return err
}

// finalSave bounds the write that ends a term or a run: storage that does
// not answer must not hold a stop for long.
const finalSave = 10 * time.Second

// claimTries bounds the Load and Save that start a term: each refusal is a
// write of the previous leader's that came between the two.
const claimTries = 3

// lead runs one term: it reads the state, schedules every data source
// until ctx is done, lets in-flight rotations finish, and writes the state.
// t is the lease term, nil without ha:.
func (d *Daemon) lead(ctx context.Context, t *leader.Term) error {
	if err := d.claim(ctx, t); err != nil {
		return err
	}
	d.term.Store(t)
	defer d.term.Store(nil)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.sched.Run(gctx) })
	g.Go(func() error { return d.watcher.Run(gctx) })
	g.Go(func() error { d.saveLoop(gctx); return nil })
	g.Go(func() error { d.driftLoop(gctx); return nil })
	err := g.Wait()
	// Even past the lease: the ETag refuses it if another leader has
	// written since, and keeps the term's last rotations if none has.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalSave)
	d.saveState(fctx)
	cancel()
	if errors.Is(err, scheduler.ErrStopTimeout) {
		// The stop was asked for, and systemd counts an exit 1 after it as
		// the unit failing. The rotations cut short are already recorded
		// as failed (reason canceled) in the state, the metrics and their
		// rotation lines, and each data source rotates again at its next tick.
		d.log.Warn("stopped at the stop timeout: rotations in flight were cancelled and recorded as failed", "bound", d.o.StopTimeout)
	}
	return err
}

// claim reads the state a term starts from. With ha: it writes it back at
// once, so that the ETag the previous leader last saw is gone and any
// write of its is refused from now on.
func (d *Daemon) claim(ctx context.Context, t *leader.Term) error {
	for try := 1; ; try++ {
		if err := d.state.Load(ctx); err != nil {
			return err
		}
		if t == nil {
			return nil
		}
		err := d.state.Save()
		var ce *state.ConflictError
		if !errors.As(err, &ce) || try == claimTries {
			return err
		}
	}
}
func (d *Daemon) notify(state string) {
	if d.o.Notify != nil {
		d.o.Notify(state)
	}
}

// termWork is the context of the term being led, done when its lease may
// have passed to another process; Background without ha:.
func (d *Daemon) termWork() context.Context {
	if t := d.term.Load(); t != nil {
		return t.Work()
	}
	return context.Background()
}

// saveLoop writes the state file after ticks, at most once a second, so that
// a burst of rotations costs one write, not one each.
func (d *Daemon) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
			d.saveState(d.termWork())
		}
		t := d.o.Clock.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// watchConfig reloads on SIGHUP and when the file's content changes. The
// file is only read again when its size or modification time moved, so a
// large inventory is not re-read every poll and a bad file is refused once,
// not at every poll until it is fixed.
func (d *Daemon) watchConfig(ctx context.Context) {
	// The zero stamp makes the first poll compare content: a change made
	// between loading the file and starting to watch it is not missed.
	var seen fileStamp
	for {
		t := d.o.Clock.NewTimer(d.o.ReloadPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.o.Reload:
			t.Stop()
			seen = statFile(d.cfg.Load().Path)
			d.Reload(ctx, "signal")
		case <-t.C():
			cfg := d.cfg.Load()
			now := statFile(cfg.Path)
			if now == seen {
				continue
			}
			seen = now
			// Read as a reload reads: a swap to a FIFO or /dev/zero is
			// refused (and reported) instead of blocking or eating memory.
			data, err := config.Read(ctx, cfg.Path)
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, fs.ErrNotExist):
				// Mid-replace by an editor; the next poll sees the new file.
			case err != nil:
				d.reload("file changed", func() (*config.Config, error) { return nil, err })
			case sha256.Sum256(data) != cfg.Hash:
				d.reload("file changed", func() (*config.Config, error) { return config.Parse(cfg.Path, data) })
			}
		}
	}
}

// fileStamp is what a poll compares: a changed file (or a Kubernetes
// ConfigMap swapping its ..data link) shows a new size or time.
type fileStamp struct {
	size int64
	mod  time.Time
}

func statFile(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}
}

// Reload reads the configuration file again, giving up when ctx is done. A bad new file is refused and
// the running inventory kept. Settings that need new clients (powerbi, auth,
// listen, state_file) take effect at the next restart; this is logged.
func (d *Daemon) Reload(ctx context.Context, why string) {
	path := d.cfg.Load().Path
	d.reload(why, func() (*config.Config, error) { return config.Load(ctx, path) })
}

// reload swaps in the inventory load returns, or refuses it.
func (d *Daemon) reload(why string, load func() (*config.Config, error)) {
	old := d.cfg.Load()
	refuse := func(err error) {
		d.metrics.ConfigReloaded(false)
		d.log.Error("config reload refused, keeping the running inventory", "why", why, "path", old.Path, "error", err.Error())
	}
	cfg, err := load()
	if err != nil {
		refuse(err)
		return
	}
	if cfg.PowerBI != old.PowerBI || cfg.Auth != old.Auth || cfg.Listen != old.Listen || cfg.StateFile != old.StateFile || cfg.StateBlob != old.StateBlob || cfg.HA != old.HA {
		d.log.Warn("config reload: powerbi, auth, listen, state_file, state_blob and ha changes need a restart", "path", cfg.Path)
		cfg.PowerBI, cfg.Auth, cfg.Listen, cfg.StateFile, cfg.StateBlob, cfg.HA = old.PowerBI, old.Auth, old.Listen, old.StateFile, old.StateBlob, old.HA
	}
	oldSrcs := d.rot.Sources()
	srcs, err := d.sources(cfg, oldSrcs)
	if err != nil {
		refuse(err)
		return
	}
	d.cfg.Store(cfg)
	d.rot.SetSources(srcs)
	if err := d.setJobs(cfg); err != nil {
		d.cfg.Store(old)
		d.rot.SetSources(oldSrcs)
		refuse(err)
		return
	}
	keep := make([]string, 0, len(cfg.Datasources))
	for _, ds := range cfg.Datasources {
		keep = append(keep, ds.Name)
	}
	for _, ds := range old.Datasources {
		if _, ok := cfg.Datasource(ds.Name); !ok {
			d.forget(ds.Name)
		}
	}
	d.state.Prune(keep)
	d.declare(cfg)
	if !reflect.DeepEqual(cfg.Discover, old.Discover) {
		select { // what drifts has changed: look at once
		case d.rediscover <- struct{}{}:
		default:
		}
	}
	d.metrics.ConfigReloaded(true)
	d.log.Info("config reloaded", "why", why, "config", cfg) // path, content hash, counts: which file took effect
}
