package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/internal/limit"
	"github.com/rotatord/rotatord/internal/metrics"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/rotate"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/sources"
	"github.com/rotatord/rotatord/internal/state"
	"github.com/rotatord/rotatord/internal/wire"
)

// Options are what the command line injects into the daemon.
type Options struct {
	Logger        *slog.Logger
	Transport     policy.Transporter          // for every Azure and Power BI client; nil: the default
	LookupEnv     func(string) (string, bool) // nil: os.LookupEnv
	Clock         clock.Clock                 // nil: the real clock
	Registry      *prometheus.Registry        // nil: a new one
	Version       string
	Revision      string
	WebConfigFile string             // exporter-toolkit web config for the listener
	Notify        func(state string) // systemd notification (READY=1, STOPPING=1); nil: none
	Reload        <-chan struct{}    // SIGHUP
	ReloadPoll    time.Duration      // how often the config file is checked for changes; default 5s
	StopTimeout   time.Duration      // how long in-flight rotations may finish after a stop; default 30s
	RotateAtStart bool               // rotate every data source at start, not only OAuth2 ones (demo)
	// ReadOnly opens the state file with state.OpenReadOnly, for Plan: it
	// needs no state directory, takes no lock and writes nothing. Not for
	// Run or Once, whose state then cannot be saved.
	ReadOnly bool
	// NoState reads no state file at all (state.Empty), for Discover,
	// which uses none: its user may not be allowed to read rotatord's.
	NoState bool
	// Identity names this process in the lease blob and the log lines of
	// ha:; "" is HOSTNAME/PID (the pod's name on Kubernetes).
	Identity string
}

// Daemon is rotatord assembled from one configuration.
type Daemon struct {
	o     Options
	log   *slog.Logger
	cfg   atomic.Pointer[config.Config]
	cred  azcore.TokenCredential
	state *state.Store
	pool  *cipher.Pool
	pbi   *pbi.Client
	fab   *fabric.Client
	// kvTransport is shared by every vault's client, across reloads: the
	// bound is on Key Vault as a whole.
	kvTransport *limit.Transport
	metrics     *metrics.Metrics
	rot         *rotate.Rotator
	sched       *scheduler.Scheduler
	// watcher runs the verify_every checks, apart from the rotations that
	// sched runs; busy keeps the two off one data source at once.
	watcher *scheduler.Scheduler
	busy    busy
	ready   atomic.Bool
	dirty   chan struct{} // state changed since the last save
	// rediscover wakes the drift loop when a reload changed what it
	// compares or how often.
	rediscover chan struct{}
	// elector campaigns for the lease of ha:; nil without it, when this
	// process leads from the start.
	elector *leader.Elector
	// term is the lease term being led; nil without ha:, and between
	// terms (when no scheduler runs).
	term atomic.Pointer[leader.Term]
}

