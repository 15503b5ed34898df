package discover

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/pbi"
)

// Lister is what discovery reads from Power BI: *pbi.Client's listing calls.
type Lister interface {
	GetGateways(ctx context.Context) ([]pbi.Gateway, error)
	GetGateway(ctx context.Context, gatewayID string) (pbi.Gateway, error)
	GetDatasources(ctx context.Context, gatewayID string) ([]pbi.GatewayDatasource, error)
	GetDatasource(ctx context.Context, gatewayID, datasourceID string) (pbi.GatewayDatasource, error)
	GetDatasourceUsers(ctx context.Context, gatewayID, datasourceID string) ([]pbi.DatasourceUser, error)
	GetDatasetsInGroup(ctx context.Context, groupID string) ([]pbi.Dataset, error)
	GetDatasourcesInGroup(ctx context.Context, groupID, datasetID string) ([]pbi.Datasource, error)
}

// ConnectionLister is what discovery reads from Fabric: *fabric.Client's
// List Connections, Get Connection for an inventory's connection that the
// listing lacks, and List Connection Role Assignments for the users of
// each connection an inventory holds.
type ConnectionLister interface {
	ListConnections(ctx context.Context) ([]fabric.Connection, error)
	GetConnection(ctx context.Context, connectionID string) (fabric.Connection, error)
	ListConnectionRoleAssignments(ctx context.Context, connectionID string) ([]fabric.RoleAssignment, error)
}

// Options say what to discover.
type Options struct {
	Gateways   []string // these gateways; empty: every one Get Gateways lists
	Workspaces []string // the workspaces whose datasets' data sources count too
	// Known are pairs to read one by one when no listing covers them: the
	// inventory's, for a diff. One the service answers 404 for is Missing.
	Known []Pair
	// Connections, when set, lists every Fabric connection the identity
	// may use; nil: Fabric is not asked.
	Connections ConnectionLister
	// KnownConnections are the inventory's connection ids, for a diff: one
	// the listing lacks is read with Get Connection, and is
	// MissingConnections when Fabric answers 404.
	KnownConnections []string
	// Self is the object id of the identity discovery runs as, "" when
	// unknown: Render does not write its role assignments, and Diff, as a
	// rotation, never has it removed nor its role changed (unknown: no one
	// removed, no Owner's role changed).
	Self    string
	Workers int // calls in flight at once; below 1, one
	// Progress, when set, is called as the listing advances, from one
	// goroutine at a time.
	Progress func(Progress)
}

// Progress is how far a discovery has come.
type Progress struct {
	Gateways, GatewaysTotal int // gateways whose data sources are listed
	Datasources             int // data sources found so far
	Users, UsersTotal       int // data sources whose users are read
	Connections             int // Fabric connections listed
	Roles, RolesTotal       int // Fabric connections whose role assignments are read
}

// Pair names a data source as Update Datasource does. Ids compare
// case-insensitively: Key returns the folded form.
type Pair struct{ GatewayID, DatasourceID string }

// Key is p with its ids lower-cased, for maps.
func (p Pair) Key() Pair {
	return Pair{strings.ToLower(p.GatewayID), strings.ToLower(p.DatasourceID)}
}

func (p Pair) String() string { return p.GatewayID + "/" + p.DatasourceID }

// Datasource is a data source the identity can see.
type Datasource struct {
	pbi.GatewayDatasource
	Details     pbi.ConnectionDetails // parsed from ConnectionDetails, or from a dataset's
	GatewayName string                // "" for cloud data sources
	Cloud       bool                  // its gateway id is no real gateway: encrypt: none
	Users       []pbi.DatasourceUser
	UsersKnown  bool // Users were read; false when the call failed
	Datasets    []DatasetRef
}

// Pair is d's ids.
func (d *Datasource) Pair() Pair { return Pair{d.GatewayID, d.ID} }

// DatasetRef names a dataset that uses a data source.
type DatasetRef struct{ Workspace, ID, Name string }

// Unbound is a data source a dataset uses through no gateway: Power BI has
// no gateway data source to update for it.
type Unbound struct {
	Dataset DatasetRef
	Type    string
	Details pbi.ConnectionDetails
}

// Problem is something discovery could not read.
type Problem struct {
	Subject string // what: "gateway 1f69… (name)", "-workspace 3f2a…", …
	Err     error
}

func (p Problem) String() string { return p.Subject + ": " + p.Err.Error() }

