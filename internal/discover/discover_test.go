package discover

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/pbi"
)

const (
	gwFinance = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	gwDenied  = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
	gwCloud   = "6e5d4c3b-2a19-4f8e-a7d6-c5b4a3928170"
	dsSales   = "252b9de8-d915-4788-aaeb-ec8c2395f970"
	dsSales2  = "352b9de8-d915-4788-aaeb-ec8c2395f971"
	dsHR      = "7d3b5a1c-2e4f-4a6b-8c9d-0e1f2a3b4c5d"
	dsSSO     = "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f"
	dsSP      = "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b"
	dsLake    = "9a8b7c6d-5e4f-4321-9fed-cba987654321"
	dsBlob    = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
	dsHidden  = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
	ws1       = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
	ws2       = "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d"
	setA      = "8b7c6d5e-4f3a-4b2c-9d1e-0f9a8b7c6d5e"
	setB      = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f"
	appID     = "3d9b93c6-7b6d-4801-a491-1738910904fd"
)

// estate is a small Power BI estate with one of everything discovery
// meets: two data sources whose details give one name, users the
// inventory cannot write, single sign-on, a Fabric-only type, a gateway the
// identity may not read, cloud data sources a workspace's datasets reach
// (one shared by two datasets) and a source bound to no gateway.
func estate() *fakeService {
	f := newFake()
	f.gateway(gwFinance, "Finance GW")
	f.gateway(gwDenied, "Secret GW")
	f.denied[strings.ToLower(gwDenied)] = true
	f.source(gwFinance, dsSales, "Sql", "Basic", `{"server":"sql01.contoso.local","database":"sales"}`,
		pbi.DatasourceUser{EmailAddress: "john@contoso.com", DatasourceAccessRight: "Read", PrincipalType: "User"},
		pbi.DatasourceUser{EmailAddress: "analysts@contoso.com", DatasourceAccessRight: "Read", PrincipalType: "Group"},
		pbi.DatasourceUser{Identifier: appID, DatasourceAccessRight: "ReadOverrideEffectiveIdentity", PrincipalType: "App"},
		pbi.DatasourceUser{EmailAddress: "nobody@contoso.com", DatasourceAccessRight: "None", PrincipalType: "User"})
	f.source(gwFinance, dsSales2, "Sql", "Basic", `{"server":"SQL01.contoso.local,1433","database":"Sales"}`)
	f.source(gwFinance, dsHR, "File", "Windows", `{"path":"\\\\files01\\hr"}`)
	f.source(gwFinance, dsSSO, "Sql", "OAuth2", `{"server":"dwh.contoso.local","database":"dwh"}`)
	f.sources[strings.ToLower(gwFinance)][3].CredentialDetails = &pbi.GatewayDatasourceCredentialDetails{UseEndUserOAuth2Credentials: true}
	f.source(gwFinance, dsSP, "Extension", "ServicePrincipal", `{"url":"https://api.contoso.com/v2"}`)
	f.source(gwDenied, dsHidden, "Oracle", "Basic", `{"server":"ora01"}`)
	f.cloud(gwCloud, dsLake, "AzureDataLakeStorage", "OAuth2", `{"url":"https://contoso.dfs.core.windows.net/lake"}`)
	f.cloud(gwCloud, dsBlob, "AzureBlobs", "SAS", `{"url":"https://contoso.blob.core.windows.net/exports"}`)
	f.dataset(ws1, setA, "Sales",
		pbi.Datasource{DatasourceType: "Sql", GatewayID: gwFinance, DatasourceID: dsSales},
		pbi.Datasource{DatasourceType: "AzureDataLakeStorage", GatewayID: gwCloud, DatasourceID: dsLake,
			ConnectionDetails: pbi.ConnectionDetails{URL: "https://contoso.dfs.core.windows.net/lake"}})
	f.dataset(ws2, setB, "Budget",
		pbi.Datasource{DatasourceType: "AzureDataLakeStorage", GatewayID: strings.ToUpper(gwCloud), DatasourceID: dsLake},
		pbi.Datasource{DatasourceType: "AzureBlobs", GatewayID: gwCloud, DatasourceID: dsBlob},
		pbi.Datasource{DatasourceType: "Web", ConnectionDetails: pbi.ConnectionDetails{URL: "https://example.com/feed"}})
	return f
}

