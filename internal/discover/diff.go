package discover

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/pbi"
)

// The kinds of drift, the values of rotatord_inventory_drift's kind label.
const (
	Added   = "added"   // Power BI or Fabric has a data source the inventory lacks, and rotatord could rotate it
	Deleted = "deleted" // the inventory names a data source Power BI, or a connection Fabric, does not know (404)
	Retyped = "retyped" // the data source's credential type is not the inventory's
	Users   = "users"   // the data source's users (a connection's role assignments) differ from those the inventory declares
)

// Kinds lists every kind of drift, in the order reports group them.
func Kinds() []string { return []string{Added, Deleted, Retyped, Users} }

// Drift is one way the service and the inventory disagree.
type Drift struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"` // the inventory's; for Added, the name discover would give it
	GatewayID    string `json:"gateway_id"`
	DatasourceID string `json:"datasource_id"`
	// ConnectionID is the Fabric connection's id: an entry's
	// connection_id, or a Power BI data source's that Fabric lists too.
	ConnectionID string `json:"connection_id"`
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

// Diff compares e, discovered with the inventory's pairs as Options.Known
// and its connection ids as Options.KnownConnections, with the
// inventory's data sources.
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
	conns := make(map[string]*fabric.Connection, len(e.Connections))
	for i := range e.Connections {
		conns[strings.ToLower(e.Connections[i].ID)] = &e.Connections[i]
	}
	gone := make(map[string]bool, len(e.MissingConnections))
	for _, id := range e.MissingConnections {
		gone[strings.ToLower(id)] = true
	}
	inInventory := make(map[Pair]bool, len(cfg.Datasources))
	// The folded ids of the inventory's connections and data sources: a
	// connection whose id is an entry's datasource_id is that entry's data
	// source, and so is a data source whose id is an entry's connection_id.
	inventoryIDs := make(map[string]bool, len(cfg.Datasources))
	for _, ds := range cfg.Datasources {
		if ds.Fabric() {
			inventoryIDs[strings.ToLower(ds.ConnectionID)] = true
			r.diffConnection(ds, conns, gone, e)
			continue
		}
		p := Pair{ds.GatewayID, ds.DatasourceID}
		inInventory[p.Key()] = true
		inventoryIDs[strings.ToLower(ds.DatasourceID)] = true
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
		if c := conns[strings.ToLower(d.ID)]; c != nil {
			drift.ConnectionID = c.ID
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
	for _, it := range items(e) {
		if it.ds != nil && (inInventory[it.ds.Pair().Key()] || inventoryIDs[strings.ToLower(it.ds.ID)]) ||
			it.conn != nil && inventoryIDs[strings.ToLower(it.conn.ID)] {
			continue
		}
		drift := Drift{Name: it.name}
		if it.ds != nil && !it.fabric {
			drift.GatewayID, drift.DatasourceID = it.ds.GatewayID, it.ds.ID
		}
		if it.conn != nil {
			drift.ConnectionID = it.conn.ID
		}
		if why := it.unserved(); why != "" {
			drift.Kind, drift.Detail = "unsupported", it.describe()+": "+why
			r.Unsupported = append(r.Unsupported, drift)
			continue
		}
		where := "Power BI"
		if it.fabric {
			where = "Fabric"
		}
		drift.Kind, drift.Detail = Added, it.describe()+", "+clip(it.credentialType(), 40)+": in "+where+", not in the inventory"
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

// diffConnection compares an inventory entry of a Fabric connection with
// what Fabric answered: deleted when it does not know the connection,
// retyped when its credential type is another, unchecked when it could not
// be read, and its users with the connection's role assignments when
// those were read (see roleChanges).
func (r *Report) diffConnection(ds config.Datasource, conns map[string]*fabric.Connection, gone map[string]bool, e *Estate) {
	k := strings.ToLower(ds.ConnectionID)
	drift := Drift{Name: ds.Name, ConnectionID: ds.ConnectionID, Line: ds.Line}
	c := conns[k]
	switch {
	case gone[k]:
		drift.Kind, drift.Detail = Deleted, "Fabric does not know this connection (404): it was deleted, or recreated with a new id"
		r.Drift = append(r.Drift, drift)
		return
	case c == nil:
		r.Unchecked = append(r.Unchecked, ds.Name)
		return
	}
	if have := c.CredentialDetails.CredentialType; have != credentials.FabricName(ds.CredentialType) {
		drift.Kind = Retyped
		drift.Detail = fmt.Sprintf("the inventory says %s, Fabric %s", credentials.FabricName(ds.CredentialType), clip(have, 40))
		r.Drift = append(r.Drift, drift)
	}
	if have, known := e.Roles[k]; known && ds.ManagesUsers() {
		if add, update, remove := roleChanges(ds, have, e.Self); len(add)+len(update)+len(remove) > 0 {
			drift.Kind, drift.Detail = Users, roleDetail(add, update, remove, have)
			r.Drift = append(r.Drift, drift)
		}
	}
}

// roleChanges is what a rotation would change in a connection's role
// assignments, have, to match ds's users (config.Datasource.RoleChanges),
// as the rotation does it: never removing the identity rotatord runs as
// (self) nor changing its role; when self is unknown, removing no one and
// changing no Owner's role, as any of them might be rotatord itself.
func roleChanges(ds config.Datasource, have []fabric.RoleAssignment, self string) (add, update, remove []config.RoleAssignment) {
	list := make([]config.RoleAssignment, len(have))
	owner := map[string]bool{}
	for i, a := range have {
		list[i] = config.RoleAssignment{ID: a.ID, PrincipalID: a.Principal.ID, PrincipalType: a.Principal.Type, Role: a.Role}
		if strings.EqualFold(a.Role, "Owner") {
			owner[a.ID] = true
		}
	}
	add, update, remove = ds.RoleChanges(list)
	if self == "" {
		return add, slices.DeleteFunc(update, func(a config.RoleAssignment) bool { return owner[a.ID] }), nil
	}
	isSelf := func(a config.RoleAssignment) bool { return strings.EqualFold(a.PrincipalID, self) }
	return add, slices.DeleteFunc(update, isSelf), slices.DeleteFunc(remove, isSelf)
}

// roleDetail says how a connection's users differ from the inventory's:
// what a rotation would add, change or remove.
func roleDetail(add, update, remove []config.RoleAssignment, have []fabric.RoleAssignment) string {
	role := make(map[string]string, len(have))
	for _, a := range have {
		role[a.ID] = a.Role
	}
	var parts []string
	for _, a := range add {
		parts = append(parts, fmt.Sprintf("%s (%s) should have role %s", a.PrincipalID, a.PrincipalType, a.Role))
	}
	for _, a := range update {
		parts = append(parts, fmt.Sprintf("%s has role %s, should have %s", clip(a.PrincipalID, 80), clip(role[a.ID], 40), a.Role))
	}
	for _, a := range remove {
		parts = append(parts, fmt.Sprintf("%s (%s, role %s) is not declared (prune: true removes it)",
			clip(a.PrincipalID, 80), clip(a.PrincipalType, 40), clip(a.Role, 40)))
	}
	return strings.Join(parts, "; ")
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
		fmt.Fprintf(&b, "%-11s %-40s %s: %s\n", d.Kind, d.Name, d.target(), oneLine(d.Detail))
	}
	for _, d := range r.Drift {
		line(d)
	}
	for _, d := range r.Unsupported {
		line(d)
	}
	for _, name := range r.Unchecked {
		fmt.Fprintf(&b, "%-11s %-40s not compared: its gateway, data source or connection could not be read\n", "unchecked", name)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "%-11s %s\n", "error", oneLine(p))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// target names what d is about: gateway/datasource, the Power BI pair
// followed by the connection id when Fabric lists it too, or "connection
// ID".
func (d Drift) target() string {
	switch {
	case d.GatewayID == "" && d.DatasourceID == "":
		return "connection " + d.ConnectionID
	case d.ConnectionID != "":
		return d.GatewayID + "/" + d.DatasourceID + " (connection " + d.ConnectionID + ")"
	}
	return d.GatewayID + "/" + d.DatasourceID
}

// WriteJSON prints r as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