// Estate is what a discovery found.
type Estate struct {
	Datasources []*Datasource // sorted by gateway id, then data source id
	Unbound     []Unbound
	Missing     []Pair // Options.Known pairs the service does not know (404)
	// Connections are the Fabric connections listed, and those of
	// Options.KnownConnections read one by one, sorted by folded id. An
	// on-premises gateway connection's id is its Power BI data source's:
	// Render and Diff take such a pair for one data source.
	Connections []fabric.Connection
	// MissingConnections are the Options.KnownConnections Fabric does not
	// know (404), sorted by folded id.
	MissingConnections []string
	// Roles are the role assignments (a connection's users) of each
	// connection that Render writes with connection_id, and of each of
	// Options.KnownConnections found, by folded connection id, each list
	// sorted by folded principal id. A connection absent was not read, or
	// the call failed (a Problem): its users are unknown.
	Roles map[string][]fabric.RoleAssignment
	// Self is Options.Self: the object id of the identity discovery ran
	// as, "" when unknown.
	Self       string
	Gateways   int // gateways whose data sources were listed
	Workspaces int // workspaces whose datasets were listed
	Problems   []Problem
}

// Complete reports whether everything asked for could be read.
func (e *Estate) Complete() bool { return len(e.Problems) == 0 }

// Discover lists what o asks for through l. It always returns an Estate;
// what failed is in its Problems.
func Discover(ctx context.Context, l Lister, o Options) *Estate {
	g := &gatherer{l: l, o: o, found: map[Pair]*Datasource{}, listed: map[string]bool{},
		failed: map[string]bool{}, refs: map[Pair][]DatasetRef{}, seen: map[Pair]pbi.Datasource{},
		conns: map[string]fabric.Connection{}}
	if g.o.Workers < 1 {
		g.o.Workers = 1
	}
	g.gateways(ctx)
	g.workspaces(ctx)
	g.lookups(ctx)
	g.users(ctx)
	g.connections(ctx)
	e := g.estate()
	g.roles(ctx, e)
	if err := ctx.Err(); err != nil {
		g.problem("discovery", err) // cut short: whatever was not reached is missing
	}
	e.Problems = g.sortedProblems()
	return e
}

// gatherer is one discovery's state; mu guards all of it once the phases
// run concurrently.
type gatherer struct {
	l Lister
	o Options

	mu       sync.Mutex
	progress Progress
	gws      []pbi.Gateway
	found    map[Pair]*Datasource    // by folded pair
	listed   map[string]bool         // folded gateway ids whose data sources were listed
	failed   map[string]bool         // folded gateway ids that could not be read
	refs     map[Pair][]DatasetRef   // datasets using each bound pair
	seen     map[Pair]pbi.Datasource // how a dataset describes each bound pair
	unbound  []Unbound
	missing  []Pair
	problems []Problem
	spaces   int
	conns    map[string]fabric.Connection // by folded id
	gone     []string                     // known connections Fabric answered 404 for
}

// each runs f for 0..n-1, o.Workers at a time, and stops starting new ones
// once ctx is done.
func (g *gatherer) each(ctx context.Context, n int, f func(i int)) {
	var eg errgroup.Group
	eg.SetLimit(g.o.Workers)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		eg.Go(func() error { f(i); return nil })
	}
	_ = eg.Wait()
}

func (g *gatherer) problem(subject string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.problems = append(g.problems, Problem{subject, err})
}

// report calls the progress hook with what has changed, under mu.
func (g *gatherer) report(update func(*Progress)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	update(&g.progress)
	if g.o.Progress != nil {
		g.o.Progress(g.progress)
	}
}

// gateways lists the gateways and their data sources.
func (g *gatherer) gateways(ctx context.Context) {
	if len(g.o.Gateways) == 0 {
		gws, err := g.l.GetGateways(ctx)
		if err != nil {
			g.problem("Get Gateways", err)
		}
		g.gws = gws
	} else {
		g.gws = make([]pbi.Gateway, len(g.o.Gateways))
		g.each(ctx, len(g.o.Gateways), func(i int) {
			id := g.o.Gateways[i]
			gw, err := g.l.GetGateway(ctx, id)
			if err != nil {
				if notFound(err) {
					err = fmt.Errorf("no such gateway (the virtual gateway of cloud data sources is not one: -workspace finds those): %w", err)
				}
				g.problem("-gateway "+id, err)
				g.mu.Lock()
				g.failed[strings.ToLower(id)] = true
				g.mu.Unlock()
				return
			}
			g.gws[i] = gw
		})
		g.gws = slices.DeleteFunc(g.gws, func(gw pbi.Gateway) bool { return gw.ID == "" })
	}
	g.report(func(p *Progress) { p.GatewaysTotal = len(g.gws) })
	g.each(ctx, len(g.gws), func(i int) {
		gw := g.gws[i]
		list, err := g.l.GetDatasources(ctx, gw.ID)
		g.mu.Lock()
		if err != nil {
			g.failed[strings.ToLower(gw.ID)] = true
		} else {
			g.listed[strings.ToLower(gw.ID)] = true
			for _, d := range list {
				g.add(d, gw.Name, false, pbi.ConnectionDetails{})
			}
		}
		g.mu.Unlock()
		if err != nil {
			g.problem(gatewaySubject(gw), err)
		}
		g.report(func(p *Progress) { p.Gateways++; p.Datasources = len(g.found) })
	})
}

