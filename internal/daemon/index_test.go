package daemon

import (
	"testing"

	"github.com/rotatord/rotatord/internal/config"
)

func inventory(names ...string) *config.Config {
	cfg := &config.Config{}
	for _, n := range names {
		cfg.Datasources = append(cfg.Datasources, config.Datasource{Name: n, Schedule: "for " + n})
	}
	return cfg
}

// TestDatasourceIndexFollowsReloads: lookups answer from the inventory
// stored now, also after a reload swaps it.
func TestDatasourceIndexFollowsReloads(t *testing.T) {
	var d Daemon
	steps := []struct {
		cfg     *config.Config
		name    string
		present bool
	}{
		{inventory("a", "b", "c"), "b", true},
		{nil, "c", true}, // same inventory: the index is reused
		{nil, "z", false},
		{inventory("c", "z"), "z", true},
		{nil, "b", false}, // b left the inventory
		{nil, "c", true},
	}
	for i, s := range steps {
		if s.cfg != nil {
			d.cfg.Store(s.cfg)
		}
		ds, ok := d.datasource(s.name)
		if ok != s.present || (ok && (ds.Name != s.name || ds.Schedule != "for "+s.name)) {
			t.Errorf("step %d: datasource(%q) = %q, %v; want present=%v", i, s.name, ds.Name, ok, s.present)
		}
		if ix := d.index.Load(); ix == nil || ix.cfg != d.cfg.Load() {
			t.Errorf("step %d: the index is not of the current inventory", i)
		}
	}
}
