package discover

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/pbi"
)

func TestBaseName(t *testing.T) {
	tests := map[string]struct {
		details pbi.ConnectionDetails
		display string
		want    string
	}{
		"server and database":      {pbi.ConnectionDetails{Server: "sql01.contoso.local", Database: "Sales"}, "", "sql01-sales"},
		"azure sql with port":      {pbi.ConnectionDetails{Server: "tcp:contoso.database.windows.net,1433", Database: "dw"}, "", "contoso-dw"},
		"instance":                 {pbi.ConnectionDetails{Server: `SQL02\FINANCE`, Database: "ledger"}, "", "sql02-ledger"},
		"ip address":               {pbi.ConnectionDetails{Server: "10.0.0.5:5432", Database: "pg"}, "", "10-0-0-5-pg"},
		"url host and path":        {pbi.ConnectionDetails{URL: "https://contoso.sharepoint.com/sites/Finance"}, "", "contoso-sites-finance"},
		"file path":                {pbi.ConnectionDetails{Path: `\\files01\hr\payroll`}, "", "files01-hr-payroll"},
		"display name":             {pbi.ConnectionDetails{}, "Finance Cube (prod)", "finance-cube-prod"},
		"nothing usable":           {pbi.ConnectionDetails{}, "日本語", "datasource"},
		"long names are cut":       {pbi.ConnectionDetails{Server: strings.Repeat("a", 30), Database: strings.Repeat("b", 30)}, "", strings.Repeat("a", 30) + "-" + strings.Repeat("b", 9)},
		"no dash left at the end":  {pbi.ConnectionDetails{Server: strings.Repeat("a", 39), Database: "x"}, "", strings.Repeat("a", 39)},
		"server alone, fqdn label": {pbi.ConnectionDetails{Server: "ora01.contoso.local"}, "", "ora01"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := baseName(&Datasource{Details: tc.details, GatewayDatasource: pbi.GatewayDatasource{DatasourceName: tc.display}}); got != tc.want {
				t.Errorf("baseName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNamesAreUnique(t *testing.T) {
	var ds []*Datasource
	for i := range 3 {
		ds = append(ds, &Datasource{GatewayDatasource: pbi.GatewayDatasource{ID: fmt.Sprintf("aaaaaaaa-0000-4000-8000-00000000000%d", i)},
			Details: pbi.ConnectionDetails{Server: "sql01", Database: "sales"}})
	}
	ds = append(ds, &Datasource{GatewayDatasource: pbi.GatewayDatasource{ID: "bbbbbbbb-0000-4000-8000-000000000000"},
		Details: pbi.ConnectionDetails{Server: "sql02", Database: "hr"}})
	got := names(ds)
	want := []string{"sql01-sales-aaaaaaaa", "sql01-sales-aaaaaaaa-2", "sql01-sales-aaaaaaaa-3", "sql02-hr"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

func TestOAuthScope(t *testing.T) {
	tests := map[string]struct {
		typ     string
		details pbi.ConnectionDetails
		want    string // "" when unknown
	}{
		"data lake":       {"AzureDataLakeStorage", pbi.ConnectionDetails{URL: "https://contoso.dfs.core.windows.net/lake"}, "https://storage.azure.com/.default"},
		"blob by host":    {"Web", pbi.ConnectionDetails{URL: "https://contoso.blob.core.windows.net/x"}, "https://storage.azure.com/.default"},
		"azure sql":       {"Sql", pbi.ConnectionDetails{Server: "tcp:contoso.database.windows.net,1433", Database: "dw"}, "https://database.windows.net/.default"},
		"data explorer":   {"Kusto", pbi.ConnectionDetails{Server: "https://help.westeurope.kusto.windows.net"}, "https://help.westeurope.kusto.windows.net/.default"},
		"analysis svcs":   {"AnalysisServices", pbi.ConnectionDetails{Server: "asazure://westeurope.asazure.windows.net/cube"}, "https://*.asazure.windows.net/.default"},
		"sharepoint":      {"SharePointList", pbi.ConnectionDetails{URL: "https://contoso.sharepoint.com/sites/x"}, "https://contoso.sharepoint.com/.default"},
		"on-premises sql": {"Sql", pbi.ConnectionDetails{Server: "sql01.contoso.local"}, ""},
		"a web api":       {"Web", pbi.ConnectionDetails{URL: "https://api.contoso.com/v2"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := oauthScope(&Datasource{GatewayDatasource: pbi.GatewayDatasource{DatasourceType: tc.typ}, Details: tc.details})
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("oauthScope = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

// FuzzRender: whatever the service says of a data source, its users and
// a Fabric connection (the data source itself when twin) and its role
// assignments (known or not, rotatord's own identity among them or not),
// the inventory printed passes check, with each of them in it or left out
// in a comment.
func FuzzRender(f *testing.F) {
	f.Add("Sql", "Basic", "sql01.contoso.local", "sales", "https://x/y", "name", "john@contoso.com", "User", "Read", "John",
		"OnPremisesGateway", "Basic", "Sales", "sql01;sales", true,
		"3d9b93c6-7b6d-4801-a491-1738910904fd", "Group", "User", true, false)
	f.Add("Web", "OAuth2", "", "", "https://api.contoso.com/v2", "", "", "App", "Read", "",
		"ShareableCloud", "ServicePrincipal", "", "https://api.contoso.com", true,
		"3d9b93c6-7b6d-4801-a491-1738910904fd", "ServicePrincipal", "Owner", true, true)
	f.Add("File", "Windows", "", "", "", "#: {x}\n- y", "a@b", "Group", "ReadOverrideEffectiveIdentity", "'\"",
		"VirtualNetworkGateway", "KeyPair", "#: {x}\n- y", "\u2028", false,
		"a@b", "EntireTenant", "userWithReshare", true, false)
	f.Add("x", "Anonymous", "10.0.0.1", "db\u2028x", "", "", "3d9b93c6-7b6d-4801-a491-1738910904fd", "App", "Read", "",
		"PersonalCloud", "SharedAccessSignature", "x", "", false,
		"3D9B93C6-7B6D-4801-A491-1738910904FD", "user", "#: {x}", false, false)
	f.Add("x", "Key", "", "", "", "", "3d9b93c6-7b6d-4801-a491-1738910904fd", "Group", "Read", "",
		"ShareableCloud", "Key", "x", "", false,
		"3D9B93C6-7B6D-4801-A491-1738910904FD", "Group", "Owner", true, false) // the same principal twice
	f.Fuzz(func(t *testing.T, typ, credType, server, database, url, display, user, principal, access, userName,
		connectivity, connCred, connDisplay, connPath string, twin bool,
		raID, raType, raRole string, rolesKnown, self bool) {
		u := pbi.DatasourceUser{DatasourceAccessRight: access, PrincipalType: principal, DisplayName: userName}
		if strings.Contains(user, "@") {
			u.EmailAddress = user
		} else {
			u.Identifier = user
		}
		const dsID, connID = "252b9de8-d915-4788-aaeb-ec8c2395f970", "70b17680-48f1-4729-9df6-02576647dc3a"
		e := &Estate{Datasources: []*Datasource{{
			GatewayDatasource: pbi.GatewayDatasource{ID: dsID, GatewayID: "1f69e798-5852-4fdd-ab01-33bb14b6e934",
				DatasourceType: typ, CredentialType: credType, DatasourceName: display},
			Details: pbi.ConnectionDetails{Server: server, Database: database, URL: url},
			Users:   []pbi.DatasourceUser{u}, UsersKnown: true,
			Datasets: []DatasetRef{{Workspace: "w", ID: "d", Name: display}},
		}}}
		c := fabric.Connection{ID: connID, DisplayName: connDisplay, GatewayID: userName, ConnectivityType: connectivity,
			ConnectionDetails: fabric.ConnectionDetails{Type: typ, Path: connPath},
			CredentialDetails: fabric.CredentialDetails{CredentialType: connCred, SingleSignOnType: access}}
		if twin {
			c.ID = dsID
		}
		e.Connections = []fabric.Connection{c}
		if rolesKnown {
			e.Roles = map[string][]fabric.RoleAssignment{strings.ToLower(c.ID): {
				{ID: raID, Principal: fabric.Principal{ID: raID, Type: raType}, Role: raRole},
				{ID: user, Principal: fabric.Principal{ID: user, Type: principal}, Role: raRole},
			}}
		}
		if self {
			e.Self = raID
		}
		out, n, err := Render(e, RenderOptions{What: display})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return // left out: check refuses an empty list, and the comment says why
		}
		cfg, err := config.Parse("discovered.yaml", out)
		if err != nil {
			t.Fatalf("output fails check: %v\n%s", err, out)
		}
		if len(cfg.Datasources) != n || n > 2 || twin && n != 1 {
			t.Fatalf("%d data sources parsed, %d printed; want 1 or 2, 1 when the connection is the data source", len(cfg.Datasources), n)
		}
	})
}

// names gives every data source of ds a unique inventory name, in ds's
// order: one made from its connection details (server and database, URL
// host and path, file path), else its display name. Where several would
// share one, each gets the first eight characters of its data source id
// appended. Names use lower-case letters, digits and '-' only, so that
// "<name>-password" is a Key Vault secret name.
func names(ds []*Datasource) []string {
	base := make([]string, len(ds))
	ids := make([]string, len(ds))
	for i, d := range ds {
		base[i], ids[i] = baseName(d), d.ID
	}
	return uniqueNames(base, ids)
}
