package daemon

import "github.com/rotatord/rotatord/internal/config"

// datasourceIndex maps the names of one loaded inventory's data sources to
// their positions. Every tick looks its data source up by name, twice: a
// linear config.Datasource made a fleet of 10,000 quadratic (13% of the
// CPU of `rotatord once` in BenchmarkFleet).
type datasourceIndex struct {
	cfg    *config.Config
	byName map[string]int
}

// datasource returns the data source called name in the current inventory.
// The index follows the inventory: a reload stores a new *config.Config,
// and the first lookup after it builds the new one's index. Lookups racing
// with a reload may each build one; all are correct for the config they
// loaded.
func (d *Daemon) datasource(name string) (config.Datasource, bool) {
	cfg := d.cfg.Load()
	ix := d.index.Load()
	if ix == nil || ix.cfg != cfg {
		ix = &datasourceIndex{cfg: cfg, byName: make(map[string]int, len(cfg.Datasources))}
		for i, ds := range cfg.Datasources {
			ix.byName[ds.Name] = i
		}
		d.index.Store(ix)
	}
	i, ok := ix.byName[name]
	if !ok {
		return config.Datasource{}, false
	}
	return cfg.Datasources[i], true
}