// New builds the daemon's parts from cfg. It starts nothing, but holds the
// state file's lock (unless ReadOnly) until Close.
func New(cfg *config.Config, o Options) (_ *Daemon, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.ReloadPoll <= 0 {
		o.ReloadPoll = 5 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = scheduler.DefaultStopTimeout
	}
	switch c := o.Transport.(type) {
	case nil:
		// One client for Power BI, Key Vault and Entra, keeping an idle
		// connection per worker: bursts of rotations then reuse TLS sessions.
		o.Transport = wire.NewClient(workers(cfg))
	case *http.Client:
		// A given client (the demo's, trusting the emulators) must refuse
		// redirects off the host like the default one.
		o.Transport = wire.KeepOrigin(c)
	}
	// Which process sent a request, in the User-Agent: for a service's
	// request logs, and for the HA tests, which check that two processes
	// never PATCH one data source at once.
	o.Transport = wire.Comment(o.Transport, fmt.Sprintf("rotatord; pid %d", os.Getpid()))
	d := &Daemon{o: o, log: o.Logger, dirty: make(chan struct{}, 1), rediscover: make(chan struct{}, 1)}
	d.cfg.Store(cfg)

	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = fmt.Sprintf("%s/%d", host, os.Getpid())
		d.o.Identity = o.Identity
	}
	// The errors of the parts below name their subject (state file ...,
	// auth..., pbi: ..., scheduler: ...); each is returned prefixed with
	// FILE:LINE of the setting it refuses, as check reports its problems,
	// or with FILE alone for a default or a part no setting drives.
	//
	// Each service gets its own max_concurrency slots: a tick storm of
	// Key Vault-backed data sources held thousands of sockets when only
	// Power BI was bounded, and a slow service cannot take the others' slots.
	d.kvTransport = limit.NewTransport(o.Transport, cfg.PowerBI.MaxConcurrency)
	d.cred, err = sources.NewCredential(sources.AuthOptions{
		Method:           cfg.Auth.Method,
		TenantID:         cfg.Auth.TenantID,
		ClientID:         cfg.Auth.ClientID,
		ClientSecretFile: cfg.Auth.ClientSecretFile,
		AuthorityHost:    cfg.Auth.AuthorityHost,
		Transport:        limit.NewTransport(o.Transport, cfg.PowerBI.MaxConcurrency),
	})
	if err != nil {
		line := cfg.Lines.Auth
		if se := (*sources.Error)(nil); errors.As(err, &se) && se.Source == sources.SourceFile && cfg.Lines.ClientSecretFile > 0 {
			line = cfg.Lines.ClientSecretFile // the only file the credential reads
		}
		return nil, cfg.At(line, err)
	}
	if err := d.openState(cfg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.state.Close() // a daemon that is not made must not keep the lock
		}
	}()
	if cfg.HA.Enabled() {
		lock, err := leader.NewBlobLock(cfg.HA.LeaseBlob, d.cred, leader.BlobOptions{
			Transport: limit.NewTransport(o.Transport, cfg.PowerBI.MaxConcurrency),
			Identity:  o.Identity,
			Duration:  cfg.HA.LeaseDuration,
		})
		if err != nil {
			return nil, cfg.At(cfg.Lines.HA, err)
		}
		d.elector = leader.New(leader.Options{
			Lock:     lock,
			Duration: cfg.HA.LeaseDuration,
			Identity: o.Identity,
			Clock:    o.Clock,
			Logger:   o.Logger,
			OnChange: func(leading bool) { d.metrics.Leading(leading) },
		})
	}
	d.pool = cipher.NewPool(0)
	d.metrics, err = metrics.New(metrics.Options{
		Registerer: o.Registry,
		Clock:      o.Clock,
		States:     d.states,
		Encrypt:    d.pool,
		Version:    o.Version,
		Revision:   o.Revision,
		Standby:    cfg.HA.Enabled(),
	})
	if err != nil {
		return nil, cfg.At(0, err)
	}
	d.pbi, err = pbi.New(pbi.Options{
		APIURL:     cfg.PowerBI.APIURL,
		Scope:      cfg.PowerBI.Scope,
		Credential: d.cred,
		Transport:  limit.NewTransport(o.Transport, cfg.PowerBI.MaxConcurrency),
		OnResponse: d.metrics.PowerBIRequest,
		Clock:      o.Clock,
	})
	if err != nil {
		return nil, cfg.At(0, err) // config has checked api_url alike
	}
	d.fab, err = fabric.New(fabric.Options{
		APIURL:     cfg.Fabric.APIURL,
		Scope:      cfg.Fabric.Scope,
		Credential: d.cred,
		Transport:  limit.NewTransport(o.Transport, cfg.Fabric.MaxConcurrency),
		// One counter for both APIs: Fabric's operation ids differ from
		// Power BI's, so the operation label tells them apart.
		OnResponse: d.metrics.PowerBIRequest,
		Clock:      o.Clock,
	})
	if err != nil {
		return nil, cfg.At(0, err) // config has checked api_url alike
	}
	srcs, err := d.sources(cfg, &rotate.Sources{})
	if err != nil {
		return nil, err
	}
	d.rot = rotate.New(rotate.Options{
		PowerBI:  d.pbi,
		Fabric:   d.fab,
		Self:     sources.Self(d.cred, cfg.Fabric.Scope),
		Pool:     d.pool,
		Sources:  srcs,
		Pushed:   d.pushed,
		Verified: d.verified,
		Logger:   o.Logger.With("component", "rotate"),
		Clock:    o.Clock,
	})
	d.sched = scheduler.New(scheduler.Options{
		Clock:       o.Clock,
		Logger:      o.Logger,
		OnTick:      d.record,
		StopTimeout: o.StopTimeout,
		// As many ticks as Once runs at once: more would only queue on the
		// transports' slots, each with a goroutine and a tick context.
		MaxRunning: workers(cfg),
		Admit:      d.leading,
	})
	d.watcher = scheduler.New(scheduler.Options{
		Clock:       o.Clock,
		Logger:      o.Logger.With("component", "watch"),
		OnTick:      d.recordCheck,
		StopTimeout: o.StopTimeout,
		// One pool with the rotations in spirit: the checks' calls take
		// the same Power BI slots, which bound them.
		MaxRunning: workers(cfg),
		Admit:      d.leading,
	})
	if err := d.setJobs(cfg); err != nil {
		return nil, cfg.At(0, err) // config has checked every job's settings alike
	}
	d.declare(cfg)
	return d, nil
}

