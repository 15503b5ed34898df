package daemon

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/discover"
	"github.com/rotatord/rotatord/internal/emulator"
	rtestutil "github.com/rotatord/rotatord/internal/testutil"
)

// TestDriftLoop: with discover_every, run compares the estate with the
// inventory at start and then every period, exporting the drift by kind
// (every kind discover knows) and logging each drift.
func TestDriftLoop(t *testing.T) {
	fake := clocktest.NewFake(time.Now())
	logs := &rtestutil.SyncBuffer{}
	reg := prometheus.NewRegistry()
	dm, cfg := startDemo(t, "")
	for i := range cfg.Datasources {
		cfg.Datasources[i].Schedule = "@every 24h"
	}
	cfg.Discover.Every = time.Hour
	d, err := New(cfg, Options{Clock: fake, Registry: reg, Transport: demoClient(t, dm), LookupEnv: dm.LookupEnv,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	drift := func(kind string) (float64, bool) { return gaugeValue(t, reg, "rotatord_inventory_drift", kind) }
	if _, ok := drift(discover.Added); ok {
		t.Fatal("rotatord_inventory_drift before any discovery")
	}
	_, cancel, done := startDaemon(t, d)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	rtestutil.WaitFor(t, "the first discovery", 30*time.Second, func() bool { _, ok := drift(discover.Added); return ok })
	for _, k := range discover.Kinds() {
		if _, ok := drift(k); !ok {
			t.Errorf("no rotatord_inventory_drift{kind=%q}", k)
		}
	}
	if n, _ := drift(discover.Added); n != 0 {
		t.Errorf("added %v at start, want 0: the demo inventory lists every data source it can rotate", n)
	}

	const extra, extraConn = "7e8f9a0b-1c2d-4e3f-8a4b-6c7d8e9f0a1b", "8f9a0b1c-2d3e-4f4a-9b5c-7d8e9f0a1b2c"
	if err := dm.Stack.PowerBI.AddDatasource(demo.Gateway2048, extra, "Key"); err != nil {
		t.Fatal(err)
	}
	if err := dm.Stack.Fabric.AddConnection(emulator.FabricConnection{ID: extraConn, ConnectivityType: emulator.FabricShareableCloud,
		CredentialType: "Key", DisplayName: "New API"}); err != nil {
		t.Fatal(err)
	}
	rtestutil.WaitFor(t, "the next discovery to find the new data source and connection", 30*time.Second, func() bool {
		fake.Advance(10 * time.Minute)
		n, _ := drift(discover.Added)
		return n == 2
	})
	if lines := logs.Lines("msg=\"inventory drift\"", "kind=added", "datasource_id="+extra); len(lines) != 1 {
		t.Errorf("%d drift lines for the new data source, want 1:\n%s", len(lines), logs.String())
	}
	if lines := logs.Lines("msg=\"inventory drift\"", "kind=added", "datasource=new-api", "connection_id="+extraConn); len(lines) != 1 {
		t.Errorf("%d drift lines for the new connection, want 1:\n%s", len(lines), logs.String())
	}
	if got, _ := gaugeValue(t, reg, "rotatord_discovery_complete", ""); got != 1 {
		t.Errorf("rotatord_discovery_complete %v, want 1", got)
	}

	// A reload that changes discover_every compares at once, with no wait.
	ran := len(logs.Lines("msg=discovery "))
	f, err := os.OpenFile(dm.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("discover_every: 2h\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.Reload(t.Context(), "test")
	if d.cfg.Load().Discover.Every != 2*time.Hour {
		t.Fatalf("the reload was refused:\n%s", logs.String())
	}
	rtestutil.WaitFor(t, "a discovery after the reload", 30*time.Second, func() bool {
		return len(logs.Lines("msg=discovery ")) == ran+1
	})
}

// TestDiscoverOptions: a diff looks up the inventory's data sources by
// their ids and its connections by connection_id.
func TestDiscoverOptions(t *testing.T) {
	_, cfg := startDemo(t, "")
	o := DiscoverOptions(cfg, nil, nil)
	var conns []string
	for _, c := range demo.Connections() {
		conns = append(conns, c.ID)
	}
	if !slices.Equal(o.KnownConnections, conns) || len(o.Known)+len(o.KnownConnections) != len(cfg.Datasources) {
		t.Errorf("known %v and connections %v; want the %d entries, the connections %v", o.Known, o.KnownConnections, len(cfg.Datasources), conns)
	}
	if !slices.Equal(o.Workspaces, cfg.Discover.Workspaces) {
		t.Errorf("workspaces %v, want discover_workspaces %v", o.Workspaces, cfg.Discover.Workspaces)
	}
}

// TestDiscoverSelf: discovery through the daemon knows the identity it
// runs as, the app the emulated Fabric lists as each connection's Owner:
// the drift of the connections' users is sales-cluster's declared group
// alone, never
// that owner's removal, even with prune; a Self o names is kept.
func TestDiscoverSelf(t *testing.T) {
	d, dm := newDemoDaemon(t, Options{NoState: true})
	defer d.Close()
	cfg := d.cfg.Load()
	self := emulator.TokenObjectID(dm.Stack.ClientID)
	e := d.Discover(t.Context(), DiscoverOptions(cfg, nil, nil))
	if e.Self != self || !e.Complete() {
		t.Fatalf("self %q (problems %v), want the stack app's object id %s", e.Self, e.Problems, self)
	}
	cluster := demo.Connections()[0]
	if ras := e.Roles[strings.ToLower(cluster.ID)]; len(ras) != 1 || ras[0].Principal.ID != self || ras[0].Role != "Owner" {
		t.Errorf("%s's role assignments %+v, want the app as Owner", cluster.Name, ras)
	}
	for i := range cfg.Datasources {
		if cfg.Datasources[i].Name == cluster.Name {
			cfg.Datasources[i].Prune = true
		}
	}
	var users []discover.Drift
	for _, x := range discover.Diff(e, cfg).Drift {
		if x.Kind == discover.Users && x.ConnectionID != "" {
			users = append(users, x)
		}
	}
	if len(users) != 1 || users[0].Name != cluster.Name || !strings.Contains(users[0].Detail, demo.ClusterGroup+" (Group) should have role User") ||
		strings.Contains(users[0].Detail, self) {
		t.Errorf("users drift %+v; want %s's group to add, and not its owner %s removed", users, cluster.Name, self)
	}

	o := DiscoverOptions(cfg, nil, nil)
	o.Self = "6f7a8b9c-0d1e-4f2a-9b3c-5d6e7f8a9b0c"
	if e := d.Discover(t.Context(), o); e.Self != o.Self {
		t.Errorf("self %q, want the one o names", e.Self)
	}
}

// gaugeValue is the value of gauge name in reg, with the kind label if
// kind is not "", and whether it is there.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, kind string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if kind == "" || len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == kind {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}
