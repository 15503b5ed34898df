package discover

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/pbi"
)

// fakeService is an in-memory Power BI for Lister: gateways with data
// sources, cloud data sources under virtual gateways, workspaces of
// datasets. It answers errors as *pbi.Error, as the client does.
type fakeService struct {
	mu       sync.Mutex
	gateways []pbi.Gateway
	sources  map[string][]pbi.GatewayDatasource // by folded gateway id, real and virtual
	users    map[string][]pbi.DatasourceUser    // by folded "gw/ds"
	sets     map[string][]pbi.Dataset           // by workspace id
	bound    map[string][]pbi.Datasource        // by dataset id
	denied   map[string]bool                    // folded gateway ids answering 403
	virtual  map[string]bool                    // folded gateway ids of cloud data sources
	calls    map[string]int

	inFlight, maxInFlight atomic.Int32
	delay                 time.Duration
}

func newFake() *fakeService {
	return &fakeService{sources: map[string][]pbi.GatewayDatasource{}, users: map[string][]pbi.DatasourceUser{},
		sets: map[string][]pbi.Dataset{}, bound: map[string][]pbi.Datasource{}, denied: map[string]bool{},
		virtual: map[string]bool{}, calls: map[string]int{}}
}

func (f *fakeService) gateway(id, name string) {
	f.gateways = append(f.gateways, pbi.Gateway{ID: id, Name: name, Type: "Resource"})
}

func (f *fakeService) source(gw, id, typ, credType, details string, users ...pbi.DatasourceUser) {
	k := strings.ToLower(gw)
	f.sources[k] = append(f.sources[k], pbi.GatewayDatasource{ID: id, GatewayID: gw, DatasourceType: typ,
		CredentialType: credType, ConnectionDetails: details, DatasourceName: typ + "-" + id[:4]})
	f.users[strings.ToLower(gw+"/"+id)] = users
}

func (f *fakeService) cloud(gw, id, typ, credType, details string) {
	f.virtual[strings.ToLower(gw)] = true
	f.source(gw, id, typ, credType, details)
}

func (f *fakeService) dataset(ws, id, name string, uses ...pbi.Datasource) {
	f.sets[ws] = append(f.sets[ws], pbi.Dataset{ID: id, Name: name})
	f.bound[id] = uses
}

