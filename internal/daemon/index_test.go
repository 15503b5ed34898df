package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
)

// inventory parses an inventory of the named data sources; each one's
// schedule is derived from its name, so a lookup can be checked to return
// the whole entry, not just its name.
func inventory(names ...string) *config.Config {
	var b strings.Builder
	b.WriteString("datasources:\n")
	for i, n := range names {
		fmt.Fprintf(&b, "  - {name: %s, gateway_id: 00000000-0000-4000-8000-%012d, datasource_id: 00000000-0000-4000-8000-%012d,\n"+
			"     credential_type: Anonymous, encrypt: none, schedule: \"%s\"}\n", n, i, i, scheduleOf(n))
	}
	cfg, err := config.Parse("inventory.yaml", []byte(b.String()))
	if err != nil {
		panic(err)
	}
	return cfg
}

func scheduleOf(name string) string { return fmt.Sprintf("@every %dm", name[0]) }

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
		{nil, "c", true}, // same inventory
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
		if ok != s.present || (ok && (ds.Name != s.name || ds.Schedule != scheduleOf(s.name))) {
			t.Errorf("step %d: datasource(%q) = %q, %v; want present=%v", i, s.name, ds.Name, ok, s.present)
		}
	}
}