// openState opens the state file or the state blob, as cfg says. A state
// blob is read by LoadState: the commands do that when they start, and a
// new leader at every take-over.
func (d *Daemon) openState(cfg *config.Config) (err error) {
	o := state.Options{Logger: d.o.Logger, Clock: d.o.Clock}
	switch {
	case d.o.NoState:
		d.state = state.Empty(o)
	case cfg.StateBlob != "":
		d.state, err = state.OpenBlob(cfg.StateBlob, d.cred, state.BlobOptions{
			Logger: d.o.Logger, Clock: d.o.Clock, ReadOnly: d.o.ReadOnly,
			Transport: limit.NewTransport(d.o.Transport, cfg.PowerBI.MaxConcurrency),
		})
		if err != nil {
			return cfg.At(cfg.Lines.StateBlob, err)
		}
	case d.o.ReadOnly:
		d.state, err = state.OpenReadOnly(cfg.StateFile, o)
	default:
		d.state, err = state.Open(cfg.StateFile, o)
	}
	if err != nil {
		return cfg.At(cfg.Lines.StateFile, err)
	}
	return nil
}

// LoadState reads the state blob, within ctx; the state file has been read
// by New.
func (d *Daemon) LoadState(ctx context.Context) error {
	if err := d.state.Load(ctx); err != nil {
		cfg := d.cfg.Load()
		return cfg.At(cfg.Lines.StateBlob, err)
	}
	return nil
}

// leading reports whether ticks may start: always without ha:, and with
// it while this process's lease term is valid.
func (d *Daemon) leading() bool {
	if d.elector == nil {
		return true
	}
	t := d.term.Load()
	return t != nil && t.Valid()
}

