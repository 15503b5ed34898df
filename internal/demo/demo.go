package demo

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

//go:embed inventory.yaml.tmpl
var inventoryTemplate string

// The demo's gateways: one of each key size, and the id Power BI reports for
// cloud data sources, which is not a real gateway.
const (
	Gateway1024  = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
	Gateway2048  = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	CloudGateway = "6e5d4c3b-2a19-4f8e-a7d6-c5b4a3928170"
)

// Entry is one data source of the demo inventory.
type Entry struct{ Name, Gateway, ID, Type string }

// Catalog lists the demo inventory's data sources, as inventory.yaml.tmpl
// declares them.
func Catalog() []Entry {
	return []Entry{
		{"sales-sql", Gateway2048, "252b9de8-d915-4788-aaeb-ec8c2395f970", "Basic"},
		{"hr-fileshare", Gateway1024, "7d3b5a1c-2e4f-4a6b-8c9d-0e1f2a3b4c5d", "Windows"},
		{"ledger-key", Gateway1024, "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f", "Key"},
		{"lake-oauth", CloudGateway, "9a8b7c6d-5e4f-4321-9fed-cba987654321", "OAuth2"},
		{"blob-sas", CloudGateway, "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "SAS"},
		{"public-feed", Gateway2048, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "Anonymous"},
		{"warehouse-key", Gateway2048, "3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a", "Key"},
	}
}

// The demo's workspaces, whose datasets use its data sources: the cloud
// ones are found only through them. Workspace2's Budget shares lake-oauth
// with Workspace1's Sales.
const (
	Workspace1 = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
	Workspace2 = "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d"
)

// SSODatasource is a data source on the 2048-bit gateway that signs in
// with each viewer's identity: discover lists it as one rotatord cannot
// rotate. The inventory does not name it.
const SSODatasource = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"

// info is how the emulated Power BI describes each demo data source, so
// that `rotatord discover` names them as an operator would.
func info() map[string]emulator.DatasourceInfo {
	return map[string]emulator.DatasourceInfo{
		"sales-sql":     {Name: "Sales DB", Type: "Sql", ConnectionDetails: map[string]string{"server": "sql01.contoso.local", "database": "sales"}},
		"hr-fileshare":  {Name: "HR share", Type: "File", ConnectionDetails: map[string]string{"path": `\\files01\hr`}},
		"ledger-key":    {Name: "Ledger API", Type: "Web", ConnectionDetails: map[string]string{"url": "https://ledger.contoso.local/api"}},
		"lake-oauth":    {Name: "Data lake", Type: "AzureDataLakeStorage", ConnectionDetails: map[string]string{"url": "https://contoso.dfs.core.windows.net/lake"}},
		"blob-sas":      {Name: "Exports", Type: "AzureBlobs", ConnectionDetails: map[string]string{"url": "https://contoso.blob.core.windows.net/exports"}},
		"public-feed":   {Name: "Public feed", Type: "OData", ConnectionDetails: map[string]string{"url": "https://feeds.contoso.local/public"}},
		"warehouse-key": {Name: "Warehouse", Type: "Web", ConnectionDetails: map[string]string{"url": "https://warehouse.contoso.local/v1"}},
	}
}

// SASEnv is the environment variable the blob-sas data source reads.
const SASEnv = "ROTATORD_DEMO_SAS"

// Options shape the demo.
type Options struct {
	Dir    string // where the inventory, secrets and state go
	Listen string // metrics listener
	// Fail, to see alerts and failure metrics, is one of:
	//   - sales-sql, ledger-key or blob-sas: that data source's secret is
	//     missing from Key Vault (or its file, or the environment), so its
	//     rotations fail to fetch;
	//   - FailRejected: sales-sql's database accepts svc_powerbi with a
	//     random password other than Key Vault's, so every rotation of it
	//     pushes fine and is then rejected by verification (and, with its
	//     rollback: true, rolled back when there is a verified version).
	Fail string
}

// FailRejected is the Options.Fail that makes sales-sql's database refuse
// every credential rotatord pushes.
const FailRejected = "rejected"

// Demo is a seeded emulator stack and the inventory that points at it.
type Demo struct {
	Stack      *emulator.Stack
	ConfigPath string
	// Want is, per data source, the credential fields (Power BI's names)
	// that a rotation must deliver; OAuth2 tokens are issued at run time and
	// not listed. Tests compare the emulator's decrypted credentials with it.
	Want map[string]map[string]string
	env  map[string]string
}

// LookupEnv is the environment the demo's env sources see.
func (d *Demo) LookupEnv(name string) (string, bool) {
	v, ok := d.env[name]
	return v, ok
}

// Close stops the emulators.
func (d *Demo) Close() error { return d.Stack.Close() }

// Start starts the emulators, seeds them and writes the inventory.
func Start(o Options) (*Demo, error) {
	st, err := emulator.StartStack(emulator.StackOptions{})
	if err != nil {
		return nil, err
	}
	d := &Demo{Stack: st, env: map[string]string{SASEnv: "sv=2024-11-04&ss=b&srt=co&sp=rl&se=2030-01-01&sig=" + secretText()}}
	if err := d.seed(o); err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

func (d *Demo) seed(o Options) error {
	st := d.Stack
	for id, bits := range map[string]int{Gateway1024: 1024, Gateway2048: 2048} {
		if err := st.PowerBI.AddGateway(id, bits); err != nil {
			return err
		}
	}
	for _, e := range Catalog() {
		add := st.PowerBI.AddDatasource
		if e.Gateway == CloudGateway {
			add = st.PowerBI.AddCloudDatasource
		}
		if err := add(e.Gateway, e.ID, e.Type); err != nil {
			return err
		}
	}
	if err := d.seedEstate(); err != nil {
		return err
	}
	if o.Fail == FailRejected {
		// The database's password changed behind Key Vault's back.
		accept := map[string]string{"username": "svc_powerbi", "password": secretText()}
		if err := st.PowerBI.SetBackend(Gateway2048, Catalog()[0].ID, accept); err != nil {
			return err
		}
	}
	// A user someone added by hand: rotatord leaves it alone (no prune).
	st.PowerBI.SetUsers(Gateway2048, Catalog()[0].ID, []emulator.User{
		{DatasourceAccessRight: "Read", EmailAddress: "legacy@contoso.com", PrincipalType: "User"},
	})

	in := 30 * 24 * time.Hour
	attrs := emulator.SecretAttributes{Expires: time.Now().Add(in).Truncate(time.Second)}
	secrets := map[string]string{
		"sales-sql-password": secretText(),
		"hr-username":        `CONTOSO\svc_hr`,
		"hr-password":        secretText(),
		"warehouse-key":      secretText(),
	}
	d.Want = make(map[string]map[string]string)
	fabricSecrets, err := d.seedFabric(o.Dir)
	if err != nil {
		return err
	}
	maps.Copy(secrets, fabricSecrets)
	versions := make(map[string]string)
	for name, v := range secrets {
		if o.Fail != "" && name == o.Fail+"-password" {
			continue // the failing data source's secret is missing
		}
		versions[name] = st.KeyVault.SetSecret(name, secret.FromString(v), attrs)
	}
	ledgerKey := secretText()
	maps.Copy(d.Want, map[string]map[string]string{
		"sales-sql":     {"username": "svc_powerbi", "password": secrets["sales-sql-password"]},
		"hr-fileshare":  {"username": secrets["hr-username"], "password": secrets["hr-password"]},
		"ledger-key":    {"key": ledgerKey},
		"blob-sas":      {"token": d.env[SASEnv]},
		"public-feed":   {},
		"warehouse-key": {"key": secrets["warehouse-key"]},
	})
	write := func(name string, data []byte) error { return writeFile(o.Dir, name, data) }
	if err := write("client-secret", st.ClientSecret.Reveal()); err != nil {
		return err
	}
	if o.Fail != "ledger-key" {
		if err := write("ledger-key", []byte(ledgerKey+"\n")); err != nil {
			return err
		}
	}
	if o.Fail == "blob-sas" {
		delete(d.env, SASEnv)
	}

	var buf bytes.Buffer
	err = template.Must(template.New("inventory").Parse(inventoryTemplate)).Execute(&buf, map[string]string{
		"PowerBIURL":       st.PowerBIURL,
		"TenantID":         st.TenantID,
		"ClientID":         st.ClientID,
		"AuthorityURL":     st.AuthorityURL,
		"KeyVaultURL":      st.KeyVaultURL,
		"Dir":              o.Dir,
		"Listen":           o.Listen,
		"Gateway1024":      Gateway1024,
		"Gateway2048":      Gateway2048,
		"CloudGateway":     CloudGateway,
		"WarehouseVersion": versions["warehouse-key"],
		"Workspace1":       Workspace1,
		"Workspace2":       Workspace2,
		"FabricURL":        st.FabricURL,
		"LakeTenant":       LakeTenant,
		"LakeClient":       LakeClient,
		"ClusterGroup":     ClusterGroup,
	})
	if err != nil {
		return fmt.Errorf("demo inventory: %w", err)
	}
	d.ConfigPath = filepath.Join(o.Dir, "rotatord.yaml")
	return write("rotatord.yaml", buf.Bytes())
}

// seedEstate gives the data sources their descriptions and adds what only
// discover sees: the workspaces' datasets and a single sign-on data source.
func (d *Demo) seedEstate() error {
	pbi := d.Stack.PowerBI
	byName := map[string]Entry{}
	described := info()
	for _, e := range Catalog() {
		byName[e.Name] = e
		if err := pbi.SetDatasourceInfo(e.Gateway, e.ID, described[e.Name]); err != nil {
			return err
		}
	}
	if err := pbi.AddDatasource(Gateway2048, SSODatasource, "OAuth2"); err != nil {
		return err
	}
	sso := emulator.DatasourceInfo{Name: "Finance DWH (SSO)", Type: "Sql", EndUserOAuth2: true,
		ConnectionDetails: map[string]string{"server": "dwh.contoso.local", "database": "finance"}}
	if err := pbi.SetDatasourceInfo(Gateway2048, SSODatasource, sso); err != nil {
		return err
	}
	bound := func(names ...string) []emulator.DatasetSource {
		var out []emulator.DatasetSource
		for _, n := range names {
			out = append(out, emulator.DatasetSource{GatewayID: byName[n].Gateway, DatasourceID: byName[n].ID})
		}
		return out
	}
	for _, ws := range []string{Workspace1, Workspace2} {
		if err := pbi.AddWorkspace(ws); err != nil {
			return err
		}
	}
	if err := pbi.AddDataset(Workspace1, "8b7c6d5e-4f3a-4b2c-9d1e-0f9a8b7c6d5e", "Sales", bound("sales-sql", "lake-oauth")...); err != nil {
		return err
	}
	return pbi.AddDataset(Workspace2, "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f", "Budget", bound("lake-oauth", "blob-sas", "ledger-key")...)
}

// writeFile writes a file only its owner may read, as rotatord wants its
// secret files.
func writeFile(dir, name string, data []byte) error {
	return os.WriteFile(filepath.Join(dir, name), data, 0o600)
}

// secretText is a fresh random secret value.
func secretText() string { return rand.Text() }