func discoverAll(t *testing.T, f *fakeService, known ...Pair) *Estate {
	t.Helper()
	return Discover(t.Context(), f, Options{Workspaces: []string{ws1, ws2}, Known: known, Workers: 4})
}

func TestDiscoverCoversTheEstate(t *testing.T) {
	f := estate()
	e := discoverAll(t, f)
	var got []string
	for _, d := range e.Datasources {
		got = append(got, strings.ToLower(d.ID))
	}
	want := []string{dsSales, dsSales2, dsSSO, dsSP, dsHR, dsBlob, dsLake} // on-premises first, by gateway then id
	slices.Sort(want[:5])
	slices.Sort(want[5:])
	if !slices.Equal(got, want) {
		t.Errorf("data sources %v,\nwant %v", got, want)
	}
	byID := map[string]*Datasource{}
	for _, d := range e.Datasources {
		byID[d.ID] = d
	}
	if lake := byID[dsLake]; !lake.Cloud || len(lake.Datasets) != 2 || lake.Details.URL == "" {
		t.Errorf("lake: cloud %v, datasets %v, details %+v; want cloud, used by both datasets", lake.Cloud, lake.Datasets, lake.Details)
	}
	if sales := byID[dsSales]; sales.Cloud || sales.GatewayName != "Finance GW" || len(sales.Users) != 4 || !sales.UsersKnown {
		t.Errorf("sales: %+v", sales)
	}
	if len(e.Problems) != 1 || !strings.Contains(e.Problems[0].Subject, gwDenied) {
		t.Errorf("problems %v, want the denied gateway's only", e.Problems)
	}
	if len(e.Unbound) != 1 || e.Unbound[0].Dataset.Name != "Budget" {
		t.Errorf("unbound %+v", e.Unbound)
	}
	if e.Gateways != 1 || e.Workspaces != 2 {
		t.Errorf("gateways %d, workspaces %d; want 1 and 2", e.Gateways, e.Workspaces)
	}
	// The cloud gateway is classified once, each cloud data source read once.
	if f.calls["GetGateway"] != 1 || f.calls["GetDatasource"] != 2 {
		t.Errorf("GetGateway %d, GetDatasource %d calls; want 1 and 2", f.calls["GetGateway"], f.calls["GetDatasource"])
	}
}

func TestDiscoverNamedIDs(t *testing.T) {
	f := estate()
	const unknown = "00000000-0000-4000-8000-000000000000"
	e := Discover(t.Context(), f, Options{Gateways: []string{gwFinance, unknown}, Workspaces: []string{unknown}, Workers: 2})
	var subjects []string
	for _, p := range e.Problems {
		subjects = append(subjects, p.Subject)
		if !strings.Contains(p.String(), "fake hint") {
			t.Errorf("problem %q lacks the service's hint", p)
		}
	}
	if want := []string{"-gateway " + unknown, "-workspace " + unknown}; !slices.Equal(subjects, want) {
		t.Errorf("problems %v, want %v", subjects, want)
	}
	if f.calls["GetGateways"] != 0 || len(e.Datasources) != 5 {
		t.Errorf("Get Gateways called %d times, %d data sources; want only the named gateway's 5", f.calls["GetGateways"], len(e.Datasources))
	}
}

