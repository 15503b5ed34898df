package discover

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/fabric"
)

const (
	gwFabric  = "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
	connA     = "70b17680-48f1-4729-9df6-02576647dc3a"
	connB     = "81c28791-59a2-4830-8ae7-13687758ed4b"
	connC     = "92d398a2-6ab3-4941-9bf8-24798869fe5c"
	connGone  = "a3e4a9b3-7bc4-4a52-8cf9-358a997a0f6d"
	connDeny  = "b4f5bac4-8cd5-4b63-9d0a-469baa8b1a7e"
	connQuiet = "c5a6cbd5-9de6-4c74-8e1b-57acbb9c2b8f"
	connHid   = "d6b7dce6-0ef7-4d85-9f2c-68bdcc0d3c90"
	groupID   = "3d9b93c6-7b6d-4801-a491-1738910904fd"
)

// TestRenderConnections: each connectivity and credential type Fabric
// lists is an entry with connection_id and a source named after it, or a
// comment saying why rotatord cannot rotate it.
func TestRenderConnections(t *testing.T) {
	type field struct{ name, value string } // the value a Key Vault secret name or a literal
	tests := map[string]struct {
		connectivity, credType string
		want                   credentials.Type // "": left out
		fields                 []field
		why                    string // for one left out
	}{
		"gateway basic":       {"OnPremisesGateway", "Basic", credentials.Basic, []field{{"username", "sales-username"}, {"password", "sales-password"}}, ""},
		"personal windows":    {"OnPremisesGatewayPersonal", "Windows", credentials.Windows, []field{{"username", "sales-username"}, {"password", "sales-password"}}, ""},
		"cloud key":           {"ShareableCloud", "Key", credentials.Key, []field{{"key", "sales-key"}}, ""},
		"vnet sas":            {"VirtualNetworkGateway", "SharedAccessSignature", credentials.SAS, []field{{"token", "sales-token"}}, ""},
		"streaming anonymous": {"StreamingVirtualNetworkGateway", "Anonymous", credentials.Anonymous, nil, ""},
		"cloud service principal": {"ShareableCloud", "ServicePrincipal", credentials.ServicePrincipal,
			[]field{{"tenant_id", PlaceholderTenantID}, {"client_id", PlaceholderClientID}, {"client_secret", "sales-client-secret"}}, ""},
		"vnet key pair":             {"VirtualNetworkGateway", "KeyPair", credentials.KeyPair, []field{{"identifier", PlaceholderIdentifier}, {"private_key", "sales-private-key"}}, ""},
		"cloud workspace identity":  {"ShareableCloud", "WorkspaceIdentity", credentials.WorkspaceIdentity, nil, ""},
		"streaming key pair":        {"StreamingVirtualNetworkGateway", "KeyPair", credentials.KeyPair, []field{{"identifier", PlaceholderIdentifier}, {"private_key", "sales-private-key"}}, ""},
		"gateway service principal": {"OnPremisesGateway", "ServicePrincipal", "", nil, "Fabric does not accept ServicePrincipal credentials on OnPremisesGateway connections"},
		"personal key pair":         {"OnPremisesGatewayPersonal", "KeyPair", "", nil, "Fabric does not accept KeyPair credentials on OnPremisesGatewayPersonal"},
		"gateway workspace id":      {"OnPremisesGateway", "WorkspaceIdentity", "", nil, "Fabric does not accept WorkspaceIdentity"},
		"cloud oauth2":              {"ShareableCloud", "OAuth2", "", nil, "Fabric's API takes no OAuth2 credential"},
		"without impersonation":     {"OnPremisesGateway", "WindowsWithoutImpersonation", "", nil, "no WindowsWithoutImpersonation credential type"},
		"personal cloud":            {"PersonalCloud", "Basic", "", nil, "PersonalCloud connection is one user's own sign-in"},
		"automatic":                 {"Automatic", "Basic", "", nil, `connectivity type "Automatic" has no credentials`},
		"none":                      {"None", "Anonymous", "", nil, `connectivity type "None" has no credentials`},
		"unknown type":              {"ShareableCloud", "Telepathy", "", nil, `credential type "Telepathy" is not one rotatord rotates through Fabric`},
		"id no uuid":                {"ShareableCloud", "Key", "", nil, `its id "not-a-uuid: 70b17680-48f1-4729-9df6-025…" is not a UUID`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := conn(connA, tc.connectivity, tc.credType, "Sales")
			if name == "id no uuid" {
				c.ID = "not-a-uuid: " + connA
			}
			roles := map[string][]fabric.RoleAssignment{strings.ToLower(c.ID): {
				{ID: groupID, Principal: fabric.Principal{ID: groupID, Type: "Group"}, Role: "User"}}}
			out, n, err := Render(&Estate{Connections: []fabric.Connection{c}, Roles: roles}, RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			text := string(out)
			if tc.want == "" {
				if n != 0 || !strings.Contains(text, "connection "+c.ID) || !strings.Contains(text, tc.why) {
					t.Errorf("%d entries; want the connection left out with %q:\n%s", n, tc.why, text)
				}
				return
			}
			cfg, err := config.Parse("discovered.yaml", out)
			if err != nil {
				t.Fatalf("output fails check: %v\n%s", err, out)
			}
			if n != 1 || len(cfg.Datasources) != 1 {
				t.Fatalf("%d entries, want 1:\n%s", n, out)
			}
			ds := cfg.Datasources[0]
			if ds.Name != "sales" || ds.ConnectionID != connA || ds.CredentialType != tc.want || ds.GatewayID != "" || ds.Encrypt != "" {
				t.Errorf("entry %+v, want sales, connection %s, %s, no gateway_id nor encrypt", ds, connA, tc.want)
			}
			var got []field
			for _, f := range ds.Source.Fields {
				got = append(got, field{f.Name, f.Ref.Name})
			}
			byName := func(a, b field) int { return strings.Compare(a.name, b.name) }
			slices.SortFunc(got, byName)
			slices.SortFunc(tc.fields, byName)
			if !slices.Equal(got, tc.fields) {
				t.Errorf("source fields %v, want %v", got, tc.fields)
			}
			// The comment above says what the connection is.
			for _, want := range []string{"# Fabric connection, " + tc.connectivity + ": SQL Sales.contoso.local;db", `("Sales")`} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if want := []config.User{{Identifier: groupID, PrincipalType: "Group", Role: "User"}}; !slices.Equal(ds.Users, want) {
				t.Errorf("users %+v, want the role assignment %+v", ds.Users, want)
			}
			if tc.connectivity != "ShareableCloud" && !strings.Contains(text, "gateway "+gwFabric) {
				t.Errorf("the comment does not name the gateway:\n%s", text)
			}
			switch tc.want {
			case credentials.ServicePrincipal:
				for _, want := range []string{"tenant_id and client_id are placeholders", "# placeholder: the service principal's tenant ID"} {
					if !strings.Contains(text, want) {
						t.Errorf("output lacks %q:\n%s", want, text)
					}
				}
			case credentials.KeyPair:
				for _, want := range []string{"identifier is a placeholder", "PKCS#8 PEM", "passphrase_secret"} {
					if !strings.Contains(text, want) {
						t.Errorf("output lacks %q:\n%s", want, text)
					}
				}
			}
		})
	}
}