// bound returns ctx, cancelled too when the lease term the tick started in
// may have passed to another process: a PATCH must not outlive the lease.
func (d *Daemon) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	t := d.term.Load()
	if t == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(t.Work(), func() { cancel(errors.New("the lease may have passed to another rotatord")) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// Close releases the state file's lock. Call it after Run or Once has
// returned, which have written the state.
func (d *Daemon) Close() error { return d.state.Close() }

// declare creates every data source's counters at zero.
func (d *Daemon) declare(cfg *config.Config) {
	for _, ds := range cfg.Datasources {
		d.metrics.Declare(ds.Name, string(ds.CredentialType))
	}
}

// sources builds the Key Vault clients the inventory names.
// A vault a reload keeps keeps its client, which has already paid Key
// Vault's challenge round trip and holds a token.
func (d *Daemon) sources(cfg *config.Config, prev *rotate.Sources) (*rotate.Sources, error) {
	s := &rotate.Sources{
		KeyVaults:  make(map[string]rotate.KeyVault, len(cfg.KeyVaults)),
		Credential: d.cred,
		LookupEnv:  d.o.LookupEnv,
	}
	for name, url := range cfg.KeyVaults {
		if old, ok := prev.KeyVaults[name]; ok && old.URL() == url {
			s.KeyVaults[name] = old
			continue
		}
		kv, err := sources.NewKeyVault(url, d.cred, sources.KeyVaultOptions{Transport: d.kvTransport, Clock: d.o.Clock})
		if err != nil {
			return nil, cfg.At(cfg.Lines.KeyVaults[name], err) // it names the vault by its URL
		}
		s.KeyVaults[name] = kv
	}
	return s, nil
}

// jobs turns the inventory into scheduler jobs. A job looks its data source
// up by name at every tick, so a reload that edits a data source takes
// effect at its next tick.
func (d *Daemon) jobs(cfg *config.Config) []scheduler.Job {
	jobs := make([]scheduler.Job, 0, len(cfg.Datasources))
	for _, ds := range cfg.Datasources {
		name := ds.Name
		jobs = append(jobs, scheduler.Job{
			Name:     name,
			Schedule: ds.Schedule,
			Jitter:   ds.Jitter,
			// Power BI keeps no refresh token: an OAuth2 credential is dead an
			// hour after it was set, so it is renewed as soon as rotatord starts.
			RunAtStart: ds.CredentialType == credentials.OAuth2 || d.o.RotateAtStart,
			Retry:      ds.Retry,
			Run: func(ctx context.Context) (scheduler.Result, error) {
				return d.rotate(ctx, name)
			},
		})
	}
	return jobs
}

// setJobs schedules cfg's rotations and verify_every checks.
func (d *Daemon) setJobs(cfg *config.Config) error {
	if err := d.sched.SetJobs(d.jobs(cfg)); err != nil {
		return err
	}
	return d.watcher.SetJobs(d.watchJobs(cfg))
}

// datasource returns the data source called name in the current inventory.
func (d *Daemon) datasource(name string) (config.Datasource, bool) {
	return d.cfg.Load().Datasource(name)
}

// rotate is one attempt at one data source, as the scheduler runs it. It
// records nothing: the attempt's rotate.Result travels in the scheduler's
// Report to record, at the end of the tick.
func (d *Daemon) rotate(ctx context.Context, name string) (scheduler.Result, error) {
	ds, ok := d.datasource(name)
	if !ok {
		return scheduler.Result{}, scheduler.Permanent(fmt.Errorf("datasource %q left the inventory", name))
	}
	ctx, unbind := d.bound(ctx)
	defer unbind()
	release, err := d.busy.acquire(ctx, name) // a watch check in flight ends first
	if err != nil {
		return scheduler.Result{}, scheduler.Permanent(err)
	}
	res, err := d.rot.Rotate(ctx, ds)
	release()
	if err != nil {
		var re *rotate.Error
		if !errors.As(err, &re) || !re.Retryable() {
			err = scheduler.Permanent(err)
		}
		return scheduler.Result{Report: res}, err
	}
	return scheduler.Result{ExpiresAt: res.ExpiresAt, Report: res}, nil
}

// forget drops what metrics and the rotator hold for a data source that
// left the inventory.
func (d *Daemon) forget(name string) {
	d.metrics.Forget(name)
	d.rot.Forget(name)
}

// states reports every data source's state to the metrics at scrape time.
func (d *Daemon) states() []metrics.DatasourceState {
	cfg := d.cfg.Load()
	out := make([]metrics.DatasourceState, 0, len(cfg.Datasources))
	for _, ds := range cfg.Datasources {
		st, _ := d.state.Get(ds.Name)
		out = append(out, metrics.DatasourceState{
			Name:            ds.Name,
			LastSuccess:     st.LastSuccess,
			CredentialSetAt: st.CredentialSetAt,
			ExpiresAt:       st.ExpiresAt,
			NextRotation:    d.sched.Next(ds.Name),
			UsersDrift:      d.rot.UsersDrift(ds.Name),
			LastVerify:      st.LastVerify,
			Verified:        st.Verified,
		})
	}
	return out
}

// saveState writes the state within ctx, logging rather than failing: a rotation
// that happened is not undone by a full disk. A state blob another process
// wrote since this one read it is not overwritten: that process leads, and
// this one must stop.
func (d *Daemon) saveState(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := d.state.SaveContext(ctx)
	var ce *state.ConflictError
	switch {
	case errors.As(err, &ce):
		d.log.Error("state not written: another rotatord took over; standing by", "error", err.Error())
		if t := d.term.Load(); t != nil {
			t.Stop(err)
		}
	case err != nil && d.cfg.Load().StateBlob != "":
		d.log.Error("state blob not written", "error", err.Error())
	case err != nil:
		d.log.Error("state file not written", "path", d.cfg.Load().StateFile, "error", err.Error())
	}
}