// call counts op and holds a worker slot for delay.
func (f *fakeService) call(ctx context.Context, op string) error {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func apiError(op string, status int) error {
	return &pbi.Error{Operation: op, StatusCode: status, Code: http.StatusText(status), Hint: "fake hint"}
}

func (f *fakeService) GetGateways(ctx context.Context) ([]pbi.Gateway, error) {
	if err := f.call(ctx, "GetGateways"); err != nil {
		return nil, err
	}
	return f.gateways, nil
}

func (f *fakeService) GetGateway(ctx context.Context, id string) (pbi.Gateway, error) {
	if err := f.call(ctx, "GetGateway"); err != nil {
		return pbi.Gateway{}, err
	}
	if f.denied[strings.ToLower(id)] {
		return pbi.Gateway{}, apiError("Gateways_GetGateway", http.StatusForbidden)
	}
	for _, g := range f.gateways {
		if strings.EqualFold(g.ID, id) {
			return g, nil
		}
	}
	return pbi.Gateway{}, apiError("Gateways_GetGateway", http.StatusNotFound)
}

func (f *fakeService) GetDatasources(ctx context.Context, gw string) ([]pbi.GatewayDatasource, error) {
	if err := f.call(ctx, "GetDatasources"); err != nil {
		return nil, err
	}
	k := strings.ToLower(gw)
	switch {
	case f.denied[k]:
		return nil, apiError("Gateways_GetDatasources", http.StatusForbidden)
	case f.virtual[k]:
		return nil, apiError("Gateways_GetDatasources", http.StatusNotFound)
	}
	return f.sources[k], nil
}

func (f *fakeService) GetDatasource(ctx context.Context, gw, ds string) (pbi.GatewayDatasource, error) {
	if err := f.call(ctx, "GetDatasource"); err != nil {
		return pbi.GatewayDatasource{}, err
	}
	if f.denied[strings.ToLower(gw)] {
		return pbi.GatewayDatasource{}, apiError("Gateways_GetDatasource", http.StatusForbidden)
	}
	for _, d := range f.sources[strings.ToLower(gw)] {
		if strings.EqualFold(d.ID, ds) {
			return d, nil
		}
	}
	return pbi.GatewayDatasource{}, apiError("Gateways_GetDatasource", http.StatusNotFound)
}

func (f *fakeService) GetDatasourceUsers(ctx context.Context, gw, ds string) ([]pbi.DatasourceUser, error) {
	if err := f.call(ctx, "GetDatasourceUsers"); err != nil {
		return nil, err
	}
	if f.denied[strings.ToLower(gw)] {
		return nil, apiError("Gateways_GetDatasourceUsers", http.StatusForbidden)
	}
	return f.users[strings.ToLower(gw+"/"+ds)], nil
}

func (f *fakeService) GetDatasetsInGroup(ctx context.Context, ws string) ([]pbi.Dataset, error) {
	if err := f.call(ctx, "GetDatasetsInGroup"); err != nil {
		return nil, err
	}
	sets, ok := f.sets[ws]
	if !ok {
		return nil, apiError("Datasets_GetDatasetsInGroup", http.StatusNotFound)
	}
	return sets, nil
}

func (f *fakeService) GetDatasourcesInGroup(ctx context.Context, ws, set string) ([]pbi.Datasource, error) {
	if err := f.call(ctx, "GetDatasourcesInGroup"); err != nil {
		return nil, err
	}
	return f.bound[set], nil
}

// fakeFabric is an in-memory Fabric for ConnectionLister: the connections
// List Connections answers, and those only Get Connection does (the
// identity's role on them is gone, say), and their role assignments.
// Paging is the client's business: the listing is whole. Errors are
// *fabric.Error, as the client's.
type fakeFabric struct {
	mu        sync.Mutex
	listed    []fabric.Connection
	hidden    []fabric.Connection // not listed, but Get Connection answers them
	denied    map[string]bool     // folded ids Get Connection answers 403 for
	listErr   error
	roles     map[string][]fabric.RoleAssignment // by folded connection id
	rolesErr  map[string]error                   // by folded connection id
	rolesRead []string                           // the connection ids whose role assignments were asked for
	calls     map[string]int

	inFlight, maxInFlight int
}

func newFakeFabric(conns ...fabric.Connection) *fakeFabric {
	return &fakeFabric{listed: conns, denied: map[string]bool{}, calls: map[string]int{},
		roles: map[string][]fabric.RoleAssignment{}, rolesErr: map[string]error{}}
}

// assign gives connection id the role assignments of principals, each
// "type:id:role", its assignment id the principal's, as Fabric makes it.
func (f *fakeFabric) assign(id string, principals ...string) {
	for _, p := range principals {
		typ, rest, _ := strings.Cut(p, ":")
		pid, role, _ := strings.Cut(rest, ":")
		k := strings.ToLower(id)
		f.roles[k] = append(f.roles[k], fabric.RoleAssignment{ID: pid, Principal: fabric.Principal{ID: pid, Type: typ}, Role: role})
	}
}

// conn is a connection of the given connectivity and credential type,
// its display name and details made from name.
func conn(id, connectivity, credType, name string) fabric.Connection {
	c := fabric.Connection{ID: id, DisplayName: name, ConnectivityType: connectivity,
		ConnectionDetails: fabric.ConnectionDetails{Type: "SQL", Path: name + ".contoso.local;db"}, PrivacyLevel: "Organizational",
		CredentialDetails: fabric.CredentialDetails{CredentialType: credType, SingleSignOnType: "None"}}
	if connectivity != "ShareableCloud" {
		c.GatewayID = gwFabric
	}
	return c
}

func fabricError(op string, status int) error {
	return &fabric.Error{Operation: op, StatusCode: status, Code: http.StatusText(status), Hint: "fake fabric hint"}
}

func (f *fakeFabric) ListConnections(ctx context.Context) ([]fabric.Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListConnections"]++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.listErr != nil {
		return nil, f.listErr
	}
	return slices.Clone(f.listed), nil
}

func (f *fakeFabric) GetConnection(ctx context.Context, id string) (fabric.Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["GetConnection"]++
	if err := ctx.Err(); err != nil {
		return fabric.Connection{}, err
	}
	if f.denied[strings.ToLower(id)] {
		return fabric.Connection{}, fabricError("Connections_GetConnection", http.StatusForbidden)
	}
	for _, c := range append(slices.Clone(f.listed), f.hidden...) {
		if strings.EqualFold(c.ID, id) {
			return c, nil
		}
	}
	return fabric.Connection{}, fabricError("Connections_GetConnection", http.StatusNotFound)
}

func (f *fakeFabric) ListConnectionRoleAssignments(ctx context.Context, id string) ([]fabric.RoleAssignment, error) {
	f.mu.Lock()
	f.calls["ListConnectionRoleAssignments"]++
	f.rolesRead = append(f.rolesRead, id)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	time.Sleep(time.Millisecond) // long enough for the workers to overlap
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.rolesErr[strings.ToLower(id)]; err != nil {
		return nil, err
	}
	return slices.Clone(f.roles[strings.ToLower(id)]), nil
}
