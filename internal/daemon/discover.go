package daemon

import (
	"context"
	"time"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/discover"
	"github.com/rotatord/rotatord/internal/sources"
)

// Discover lists the estate o asks for with the daemon's identity, its
// calls bounded by powerbi.max_concurrency like every other Power BI call,
// and, unless o names another lister, the Fabric connections through the
// daemon's Fabric client (bounded by fabric.max_concurrency) when the
// inventory uses Fabric (config.UsesFabric). When Fabric is asked and o
// names no Self, Self is the object id of the daemon's identity, from a
// token for Fabric's scope; one that cannot be had leaves it unknown. It
// has as many calls under way as Once has rotations: more than the
// transport lets through, so that one waiting out a Retry-After, which
// holds no slot, leaves none idle.
func (d *Daemon) Discover(ctx context.Context, o discover.Options) *discover.Estate {
	cfg := d.cfg.Load()
	if o.Workers <= 0 {
		o.Workers = workers(cfg)
	}
	if o.Connections == nil && cfg.UsesFabric() {
		o.Connections = d.fab
	}
	if o.Connections != nil && o.Self == "" {
		if id, err := sources.Self(d.cred, cfg.Fabric.Scope)(ctx); err == nil {
			o.Self = id
		}
	}
	return discover.Discover(ctx, d.pbi, o)
}

// DiscoverOptions are the discovery options of cfg: its discover_gateways
// and discover_workspaces unless gateways or workspaces name others, and, as
// Known and KnownConnections, its data sources and connections, which a
// diff looks up one by one where no listing covers them (a plain listing
// drops both).
func DiscoverOptions(cfg *config.Config, gateways, workspaces []string) discover.Options {
	if len(gateways) == 0 {
		gateways = cfg.Discover.Gateways
	}
	if len(workspaces) == 0 {
		workspaces = cfg.Discover.Workspaces
	}
	known := make([]discover.Pair, 0, len(cfg.Datasources))
	var conns []string
	for _, ds := range cfg.Datasources {
		if ds.Fabric() {
			conns = append(conns, ds.ConnectionID)
		} else {
			known = append(known, discover.Pair{GatewayID: ds.GatewayID, DatasourceID: ds.DatasourceID})
		}
	}
	return discover.Options{Gateways: gateways, Workspaces: workspaces, Known: known, KnownConnections: conns}
}

// driftLoop compares the estate with the inventory every discover_every,
// the first time at start, and exports the drift. A reload that changes the
// discover_* settings compares at once, then every new period; with
// discover_every 0 the loop only waits for such a reload.
func (d *Daemon) driftLoop(ctx context.Context) {
	wait := time.Duration(0)
	for {
		var due <-chan time.Time
		var t clock.Timer
		if d.cfg.Load().Discover.Every > 0 {
			t = d.o.Clock.NewTimer(wait)
			due = t.C()
		}
		select {
		case <-ctx.Done():
			stopTimer(t)
			return
		case <-d.rediscover:
			stopTimer(t)
			wait = 0
			continue
		case <-due:
		}
		cfg := d.cfg.Load()
		if cfg.Discover.Every <= 0 {
			continue
		}
		d.checkDrift(ctx, cfg)
		wait = cfg.Discover.Every
	}
}

func stopTimer(t clock.Timer) {
	if t != nil {
		t.Stop()
	}
}

// checkDrift runs one comparison: metrics, and a log line per drift.
func (d *Daemon) checkDrift(ctx context.Context, cfg *config.Config) {
	start := d.o.Clock.Now()
	e := d.Discover(ctx, DiscoverOptions(cfg, nil, nil))
	if ctx.Err() != nil {
		return // stopping: a cut-short listing says nothing
	}
	r := discover.Diff(e, cfg)
	d.metrics.DiscoveryDone(d.o.Clock.Now(), r.Counts(), e.Complete())
	log := d.log.With("component", "discover")
	for _, x := range r.Drift {
		log.Warn("inventory drift", "kind", x.Kind, "datasource", x.Name, "gateway_id", x.GatewayID, "datasource_id", x.DatasourceID,
			"connection_id", x.ConnectionID, "detail", x.Detail)
	}
	for _, p := range r.Problems {
		log.Warn("discovery could not read", "error", p)
	}
	attrs := []any{"duration", d.o.Clock.Now().Sub(start).Round(time.Millisecond), "datasources", len(e.Datasources),
		"connections", len(e.Connections), "complete", e.Complete()}
	counts := r.Counts()
	for _, kind := range discover.Kinds() {
		attrs = append(attrs, kind, counts[kind])
	}
	log.Info("discovery", attrs...)
}