// fabricEstate is estate() with Fabric connections beside it: one that is
// the Power BI data source sales (an on-premises gateway connection's id
// is its data source's), one that is the Fabric-only data source dsSP,
// two cloud ones, one whose display name gives files01-hr's name, one on a
// personal cloud.
func fabricEstate() (*fakeService, *fakeFabric) {
	f := estate()
	twinSales := conn(dsSales, "OnPremisesGateway", "Basic", "Sales on Finance GW")
	twinSP := conn(dsSP, "ShareableCloud", "ServicePrincipal", "Contoso API")
	lake := conn(connB, "ShareableCloud", "ServicePrincipal", "Lake SPN")
	warehouse := conn(connC, "VirtualNetworkGateway", "KeyPair", "Warehouse")
	hr := conn(connQuiet, "VirtualNetworkGateway", "Basic", "files01 HR")
	personal := conn(connA, "PersonalCloud", "OAuth2", "Mine")
	return f, newFakeFabric(twinSales, twinSP, lake, warehouse, hr, personal)
}

func TestDiscoverConnections(t *testing.T) {
	f, fab := fabricEstate()
	var last Progress
	e := Discover(t.Context(), f, Options{Workspaces: []string{ws1, ws2}, Connections: fab, Workers: 4, Progress: func(p Progress) { last = p }})
	var ids []string
	for _, c := range e.Connections {
		ids = append(ids, c.ID)
	}
	want := []string{dsSales, dsSP, connA, connB, connC, connQuiet}
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	if !slices.Equal(ids, want) {
		t.Errorf("connections %v,\nwant %v (sorted by id)", ids, want)
	}
	if last.Connections != 6 || len(e.Datasources) != 7 {
		t.Errorf("progress %+v, %d data sources; want 6 connections beside the 7 data sources", last, len(e.Datasources))
	}
	if fab.calls["GetConnection"] != 0 {
		t.Errorf("%d Get Connection calls without known connections", fab.calls["GetConnection"])
	}

	out, n, err := Render(e, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("discovered.yaml", out)
	if err != nil {
		t.Fatalf("output fails check: %v\n%s", err, out)
	}
	// The estate's five, then dsSP as a connection and the lake,
	// warehouse and files01 HR connections; sales written once.
	if n != 9 {
		t.Fatalf("%d entries, want 9:\n%s", n, out)
	}
	byName := map[string]config.Datasource{}
	for _, ds := range cfg.Datasources {
		byName[ds.Name] = ds
	}
	wantNames := []string{"contoso-api", "contoso-exports", "contoso-lake", "files01-hr-7d3b5a1c", "files01-hr-c5a6cbd5",
		"lake-spn", "sql01-sales-252b9de8", "sql01-sales-352b9de8", "warehouse"}
	if got := keys(byName); !slices.Equal(got, wantNames) {
		t.Errorf("names %v,\nwant %v (unique across Power BI and Fabric)", got, wantNames)
	}
	if sales := byName["sql01-sales-252b9de8"]; sales.ConnectionID != "" || sales.DatasourceID != dsSales {
		t.Errorf("sales, also a connection, is written as %+v; want the Power BI entry", sales)
	}
	if sp := byName["contoso-api"]; sp.ConnectionID != dsSP || sp.CredentialType != credentials.ServicePrincipal {
		t.Errorf("the Fabric-only data source is written as %+v; want the Fabric connection", sp)
	}
	text := string(out)
	for _, want := range []string{
		"also Fabric connection ID " + dsSales + " (OnPremisesGateway, Basic): written once, as the Power BI data source",
		"also Power BI data source " + gwFinance + "/" + dsSP,
		"connection " + connA + " Fabric connection, PersonalCloud",
		"from 1 gateway, 2 workspaces and 6 Fabric connections",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ServicePrincipal is served by Fabric's connections API") {
		t.Errorf("dsSP, written as its connection, is also left out:\n%s", text)
	}
	if c := strings.Count(text, dsSales); c != 2 { // the entry's datasource_id and the comment's note
		t.Errorf("sales's id appears %d times, want 2:\n%s", c, text)
	}
}

// TestDiscoverConnectionsTwinNeitherServes: a data source that is also a
// connection, which neither API can rotate, is one line of what is left
// out, saying why for both.
func TestDiscoverConnectionsTwinNeitherServes(t *testing.T) {
	f := estate()
	fab := newFakeFabric(conn(dsSP, "OnPremisesGateway", "ServicePrincipal", "Contoso API"))
	e := Discover(t.Context(), f, Options{Workspaces: []string{ws1, ws2}, Connections: fab, Workers: 2})
	out, n, err := Render(e, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if n != 5 || strings.Count(text, dsSP) != 2 || // the pair and the connection id, on one line

		!strings.Contains(text, "as Fabric connection ID "+dsSP+" it cannot be rotated either: Fabric does not accept ServicePrincipal") {
		t.Errorf("%d entries; want 5 and dsSP left out once, for both reasons:\n%s", n, text)
	}
}

func TestDiscoverKnownConnections(t *testing.T) {
	f, fab := fabricEstate()
	fab.hidden = []fabric.Connection{conn(connHid, "ShareableCloud", "Key", "Hidden")} // readable, not listed
	fab.denied[connDeny] = true
	hidden := connHid
	e := Discover(t.Context(), f, Options{Connections: fab, Workers: 2,
		KnownConnections: []string{strings.ToUpper(connB), hidden, connGone, connDeny, connGone}})
	if fab.calls["GetConnection"] != 3 {
		t.Errorf("%d Get Connection calls, want 3: the known connections the listing lacks, once each", fab.calls["GetConnection"])
	}
	if !slices.Equal(e.MissingConnections, []string{connGone}) {
		t.Errorf("missing %v, want %s only", e.MissingConnections, connGone)
	}
	if !slices.ContainsFunc(e.Connections, func(c fabric.Connection) bool { return c.ID == hidden }) {
		t.Errorf("the connection only Get Connection answers is not among %d", len(e.Connections))
	}
	var subjects []string
	for _, p := range e.Problems {
		subjects = append(subjects, p.Subject)
	}
	if !slices.Contains(subjects, "Fabric connection "+connDeny) {
		t.Errorf("problems %v lack the connection answering 403", subjects)
	}

	// A listing that fails is a problem; Power BI is still listed, and no
	// connection is looked up one by one.
	fab = newFakeFabric()
	fab.listErr = fabricError("Connections_ListConnections", http.StatusForbidden)
	e = Discover(t.Context(), f, Options{Connections: fab, KnownConnections: []string{connB}, Workers: 2})
	var fe *fabric.Error
	if len(e.Problems) != 2 || e.Problems[0].Subject != "Fabric List Connections" || !errors.As(e.Problems[0].Err, &fe) {
		t.Errorf("problems %v; want Fabric List Connections's beside the denied gateway's", e.Problems)
	}
	if len(e.Datasources) != 5 || fab.calls["GetConnection"] != 0 || len(e.MissingConnections) != 0 {
		t.Errorf("%d data sources, %d Get Connection calls, missing %v; want 5, 0, none", len(e.Datasources), fab.calls["GetConnection"], e.MissingConnections)
	}
}

func TestDiffConnections(t *testing.T) {
	f, fab := fabricEstate()
	fab.listed = append(fab.listed, conn(connDeny, "ShareableCloud", "SharedAccessSignature", "Exports SAS"))
	inventory := `keyvaults: {main: https://contoso-kv.vault.azure.net/}
datasources:
  - name: sales
    gateway_id: ` + gwFinance + `
    datasource_id: ` + dsSales + `
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: sales-password}
  - name: lake
    connection_id: ` + connB + `
    credential_type: KeyPair
    source: {keyvault: main, identifier: SVC, private_key_secret: lake-key}
  - name: warehouse
    connection_id: ` + strings.ToUpper(connC) + `
    credential_type: KeyPair
    source: {keyvault: main, identifier: SVC, private_key_secret: warehouse-key}
    users:
      - {identifier: 3d9b93c6-7b6d-4801-a491-1738910904fd, principal_type: Group, role: User}
  - name: exports
    connection_id: ` + connDeny + `
    credential_type: SAS
    source: {keyvault: main, token_secret: exports-token}
  - name: gone
    connection_id: ` + connGone + `
    credential_type: Key
    source: {keyvault: main, key_secret: gone-key}
`
	cfg, err := config.Parse("inv.yaml", []byte(inventory))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Workspaces: []string{ws1, ws2}, Connections: fab, Workers: 4,
		Known: []Pair{{gwFinance, dsSales}}, KnownConnections: []string{connB, connC, connDeny, connGone}}
	r := Diff(Discover(t.Context(), f, o), cfg)
	var got []string
	for _, d := range r.Drift {
		got = append(got, d.Kind+" "+d.Name+" "+d.ConnectionID)
	}
	want := []string{
		"added contoso-api " + dsSP, // the Fabric-only data source, as its connection
		"added contoso-exports ",
		"added contoso-lake ",
		"added files01-hr-7d3b5a1c ",
		"added files01-hr-c5a6cbd5 " + connQuiet,
		"added sql01-sales-352b9de8 ",
		"deleted gone " + connGone,
		"retyped lake " + connB,
		"users warehouse " + strings.ToUpper(connC), // Fabric lists no assignment of its group
	}
	if !slices.Equal(got, want) {
		t.Errorf("drift\n%v,\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(r.Unchecked) != 0 {
		t.Errorf("unchecked %v, want none", r.Unchecked)
	}
	var unsupported []string
	for _, d := range r.Unsupported {
		unsupported = append(unsupported, d.Name)
	}
	if !slices.Equal(unsupported, []string{"dwh-dwh", "mine"}) {
		t.Errorf("unsupported %v, want the single sign-on data source and the personal cloud connection", unsupported)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"the inventory says KeyPair, Fabric ServicePrincipal",
		"connection " + connGone + ": Fabric does not know this connection (404)",
		"connection " + connQuiet + ": Fabric connection, VirtualNetworkGateway",
		"users       warehouse                                connection " + strings.ToUpper(connC) +
			": 3d9b93c6-7b6d-4801-a491-1738910904fd (Group) should have role User",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var js strings.Builder
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Drift []struct {
			Name         string `json:"name"`
			ConnectionID string `json:"connection_id"`
		} `json:"drift"`
	}
	if err := json.Unmarshal([]byte(js.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(doc.Drift, func(d struct {
		Name         string `json:"name"`
		ConnectionID string `json:"connection_id"`
	}) bool {
		return d.Name == "gone"
	}); i < 0 || doc.Drift[i].ConnectionID != connGone {
		t.Errorf("json lacks gone's connection_id:\n%s", js.String())
	}

	// Fabric could not be listed: its entries are not compared.
	fab.listErr = fabricError("Connections_ListConnections", http.StatusServiceUnavailable)
	r = Diff(Discover(t.Context(), f, o), cfg)
	if want := []string{"lake", "warehouse", "exports", "gone"}; !slices.Equal(r.Unchecked, want) {
		t.Errorf("unchecked %v, want %v", r.Unchecked, want)
	}
}

// TestRenderSharedIDStaysPowerBI: a connection whose id two data sources
// (on two gateways) share is not written as the connection, which would
// share its id with the other's entry: check refuses that.
func TestRenderSharedIDStaysPowerBI(t *testing.T) {
	f := newFake()
	f.gateway(gwFinance, "Finance GW")
	f.gateway(gwDenied, "Other GW")
	f.source(gwFinance, dsSales, "Sql", "Basic", `{"server":"sql01","database":"sales"}`)
	f.source(gwDenied, dsSales, "Sql", "Basic", `{"server":"sql02","database":"sales"}`)
	e := Discover(t.Context(), f, Options{Connections: newFakeFabric(conn(dsSales, "ShareableCloud", "ServicePrincipal", "Sales")), Workers: 2})
	out, n, err := Render(e, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("discovered.yaml", out)
	if err != nil {
		t.Fatalf("output fails check: %v\n%s", err, out)
	}
	if n != 2 || cfg.Datasources[0].Fabric() || cfg.Datasources[1].Fabric() {
		t.Errorf("%d entries; want both Power BI data sources:\n%s", n, out)
	}
}
