package discover

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/pbi"
)

// The kinds of drift, the values of rotatord_inventory_drift's kind label.
const (
	Added   = "added"   // Power BI has a data source the inventory lacks, and rotatord could rotate it
	Deleted = "deleted" // the inventory names a data source Power BI does not know (404)
	Retyped = "retyped" // the data source's credential type is not the inventory's
	Users   = "users"   // the data source's users differ from those the inventory declares
)

// Kinds lists every kind of drift, in the order reports group them.
func Kinds() []string { return []string{Added, Deleted, Retyped, Users} }

// Drift is one way the service and the inventory disagree.
type Drift struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"` // the inventory's; for Added, the name discover would give it
	GatewayID    string `json:"gateway_id"`
	DatasourceID string `json:"datasource_id"`
	Detail       string `json:"detail"`
	Line         int    `json:"line,omitempty"` // of the inventory entry
}

// Report is the comparison of an Estate with an inventory.
type Report struct {
	Drift []Drift `json:"drift"`
	// Unsupported are data sources the inventory lacks that rotatord could
	// not rotate anyway (Render's "left out"): listed, not drift.
	Unsupported []Drift `json:"unsupported"`
	// Unchecked names the inventory entries that could not be compared,
	// because what they are on could not be read (see Problems).
	Unchecked []string `json:"unchecked"`
	Problems  []string `json:"problems"`
}

// Drifted reports whether anything differs.
func (r Report) Drifted() bool { return len(r.Drift) > 0 }

// Counts returns the number of drifts of each kind, every kind included.
func (r Report) Counts() map[string]int {
	n := make(map[string]int, len(Kinds()))
	for _, k := range Kinds() {
		n[k] = 0
	}
	for _, d := range r.Drift {
		n[d.Kind]++
	}
	return n
}

// Diff compares e, discovered with the inventory's pairs as Options.Known,
// with the inventory's data sources.
func Diff(e *Estate, cfg *config.Config) Report {
	r := Report{Drift: []Drift{}, Unsupported: []Drift{}, Unchecked: []string{}, Problems: []string{}}
	found := make(map[Pair]*Datasource, len(e.Datasources))
	for _, d := range e.Datasources {
		found[d.Pair().Key()] = d
	}
	missing := make(map[Pair]bool, len(e.Missing))
	for _, p := range e.Missing {
		missing[p.Key()] = true
	}
	inInventory := make(map[Pair]bool, len(cfg.Datasources))
	for _, ds := range cfg.Datasources {
		p := Pair{ds.GatewayID, ds.DatasourceID}
		inInventory[p.Key()] = true
		drift := Drift{Name: ds.Name, GatewayID: ds.GatewayID, DatasourceID: ds.DatasourceID, Line: ds.Line}
		d := found[p.Key()]
		switch {
		case missing[p.Key()]:
			drift.Kind, drift.Detail = Deleted, "Power BI does not know this data source (404): it was deleted, or recreated with a new id"
			r.Drift = append(r.Drift, drift)
			continue
		case d == nil:
			r.Unchecked = append(r.Unchecked, ds.Name)
			continue
		}
		if d.CredentialType != string(ds.CredentialType) {
			drift.Kind = Retyped
			drift.Detail = fmt.Sprintf("the inventory says %s, Power BI %s", ds.CredentialType, clip(d.CredentialType, 40))
			r.Drift = append(r.Drift, drift)
		}
		if d.UsersKnown && ds.ManagesUsers() {
			if add, remove := ds.UserChanges(d.Users); len(add)+len(remove) > 0 {
				drift.Kind, drift.Detail = Users, userDetail(add, remove)
				r.Drift = append(r.Drift, drift)
			}
		}
	}
	names := Names(e.Datasources)
	for i, d := range e.Datasources {
		if inInventory[d.Pair().Key()] {
			continue
		}
		drift := Drift{Name: names[i], GatewayID: d.GatewayID, DatasourceID: d.ID}
		if why := unserved(d); why != "" {
			drift.Kind, drift.Detail = "unsupported", describe(d)+": "+why
			r.Unsupported = append(r.Unsupported, drift)
			continue
		}
		drift.Kind, drift.Detail = Added, describe(d)+", "+d.CredentialType+": in Power BI, not in the inventory"
		r.Drift = append(r.Drift, drift)
	}
	for _, p := range e.Problems {
		r.Problems = append(r.Problems, p.String())
	}
	order := func(kind string) int { return slices.Index(Kinds(), kind) }
	slices.SortStableFunc(r.Drift, func(a, b Drift) int {
		return cmp.Or(cmp.Compare(order(a.Kind), order(b.Kind)), strings.Compare(a.Name, b.Name))
	})
	return r
}

// userDetail says how the users differ: what a rotation would add, update
// or remove.
func userDetail(add, remove []pbi.DatasourceUser) string {
	var parts []string
	for _, u := range add {
		parts = append(parts, fmt.Sprintf("%s should have %s", clip(u.ID(), 80), u.DatasourceAccessRight))
	}
	for _, u := range remove {
		parts = append(parts, fmt.Sprintf("%s is not declared (prune: true removes it)", clip(u.ID(), 80)))
	}
	return strings.Join(parts, "; ")
}

// WriteText prints r one line per finding, grouped by kind: drift first,
// then what is unsupported, unchecked or could not be read.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(d Drift) {
		fmt.Fprintf(&b, "%-11s %-40s %s/%s: %s\n", d.Kind, d.Name, d.GatewayID, d.DatasourceID, oneLine(d.Detail))
	}
	for _, d := range r.Drift {
		line(d)
	}
	for _, d := range r.Unsupported {
		line(d)
	}
	for _, name := range r.Unchecked {
		fmt.Fprintf(&b, "%-11s %-40s not compared: its gateway or data source could not be read\n", "unchecked", name)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "%-11s %s\n", "error", oneLine(p))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints r as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