func TestDiscoverStaysWithinWorkers(t *testing.T) {
	f := newFake()
	for g := range 20 {
		gw := fmt.Sprintf("00000000-0000-4000-8000-%012d", g)
		f.gateway(gw, "")
		for d := range 10 {
			f.source(gw, fmt.Sprintf("10000000-0000-4000-8000-%06d%06d", g, d), "Sql", "Basic", "")
		}
	}
	f.delay = 100_000 // 0.1 ms: calls overlap
	var last Progress
	e := Discover(t.Context(), f, Options{Workers: 3, Progress: func(p Progress) { last = p }})
	if len(e.Datasources) != 200 || !e.Complete() {
		t.Fatalf("%d data sources, problems %v", len(e.Datasources), e.Problems)
	}
	if m := f.maxInFlight.Load(); m > 3 {
		t.Errorf("%d calls in flight at once, want at most 3", m)
	}
	if want := (Progress{Gateways: 20, GatewaysTotal: 20, Datasources: 200, Users: 200, UsersTotal: 200}); last != want {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
}

func TestDiscoverCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e := Discover(ctx, estate(), Options{Workspaces: []string{ws1}, Workers: 2})
	if e.Complete() {
		t.Error("a canceled discovery reports itself complete")
	}
}

func TestRenderPassesCheck(t *testing.T) {
	e := discoverAll(t, estate())
	out, n, err := Render(e, RenderOptions{What: "rotatord discover (test)"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("discovered.yaml", out)
	if err != nil {
		t.Fatalf("output fails check: %v\n%s", err, out)
	}
	if n != 5 || len(cfg.Datasources) != 5 {
		t.Fatalf("%d entries, %d parsed; want 5 (SSO and ServicePrincipal left out)\n%s", n, len(cfg.Datasources), out)
	}
	byName := map[string]config.Datasource{}
	for _, ds := range cfg.Datasources {
		byName[ds.Name] = ds
	}
	sales, ok := byName["sql01-sales-252b9de8"]
	if !ok {
		t.Fatalf("no sql01-sales-252b9de8 (two data sources share sql01/sales) in %v", keys(byName))
	}
	if ref, _ := sales.Source.Fields.Get("password"); ref.Name != "sql01-sales-252b9de8-password" || sales.Source.KeyVault != PlaceholderVaultName {
		t.Errorf("sales password from %+v in vault %q", ref, sales.Source.KeyVault)
	}
	if sales.Encrypt != config.EncryptGateway || len(sales.Users) != 3 {
		t.Errorf("sales: encrypt %s, users %+v; want gateway and 3 (access None left out)", sales.Encrypt, sales.Users)
	}
	lake := byName["contoso-lake"]
	if lake.Encrypt != config.EncryptNone || lake.Source.OAuthScope != "https://storage.azure.com/.default" || lake.Schedule != OAuth2Schedule {
		t.Errorf("lake: %+v", lake)
	}
	if _, ok := byName["files01-hr"]; !ok {
		t.Errorf("no files01-hr in %v", keys(byName))
	}
	if cfg.KeyVaults[PlaceholderVaultName] != PlaceholderVaultURL || cfg.Auth.Method != "default" {
		t.Errorf("vaults %v, auth %+v", cfg.KeyVaults, cfg.Auth)
	}
	text := string(out)
	for _, want := range []string{
		"# rotatord discover (test)",
		dsSSO + " Sql dwh.contoso.local/dwh",
		"single sign-on",
		"ServicePrincipal is served by Fabric's connections API",
		"bound to no gateway",
		`used by "Sales" (workspace ` + ws1 + `), "Budget" (workspace ` + ws2 + ")",
		`user nobody@contoso.com left out: access "None"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestRenderKeepsTheConfigsSettings(t *testing.T) {
	header := `# Contoso's rotatord
powerbi: {max_concurrency: 4}
auth:
  method: managed_identity
keyvaults: {ops: https://contoso-ops.vault.azure.net/, main: https://contoso-kv.vault.azure.net/}
defaults:
  schedule: "0 3 * * *"   # at night
datasources:
  - {name: old, gateway_id: ` + gwFinance + `, datasource_id: ` + dsSales + `, credential_type: Anonymous, encrypt: none}
`
	e := discoverAll(t, estate())
	for name, tc := range map[string]struct{ vault, want string }{
		"first vault":        {"", "ops"},
		"named vault":        {"main", "main"},
		"vault not declared": {"other", "other"},
	} {
		t.Run(name, func(t *testing.T) {
			out, _, err := Render(e, RenderOptions{Header: []byte(header), KeyVault: tc.vault})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse("discovered.yaml", out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, want := range []string{"# Contoso's rotatord", "# at night"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the header's comment %q is lost:\n%s", want, out)
				}
			}
			if cfg.PowerBI.MaxConcurrency != 4 || cfg.Auth.Method != "managed_identity" || cfg.Datasources[0].Schedule != "0 3 * * *" {
				t.Errorf("settings lost: %+v %+v %q", cfg.PowerBI, cfg.Auth, cfg.Datasources[0].Schedule)
			}
			if _, ok := cfg.Datasource("old"); ok {
				t.Error("the config's own data sources are kept")
			}
			if v := cfg.Datasources[0].Source.KeyVault; v != tc.want {
				t.Errorf("sources use vault %q, want %q", v, tc.want)
			}
			if tc.vault == "other" && cfg.KeyVaults["other"] != PlaceholderVaultURL {
				t.Errorf("vaults %v: want the placeholder for other", cfg.KeyVaults)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	f := estate()
	inventory := `keyvaults: {main: https://contoso-kv.vault.azure.net/}
datasources:
  - name: sales
    gateway_id: ` + gwFinance + `
    datasource_id: ` + dsSales + `
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: sales-password}
    users:
      - {email: john@contoso.com, access: Read}
      - {email: jane@contoso.com, access: Read}
  - name: hr
    gateway_id: ` + gwFinance + `
    datasource_id: ` + dsHR + `
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: hr-password}
  - name: gone
    gateway_id: ` + gwCloud + `
    datasource_id: 00000000-0000-4000-8000-000000000001
    credential_type: Key
    encrypt: none
    source: {keyvault: main, key_secret: gone-key}
  - name: gone-too
    gateway_id: ` + gwFinance + `
    datasource_id: 00000000-0000-4000-8000-000000000002
    credential_type: Key
    encrypt: gateway
    source: {keyvault: main, key_secret: gone-too-key}
  - name: hidden
    gateway_id: ` + gwDenied + `
    datasource_id: ` + dsHidden + `
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: hidden-password}
`
	cfg, err := config.Parse("inv.yaml", []byte(inventory))
	if err != nil {
		t.Fatal(err)
	}
	var known []Pair
	for _, ds := range cfg.Datasources {
		known = append(known, Pair{ds.GatewayID, ds.DatasourceID})
	}
	r := Diff(discoverAll(t, f, known...), cfg)
	var got []string
	for _, d := range r.Drift {
		got = append(got, d.Kind+" "+d.Name)
	}
	want := []string{"added contoso-exports", "added contoso-lake", "added sql01-sales-352b9de8", "deleted gone", "deleted gone-too", "retyped hr", "users sales"}
	if !slices.Equal(got, want) {
		t.Errorf("drift %v,\nwant %v", got, want)
	}
	// A gateway the listing read is known to be real: only the cloud one is asked about.
	if n := f.calls["GetGateway"]; n != 1 {
		t.Errorf("%d Get Gateway calls, want 1", n)
	}
	if !r.Drifted() || r.Counts()[Added] != 3 || r.Counts()[Users] != 1 {
		t.Errorf("counts %v", r.Counts())
	}
	if len(r.Unsupported) != 2 || !slices.Equal(r.Unchecked, []string{"hidden"}) || len(r.Problems) != 1 {
		t.Errorf("unsupported %v, unchecked %v, problems %v", r.Unsupported, r.Unchecked, r.Problems)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"jane@contoso.com should have Read", "the inventory says Basic, Power BI Windows", "unchecked   hidden"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