func gatewaySubject(gw pbi.Gateway) string {
	if gw.Name == "" {
		return "gateway " + gw.ID
	}
	return fmt.Sprintf("gateway %s (%s)", gw.ID, clip(gw.Name, 80))
}

// add records a data source, under mu. details stand in for its own when
// it has none (a cloud data source read back with Get Datasource).
func (g *gatherer) add(d pbi.GatewayDatasource, gatewayName string, cloud bool, details pbi.ConnectionDetails) {
	k := Pair{d.GatewayID, d.ID}.Key()
	if g.found[k] != nil {
		return
	}
	ds := &Datasource{GatewayDatasource: d, GatewayName: gatewayName, Cloud: cloud, Details: details}
	if d.ConnectionDetails != "" {
		// Power BI sends it as a JSON document in a string; one that does
		// not parse only costs the name and the comment their details.
		_ = json.Unmarshal([]byte(d.ConnectionDetails), &ds.Details)
	}
	g.found[k] = ds
}

// workspaces lists the datasets of each workspace and the data sources
// they use.
func (g *gatherer) workspaces(ctx context.Context) {
	type job struct {
		ws string
		ds pbi.Dataset
	}
	var jobs []job
	g.each(ctx, len(g.o.Workspaces), func(i int) {
		ws := g.o.Workspaces[i]
		sets, err := g.l.GetDatasetsInGroup(ctx, ws)
		if err != nil {
			g.problem("-workspace "+ws, err)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.spaces++
		for _, s := range sets {
			jobs = append(jobs, job{ws, s})
		}
	})
	slices.SortFunc(jobs, func(a, b job) int { return cmp.Or(strings.Compare(a.ws, b.ws), strings.Compare(a.ds.ID, b.ds.ID)) })
	g.each(ctx, len(jobs), func(i int) {
		j := jobs[i]
		ref := DatasetRef{Workspace: j.ws, ID: j.ds.ID, Name: j.ds.Name}
		list, err := g.l.GetDatasourcesInGroup(ctx, j.ws, j.ds.ID)
		if err != nil {
			g.problem(datasetSubject(ref), err)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, d := range list {
			if d.GatewayID == "" || d.DatasourceID == "" {
				g.unbound = append(g.unbound, Unbound{Dataset: ref, Type: d.DatasourceType, Details: d.ConnectionDetails})
				continue
			}
			k := Pair{d.GatewayID, d.DatasourceID}.Key()
			if !slices.Contains(g.refs[k], ref) {
				g.refs[k] = append(g.refs[k], ref)
			}
			g.seen[k] = d
		}
	})
}

func datasetSubject(r DatasetRef) string {
	return fmt.Sprintf("dataset %s (%q) in workspace %s", r.ID, clip(r.Name, 80), r.Workspace)
}

// lookups reads, one by one, the pairs that datasets or Options.Known name
// and no gateway listing covered: after Get Gateway has told a real gateway
// from a cloud data source's virtual one.
func (g *gatherer) lookups(ctx context.Context) {
	type want struct {
		pair  Pair
		known bool // from Options.Known: a 404 makes it Missing
	}
	pending := map[Pair]*want{}
	for k := range g.refs {
		if g.found[k] == nil && !g.listed[k.GatewayID] {
			d := g.seen[k]
			pending[k] = &want{pair: Pair{d.GatewayID, d.DatasourceID}}
		}
	}
	for _, p := range g.o.Known {
		k := p.Key()
		if g.found[k] != nil {
			continue
		}
		if w := pending[k]; w != nil {
			w.known = true
			continue
		}
		pending[k] = &want{pair: p, known: true}
	}
	// Which gateway each pending pair is on, once per gateway.
	kinds := map[string]*pbi.Gateway{} // folded id → the gateway, nil for a cloud one
	for i, gw := range g.gws {
		if g.listed[strings.ToLower(gw.ID)] {
			kinds[strings.ToLower(gw.ID)] = &g.gws[i] // listed: a real gateway, no need to ask
		}
	}
	var gwIDs []string
	for _, w := range pending {
		id := strings.ToLower(w.pair.GatewayID)
		if _, ok := kinds[id]; !ok && !g.failed[id] {
			kinds[id] = nil
			gwIDs = append(gwIDs, w.pair.GatewayID)
		}
	}
	slices.Sort(gwIDs)
	g.each(ctx, len(gwIDs), func(i int) {
		id := gwIDs[i]
		gw, err := g.l.GetGateway(ctx, id)
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case err == nil:
			kinds[strings.ToLower(id)] = &gw
		case notFound(err): // the virtual gateway of cloud data sources
		default:
			g.failed[strings.ToLower(id)] = true
			g.problems = append(g.problems, Problem{"gateway " + id, err})
		}
	})
	var todo []*want
	for k, w := range pending {
		if !g.failed[k.GatewayID] {
			todo = append(todo, w)
		}
	}
	slices.SortFunc(todo, func(a, b *want) int { return strings.Compare(a.pair.String(), b.pair.String()) })
	g.each(ctx, len(todo), func(i int) {
		w := todo[i]
		d, err := g.l.GetDatasource(ctx, w.pair.GatewayID, w.pair.DatasourceID)
		g.mu.Lock()
		defer g.mu.Unlock()
		k := w.pair.Key()
		switch {
		case err == nil:
			gw := kinds[k.GatewayID]
			name := ""
			if gw != nil {
				name = gw.Name
			}
			// The ids the dataset or the inventory named, as Power BI
			// spelled them, whatever the answer's case.
			d.GatewayID, d.ID = w.pair.GatewayID, w.pair.DatasourceID
			g.add(d, name, gw == nil, g.seen[k].ConnectionDetails)
			g.progress.Datasources = len(g.found)
		case notFound(err) && w.known:
			g.missing = append(g.missing, w.pair)
		default:
			g.problems = append(g.problems, Problem{"data source " + w.pair.String(), err})
		}
	})
}

// users reads every data source's users.
func (g *gatherer) users(ctx context.Context) {
	all := make([]*Datasource, 0, len(g.found))
	for _, d := range g.found {
		all = append(all, d)
	}
	slices.SortFunc(all, compareDatasources)
	g.report(func(p *Progress) { p.Datasources, p.UsersTotal = len(all), len(all) })
	g.each(ctx, len(all), func(i int) {
		d := all[i]
		users, err := g.l.GetDatasourceUsers(ctx, d.GatewayID, d.ID)
		if err != nil {
			g.problem("users of data source "+d.Pair().String(), err)
		} else {
			g.mu.Lock()
			d.Users, d.UsersKnown = users, true
			g.mu.Unlock()
		}
		g.report(func(p *Progress) { p.Users++ })
	})
}

// connections lists the Fabric connections, then reads one by one each
// of Options.KnownConnections that the listing lacks. Absence from a
// listing is not taken for deletion: List Connections answers only what
// the identity has permission for, so a connection it lost its role on
// is absent too, and only Get Connection's 404 tells that one from a
// deleted one (another answer is a Problem). When the listing itself
// fails nothing is looked up: one call per connection would most likely
// fail the same way, and the diff says the entries were not compared.
func (g *gatherer) connections(ctx context.Context) {
	if g.o.Connections == nil || ctx.Err() != nil {
		return
	}
	list, err := g.o.Connections.ListConnections(ctx)
	if err != nil {
		g.problem("Fabric List Connections", err)
		return
	}
	g.mu.Lock()
	for _, c := range list {
		if k := strings.ToLower(c.ID); c.ID != "" {
			if _, dup := g.conns[k]; !dup {
				g.conns[k] = c
			}
		}
	}
	var todo []string
	asked := map[string]bool{}
	for _, id := range g.o.KnownConnections {
		k := strings.ToLower(id)
		if _, ok := g.conns[k]; !ok && !asked[k] {
			asked[k] = true
			todo = append(todo, id)
		}
	}
	g.mu.Unlock()
	g.report(func(p *Progress) { p.Connections = len(list) })
	slices.SortFunc(todo, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	g.each(ctx, len(todo), func(i int) {
		id := todo[i]
		c, err := g.o.Connections.GetConnection(ctx, id)
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case err == nil:
			c.ID = id // as the inventory spells it, whatever the answer's case
			g.conns[strings.ToLower(id)] = c
		case notFound(err):
			g.gone = append(g.gone, id)
		default:
			g.problems = append(g.problems, Problem{"Fabric connection " + id, err})
		}
	})
}

// roles reads the role assignments of the connections the inventory holds
// or is to hold: each Render writes with connection_id, and each of
// Options.KnownConnections found, for Diff. A connection Render writes as
// its Power BI data source is not read: that entry's users are the data
// source's.
func (g *gatherer) roles(ctx context.Context, e *Estate) {
	e.Roles = map[string][]fabric.RoleAssignment{}
	if g.o.Connections == nil || len(e.Connections) == 0 {
		return
	}
	read := map[string]bool{}
	var todo []string
	want := func(id string) {
		if k := strings.ToLower(id); !read[k] {
			read[k] = true
			todo = append(todo, id)
		}
	}
	for _, it := range items(e) {
		if it.fabric && it.unserved() == "" {
			want(it.conn.ID)
		}
	}
	known := make(map[string]bool, len(g.o.KnownConnections))
	for _, id := range g.o.KnownConnections {
		known[strings.ToLower(id)] = true
	}
	for _, c := range e.Connections {
		if known[strings.ToLower(c.ID)] {
			want(c.ID)
		}
	}
	slices.SortFunc(todo, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	g.report(func(p *Progress) { p.RolesTotal = len(todo) })
	g.each(ctx, len(todo), func(i int) {
		id := todo[i]
		list, err := g.o.Connections.ListConnectionRoleAssignments(ctx, id)
		if err != nil {
			g.problem("role assignments of Fabric connection "+id, err)
		} else {
			list = slices.Clone(list)
			slices.SortStableFunc(list, func(a, b fabric.RoleAssignment) int {
				return strings.Compare(strings.ToLower(a.Principal.ID), strings.ToLower(b.Principal.ID))
			})
			g.mu.Lock()
			e.Roles[strings.ToLower(id)] = list
			g.mu.Unlock()
		}
		g.report(func(p *Progress) { p.Roles++ })
	})
}

// sortedProblems are the problems, by subject.
func (g *gatherer) sortedProblems() []Problem {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.problems)
	slices.SortStableFunc(out, func(a, b Problem) int { return strings.Compare(a.Subject, b.Subject) })
	return out
}

func (g *gatherer) estate() *Estate {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := &Estate{Unbound: g.unbound, Missing: g.missing, Gateways: len(g.listed), Workspaces: g.spaces,
		MissingConnections: g.gone, Self: g.o.Self}
	for _, c := range g.conns {
		e.Connections = append(e.Connections, c)
	}
	slices.SortFunc(e.Connections, func(a, b fabric.Connection) int {
		return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
	})
	slices.SortFunc(e.MissingConnections, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	for k, d := range g.found {
		d.Datasets = slices.SortedFunc(slices.Values(g.refs[k]), func(a, b DatasetRef) int {
			return cmp.Or(strings.Compare(a.Workspace, b.Workspace), strings.Compare(a.ID, b.ID))
		})
		e.Datasources = append(e.Datasources, d)
	}
	slices.SortFunc(e.Datasources, compareDatasources)
	slices.SortFunc(e.Missing, func(a, b Pair) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	slices.SortFunc(e.Unbound, func(a, b Unbound) int {
		return cmp.Or(strings.Compare(a.Dataset.Workspace, b.Dataset.Workspace), strings.Compare(a.Dataset.ID, b.Dataset.ID))
	})
	return e
}

// compareDatasources orders on-premises data sources before cloud ones,
// then by gateway and data source id.
func compareDatasources(a, b *Datasource) int {
	ka, kb := a.Pair().Key(), b.Pair().Key()
	return cmp.Or(boolCompare(a.Cloud, b.Cloud), strings.Compare(ka.GatewayID, kb.GatewayID), strings.Compare(ka.DatasourceID, kb.DatasourceID))
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// notFound reports whether err is Power BI's or Fabric's 404.
func notFound(err error) bool {
	var pe *pbi.Error
	var fe *fabric.Error
	return errors.As(err, &pe) && pe.StatusCode == http.StatusNotFound ||
		errors.As(err, &fe) && fe.StatusCode == http.StatusNotFound
}

// clip shortens s to at most n runes, for names and comments taken from
// the service.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
