package demo

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"fmt"
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
	versions := make(map[string]string)
	for name, v := range secrets {
		if o.Fail != "" && name == o.Fail+"-password" {
			continue // the failing data source's secret is missing
		}
		versions[name] = st.KeyVault.SetSecret(name, secret.FromString(v), attrs)
	}
	ledgerKey := secretText()
	d.Want = map[string]map[string]string{
		"sales-sql":     {"username": "svc_powerbi", "password": secrets["sales-sql-password"]},
		"hr-fileshare":  {"username": secrets["hr-username"], "password": secrets["hr-password"]},
		"ledger-key":    {"key": ledgerKey},
		"blob-sas":      {"token": d.env[SASEnv]},
		"public-feed":   {},
		"warehouse-key": {"key": secrets["warehouse-key"]},
	}
	write := func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(o.Dir, name), data, 0o600)
	}
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
	err := template.Must(template.New("inventory").Parse(inventoryTemplate)).Execute(&buf, map[string]string{
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
	})
	if err != nil {
		return fmt.Errorf("demo inventory: %w", err)
	}
	d.ConfigPath = filepath.Join(o.Dir, "rotatord.yaml")
	return write("rotatord.yaml", buf.Bytes())
}

// secretText is a fresh random secret value.
func secretText() string { return rand.Text() }
