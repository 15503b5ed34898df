package config

import (
	"slices"
	"testing"
	"time"
)

func TestDiscoverKeys(t *testing.T) {
	const ds = `
datasources:
  - {name: a, gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934, datasource_id: 252b9de8-d915-4788-aaeb-ec8c2395f970, credential_type: Anonymous, encrypt: none}
`
	tests := map[string]struct {
		yaml string
		want Discover
	}{
		"absent: off, every gateway": {ds, Discover{}},
		"set": {"discover_every: 24h\ndiscover_gateways: [1f69e798-5852-4fdd-ab01-33bb14b6e934]\n" +
			"discover_workspaces:\n  - 3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c\n  - 4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d\n" + ds,
			Discover{Every: 24 * time.Hour, Gateways: []string{"1f69e798-5852-4fdd-ab01-33bb14b6e934"},
				Workspaces: []string{"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d"}}},
		"0 turns it off, null lists are empty": {"discover_every: 0s\ndiscover_gateways:\ndiscover_workspaces: []\n" + ds, Discover{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse("inv.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Discover
			if got.Every != tc.want.Every || !slices.Equal(got.Gateways, tc.want.Gateways) || !slices.Equal(got.Workspaces, tc.want.Workspaces) {
				t.Errorf("Discover = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseSettings(t *testing.T) {
	for name, yaml := range map[string]string{
		"no datasources key":     "keyvaults: {main: https://contoso-kv.vault.azure.net/}\n",
		"empty datasources list": "keyvaults: {main: https://contoso-kv.vault.azure.net/}\ndatasources: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseSettings("base.yaml", []byte(yaml))
			if err != nil || cfg.KeyVaults["main"] == "" || len(cfg.Datasources) != 0 {
				t.Errorf("ParseSettings = %+v, %v; want the vault and no data source", cfg, err)
			}
			if _, err := Parse("base.yaml", []byte(yaml)); err == nil {
				t.Error("Parse accepts an inventory without data sources")
			}
		})
	}
	if _, err := ParseSettings("base.yaml", []byte("listen: nonsense\ndatasources: []\n")); err == nil {
		t.Error("ParseSettings accepts a bad listen")
	}
	if _, err := ParseSettings("base.yaml", []byte("fabric: {max_concurrency: 65}\n")); err == nil {
		t.Error("ParseSettings accepts fabric.max_concurrency 65")
	}
}

// The fabric block reaches the settings discover starts from, and Builtin
// fills in its defaults as Parse does.
func TestFabricSettings(t *testing.T) {
	cfg, err := ParseSettings("base.yaml", []byte("fabric:\n  api_url: https://api.fabric.microsoft.us/v1/\n  max_concurrency: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Fabric{APIURL: "https://api.fabric.microsoft.us/v1", Scope: DefaultFabricScope, MaxConcurrency: 3, Declared: true}
	if cfg.Fabric != want {
		t.Errorf("ParseSettings: Fabric = %+v, want %+v", cfg.Fabric, want)
	}
	builtin := Builtin("none").Fabric
	if builtin != (Fabric{APIURL: "https://api.fabric.microsoft.com/v1", Scope: "https://api.fabric.microsoft.com/.default", MaxConcurrency: 8}) {
		t.Errorf("Builtin: Fabric = %+v", builtin)
	}
	if cfg, err := ParseSettings("base.yaml", []byte("auth: {method: default}\n")); err != nil || cfg.Fabric != builtin {
		t.Errorf("ParseSettings without fabric: %+v, %v; want the built-in %+v", cfg.Fabric, err, builtin)
	}
}

// An inventory of Power BI data sources alone never reaches Fabric.
func TestUsesFabric(t *testing.T) {
	const (
		pbiEntry    = "  - {name: a, gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934, datasource_id: 252b9de8-d915-4788-aaeb-ec8c2395f970, credential_type: Anonymous, encrypt: none}\n"
		fabricEntry = "  - {name: b, connection_id: 70b17680-48f1-4729-9df6-02576647dc3a, credential_type: Anonymous}\n"
	)
	tests := map[string]struct {
		yaml string
		want bool
	}{
		"Power BI only":         {"datasources:\n" + pbiEntry, false},
		"a fabric block":        {"fabric: {max_concurrency: 2}\ndatasources:\n" + pbiEntry, true},
		"a connection_id entry": {"datasources:\n" + pbiEntry + fabricEntry, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse("inventory.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.UsesFabric(); got != tc.want {
				t.Errorf("UsesFabric = %v, want %v", got, tc.want)
			}
		})
	}
}
