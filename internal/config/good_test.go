package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/credentials"
)

const (
	gw1 = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	gw2 = "7a3e1c55-0b9d-4f2a-8c6e-1d4b7f9a2e60"
)

// stock is a data source as the built-in defaults leave it; cases change
// only what their file sets.
func stock(name, gateway, id string, t credentials.Type, encrypt EncryptMode, line int, src Source) Datasource {
	return Datasource{
		Name: name, GatewayID: gateway, DatasourceID: id, CredentialType: t, Encrypt: encrypt,
		Schedule: "@every 24h", Jitter: 5 * time.Minute,
		PrivacyLevel: "Organizational", EncryptedConnection: "Encrypted",
		Retry:  Retry{Attempts: 5, InitialBackoff: 2 * time.Second, MaxBackoff: 2 * time.Minute},
		Verify: true,
		Source: src, Line: line,
	}
}

// connection is stock for a Fabric connection: a connection_id, no
// gateway, data source or encrypt.
func connection(name, id string, t credentials.Type, line int, src Source) Datasource {
	ds := stock(name, "", "", t, "", line, src)
	ds.ConnectionID = id
	return ds
}

func fields(kv ...any) Fields {
	var fs Fields
	for i := 0; i < len(kv); i += 3 {
		fs = fs.set(kv[i].(string), Ref{Kind: kv[i+1].(RefKind), Name: kv[i+2].(string)})
	}
	return fs
}

func stockConfig(path string, ds ...Datasource) Config {
	return Config{
		Path:        path,
		PowerBI:     PowerBI{APIURL: DefaultAPIURL, Scope: DefaultScope, MaxConcurrency: 8},
		Fabric:      Fabric{APIURL: "https://api.fabric.microsoft.com/v1", Scope: "https://api.fabric.microsoft.com/.default", MaxConcurrency: 8},
		Auth:        Auth{Method: "default"},
		KeyVaults:   map[string]string{},
		Listen:      "127.0.0.1:9464",
		StateFile:   "/var/lib/rotatord/state.json",
		Datasources: ds,
	}
}

func TestLoadGood(t *testing.T) {
	john := User{Email: "john@contoso.com", PrincipalType: "User", Access: "Read"}
	analysts := User{Email: "analysts@contoso.com", PrincipalType: "Group", Access: "ReadOverrideEffectiveIdentity", DisplayName: "Analysts"}
	app := User{Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App", Access: "ReadOverrideEffectiveIdentity"}

	cases := map[string]struct {
		path string
		want func() Config // built fresh per case so cases cannot share maps
	}{
		"minimal: every default": {
			path: "testdata/good/minimal.yaml",
			want: func() Config {
				return stockConfig("testdata/good/minimal.yaml",
					stock("ledger-key", gw1, "4d7a2e90-6b1f-4c8d-9e3a-5f0b7c2d1e86", credentials.Key, "gateway", 3,
						Source{Fields: fields("key", RefEnv, "LEDGER_KEY")}))
			},
		},
		"verify, rollback and verify_every: defaults reach where they apply": {
			path: "testdata/good/verify.yaml",
			want: func() Config {
				sales := stock("sales-sql", gw1, "252b9de8-d915-4788-aaeb-ec8c2395f970", credentials.Basic, "gateway", 7,
					Source{KeyVault: "main", Fields: fields("username", RefLiteral, "svc", "password", RefKeyVault, "sales-sql-password")})
				sales.Rollback, sales.VerifyEvery = true, time.Hour
				ledger := stock("ledger-key", gw1, "4d7a2e90-6b1f-4c8d-9e3a-5f0b7c2d1e86", credentials.Key, "gateway", 13,
					Source{Fields: fields("key", RefFile, "/run/k")})
				quiet := stock("quiet", gw1, "5c0f8a51-7f3e-4c1e-9d0b-2a6b8e4f1c37", credentials.Key, "gateway", 20,
					Source{KeyVault: "main", Fields: fields("key", RefKeyVault, "quiet-key")})
				quiet.Verify, quiet.VerifyEvery = false, 90*time.Minute
				c := stockConfig("testdata/good/verify.yaml", sales, ledger, quiet)
				c.KeyVaults = map[string]string{"main": "https://contoso-kv.vault.azure.net/"}
				c.Lines = Lines{KeyVaults: map[string]int{"main": 2}}
				return c
			},
		},
		"anonymous with an App user and an empty source": {
			path: "testdata/good/anonymous-only.yaml",
			want: func() Config {
				ds := stock("public-feed", gw1, "8c5d0e34-2f9b-4a7d-b6c1-3e8a5f2d9b70", credentials.Anonymous, "none", 2, Source{})
				ds.Users = []User{{Identifier: app.Identifier, PrincipalType: "App", Access: "Read"}}
				return stockConfig("testdata/good/anonymous-only.yaml", ds)
			},
		},
		"overrides: defaults, per-datasource wins, anchors, sovereign cloud": {
			path: "testdata/good/overrides.yaml",
			want: func() Config {
				c := stockConfig("testdata/good/overrides.yaml")
				c.PowerBI = PowerBI{APIURL: "https://api.powerbigov.us/v1.0/myorg", Scope: "https://analysis.usgovcloudapi.net/powerbi/api/.default", MaxConcurrency: 2}
				c.Auth = Auth{Method: "client_secret", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "0b5e3f1a-2c4d-4e6f-8a9b-1c2d3e4f5a6b",
					ClientSecretFile: "/run/credentials/rotatord.service/client-secret", AuthorityHost: "https://login.microsoftonline.us/"}
				c.KeyVaults = map[string]string{"main": "https://contoso-kv.vault.usgovcloudapi.net/"}
				c.Listen, c.StateFile = ":9464", "/srv/rotatord/state.json"
				withDefaults := func(ds Datasource) Datasource {
					ds.Schedule, ds.Jitter, ds.PrivacyLevel, ds.EncryptedConnection = "@daily", 0, "Private", "NotEncrypted"
					ds.Retry = Retry{Attempts: 7, InitialBackoff: time.Second, MaxBackoff: 30 * time.Second}
					return ds
				}
				primary := withDefaults(stock("sql.primary", strings.ToUpper(gw1), "252b9de8-d915-4788-aaeb-ec8c2395f970", credentials.Basic, "gateway", 25,
					Source{KeyVault: "main", Fields: fields("username", RefFile, "/run/secrets/sql-user", "password", RefKeyVault, "sql-password")}))
				primary.Jitter, primary.PrivacyLevel, primary.Retry.MaxBackoff = 90*time.Second, "None", time.Minute
				primary.SkipUnchanged, primary.Prune = true, true // skip_unchanged from defaults: a Key Vault source
				primary.Users = []User{john, analysts}
				replica := withDefaults(stock("sql_replica", gw1, "5c0f8a51-7f3e-4c1e-9d0b-2a6b8e4f1c37", credentials.Windows, "gateway", 45,
					Source{Fields: fields("username", RefEnv, "REPLICA_USER", "password", RefEnv, "REPLICA_PASSWORD")}))
				replica.Schedule, replica.EncryptedConnection = "30 2 * * 1-5", "Encrypted"
				replica.Users = []User{john, analysts} // *analysts alias
				// skip_unchanged from defaults does not reach a source without Key Vault.
				blob := withDefaults(stock("blob", gw2, "6e1b3f72-8d4a-4b9c-a2e5-0c7f9d1b3a58", credentials.SAS, "none", 57,
					Source{Fields: fields("token", RefFile, "/run/secrets/blob-sas")}))
				c.Datasources = []Datasource{primary, replica, blob}
				c.Lines = Lines{StateFile: 16, Listen: 15, Auth: 8, ClientSecretFile: 11, KeyVaults: map[string]int{"main": 14}}
				return c
			},
		},
		"fabric: connections of every type, a Power BI data source alongside": {
			path: "testdata/good/fabric.yaml",
			want: func() Config {
				c := stockConfig("testdata/good/fabric.yaml")
				c.Fabric = Fabric{APIURL: "https://api.fabric.microsoft.us/v1", Scope: "https://api.fabric.microsoft.us/.default", MaxConcurrency: 64, Declared: true}
				c.KeyVaults = map[string]string{"main": "https://contoso-kv.vault.azure.net/"}
				c.Lines = Lines{KeyVaults: map[string]int{"main": 6}}
				sp := connection("sp-shorthand", "70B17680-48F1-4729-9DF6-02576647DC3A", credentials.ServicePrincipal, 10,
					Source{KeyVault: "main", Version: "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a14", Fields: fields(
						"tenant_id", RefLiteral, "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id", RefLiteral, "0b5e3f1a-2c4d-4e6f-8a9b-1c2d3e4f5a6b",
						"client_secret", RefKeyVault, "sp-secret")})
				sp.SkipUnchanged, sp.Rollback = true, true
				vault := connection("keypair-vault", "2c9e4f6a-1b3d-4e5f-8a7b-9c0d1e2f3a4b", credentials.KeyPair, 20,
					Source{KeyVault: "main", Fields: fields("identifier", RefLiteral, "SVC", "private_key", RefKeyVault, "key", "passphrase", RefKeyVault, "pass")})
				vault.Rollback, vault.Prune = true, true
				vault.Users = []User{{Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "User", Role: "Owner"}}
				clear := connection("keypair-clear", "8d1f3a5c-7e9b-4c2d-a4f6-0b8c1e3d5f7a", credentials.KeyPair, 27,
					Source{KeyVault: "main", Fields: fields("identifier", RefLiteral, "SVC", "private_key", RefKeyVault, "key")})
				clear.Rollback = true // the passphrase it lacks is optional
				file := connection("keypair-file", "4b6d8f0a-2c4e-4a6b-9d8f-1a3c5e7b9d0f", credentials.KeyPair, 31,
					Source{Fields: fields("identifier", RefLiteral, "SVC", "private_key", RefFile, "/run/key.pem")})
				workspace := connection("workspace", "5a7e2c14-9b3d-4f6a-8e1c-2d4b6f8a0c3e", credentials.WorkspaceIdentity, 35, Source{})
				pbi := stock("power-bi-alongside", gw1, "81c28791-59a2-4830-8ae7-13687758ed4b", credentials.Key, "gateway", 39,
					Source{KeyVault: "main", Fields: fields("key", RefKeyVault, "k")})
				pbi.Rollback = true
				c.Datasources = []Datasource{sp, vault, clear, file, workspace, pbi}
				return c
			},
		},
		"config.example.yaml": {
			path: "../../config.example.yaml",
			want: func() Config {
				c := stockConfig("../../config.example.yaml")
				c.Fabric.Declared = true
				c.Auth = Auth{Method: "managed_identity", ClientID: "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"}
				c.KeyVaults = map[string]string{"main": "https://contoso-kv.vault.azure.net/", "finance": "https://contoso-finance-kv.vault.azure.net/"}
				sales := stock("sales-sql", gw1, "252b9de8-d915-4788-aaeb-ec8c2395f970", credentials.Basic, "gateway", 55,
					Source{KeyVault: "main", Fields: fields("username", RefLiteral, "svc_powerbi", "password", RefKeyVault, "sales-sql-password")})
				sales.Schedule, sales.SkipUnchanged = "0 3 * * *", true
				sales.Rollback, sales.VerifyEvery = true, time.Hour
				sales.Users = []User{john, app}
				olap := stock("finance-olap", gw1, "5c0f8a51-7f3e-4c1e-9d0b-2a6b8e4f1c37", credentials.Windows, "gateway", 74,
					Source{KeyVault: "finance", Version: "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a14",
						Fields: fields("username", RefKeyVault, "olap-user", "password", RefKeyVault, "olap-password")})
				olap.PrivacyLevel, olap.Retry.Attempts, olap.Prune = "Private", 3, true
				olap.Users = []User{
					{Email: "finance-analysts@contoso.com", PrincipalType: "Group", Access: "Read"},
					{Email: "jane@contoso.com", PrincipalType: "User", Access: "Read", DisplayName: "Jane Doe"},
				}
				lake := stock("lake-oauth", gw2, "9e2d4b61-3c7a-4e8f-a5b0-6f1c8d3e2a97", credentials.OAuth2, "none", 93,
					Source{OAuthScope: "https://storage.azure.com/.default"})
				lake.Schedule, lake.Jitter = "@every 45m", 2*time.Minute
				crm := stock("crm-oauth", gw2, "2b8f6d13-9a4c-4e7b-b1d5-8c3e0f7a6b24", credentials.OAuth2, "none", 104,
					Source{KeyVault: "main", Fields: fields("access_token", RefKeyVault, "crm-access-token")})
				crm.Schedule = "@every 30m"
				ledger := stock("ledger-key", gw1, "4d7a2e90-6b1f-4c8d-9e3a-5f0b7c2d1e86", credentials.Key, "gateway", 115,
					Source{Fields: fields("key", RefFile, "/run/credentials/rotatord.service/ledger-key")})
				blob := stock("blob-sas", gw2, "6e1b3f72-8d4a-4b9c-a2e5-0c7f9d1b3a58", credentials.SAS, "none", 123,
					Source{Fields: fields("token", RefEnv, "BLOB_SAS_TOKEN")})
				blob.EncryptedConnection = "NotEncrypted"
				feed := stock("public-feed", gw1, "8c5d0e34-2f9b-4a7d-b6c1-3e8a5f2d9b70", credentials.Anonymous, "none", 133, Source{})
				feed.PrivacyLevel = "Public"
				feed.Users = []User{john}
				group := User{Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "Group", Role: "User"}
				warehouse := connection("warehouse-cluster", "70b17680-48f1-4729-9df6-02576647dc3a", credentials.Basic, 147,
					Source{KeyVault: "main", Fields: fields("username", RefLiteral, "svc_fabric", "password", RefKeyVault, "warehouse-password")})
				warehouse.Users = []User{group, {Identifier: "5a7e2c14-9b3d-4f6a-8e1c-2d4b6f8a0c3e", PrincipalType: "ServicePrincipal", Role: "Owner"}}
				lakehouse := connection("lakehouse-sp", "2c9e4f6a-1b3d-4e5f-8a7b-9c0d1e2f3a4b", credentials.ServicePrincipal, 156,
					Source{KeyVault: "main", Fields: fields("tenant_id", RefLiteral, "72f988bf-86f1-41af-91ab-2d7cd011db47",
						"client_id", RefLiteral, "0b5e3f1a-2c4d-4e6f-8a9b-1c2d3e4f5a6b", "client_secret", RefKeyVault, "lakehouse-sp-secret")})
				snowflake := connection("snowflake-keypair", "8d1f3a5c-7e9b-4c2d-a4f6-0b8c1e3d5f7a", credentials.KeyPair, 167,
					Source{KeyVault: "main", Fields: fields("identifier", RefLiteral, "SVC_FABRIC",
						"private_key", RefKeyVault, "snowflake-private-key", "passphrase", RefEnv, "SNOWFLAKE_KEY_PASSPHRASE")})
				adls := connection("adls-workspace", "4b6d8f0a-2c4e-4a6b-9d8f-1a3c5e7b9d0f", credentials.WorkspaceIdentity, 177, Source{})
				adls.Users = []User{{Identifier: group.Identifier, PrincipalType: "Group", Role: "UserWithReshare"}}
				c.Datasources = []Datasource{sales, olap, lake, crm, ledger, blob, feed, warehouse, lakehouse, snowflake, adls}
				c.Lines = Lines{StateFile: 27, Listen: 26, Auth: 17, KeyVaults: map[string]int{"main": 23, "finance": 24}}
				c.Discover = Discover{Every: 24 * time.Hour, Workspaces: []string{"3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"}}
				return c
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Load(t.Context(), tc.path)
			if err != nil {
				t.Fatalf("Load(%s): %v", tc.path, err)
			}
			data, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want()
			want.Hash = sha256.Sum256(data)
			want.indexNames()
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Load(%s):\n got %+v\nwant %+v", tc.path, *got, want)
				for i := range min(len(got.Datasources), len(want.Datasources)) {
					if !reflect.DeepEqual(got.Datasources[i], want.Datasources[i]) {
						t.Errorf("datasources[%d]:\n got %+v\nwant %+v", i, got.Datasources[i], want.Datasources[i])
					}
				}
			}
		})
	}
}

// The example must show every credential type and every kind of source, so
// that it stays the one file a newcomer needs to read.
func TestExampleCoversEverything(t *testing.T) {
	cfg, err := Load(t.Context(), "../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	types := map[credentials.Type]bool{}
	kinds := map[RefKind]bool{}
	var pinned, scope, vaultToken, prune, skip, email, app, powerbi, fabric, role, optional bool
	for _, ds := range cfg.Datasources {
		types[ds.CredentialType] = true
		powerbi, fabric = powerbi || !ds.Fabric(), fabric || ds.Fabric()
		_, hasPassphrase := ds.Source.Fields.Get(credentials.FieldPassphrase)
		optional = optional || hasPassphrase
		for _, f := range ds.Source.Fields {
			kinds[f.Kind] = true
			vaultToken = vaultToken || (f.Name == "access_token" && f.Kind == RefKeyVault)
		}
		pinned = pinned || ds.Source.Version != ""
		scope = scope || ds.Source.OAuthScope != ""
		prune, skip = prune || ds.Prune, skip || ds.SkipUnchanged
		for _, u := range ds.Users {
			email = email || u.Email != ""
			app = app || u.PrincipalType == "App"
			role = role || u.Role != ""
		}
	}
	for _, ty := range credentials.Types() {
		if !types[ty] {
			t.Errorf("no %s data source", ty)
		}
	}
	for _, k := range []RefKind{RefLiteral, RefKeyVault, RefFile, RefEnv} {
		if !kinds[k] {
			t.Errorf("no %s source", k)
		}
	}
	for what, ok := range map[string]bool{"pinned version": pinned, "oauth_scope": scope, "access_token from Key Vault": vaultToken,
		"prune": prune, "skip_unchanged": skip, "user by email": email, "App user": app,
		"Power BI data source": powerbi, "Fabric connection": fabric, "connection role": role, "optional field (passphrase)": optional} {
		if !ok {
			t.Errorf("no %s", what)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(t.Context(), filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestHashFollowsContent(t *testing.T) {
	data, err := os.ReadFile("testdata/good/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, errA := Parse("a", data)
	b, errB := Parse("b", data)
	c, errC := Parse("a", append(data, []byte("# a comment changes the file\n")...))
	if err := errors.Join(errA, errB, errC); err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash {
		t.Error("same bytes, different hash")
	}
	if a.Hash == c.Hash {
		t.Error("different bytes, same hash")
	}
}

func TestDatasourceLookup(t *testing.T) {
	cfg, err := Load(t.Context(), "../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range cfg.Datasources {
		got, ok := cfg.Datasource(want.Name)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Datasource(%q) = %+v, %v", want.Name, got, ok)
		}
	}
	if _, ok := cfg.Datasource("no-such"); ok {
		t.Error(`Datasource("no-such") found something`)
	}
	if _, ok := cfg.Datasource("no-such-datasource"); ok {
		t.Error("Datasource found a name the inventory does not have")
	}
}

func TestLogValue(t *testing.T) {
	cfg, err := Load(t.Context(), "testdata/good/overrides.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config loaded", "config", cfg)
	line := buf.String()
	for _, want := range []string{"config.path=testdata/good/overrides.yaml", "config.datasources=3", "config.listen=:9464", "config.auth_method=client_secret"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	// The summary names no data source, user or secret location.
	for _, leak := range []string{"sql-password", "client-secret", "john@", "REPLICA"} {
		if strings.Contains(line, leak) {
			t.Errorf("log line shows %q: %s", leak, line)
		}
	}
}

// The inventory's field names must be the ones the credentials package
// builds JSON from, or a valid config would fail at rotation time.
func TestSourceKeysMatchCredentialFields(t *testing.T) {
	for _, ty := range credentials.Types() {
		keys := sourceKeys(ty, true)
		for _, f := range ty.Fields() {
			if credentials.IsLiteral(f) && !slices.Contains(keys, f) {
				t.Errorf("%s: no key %s", ty, f)
			}
			if literalOnly(f) {
				continue
			}
			for _, suffix := range []string{"_secret", "_file", "_env"} {
				if !slices.Contains(keys, f+suffix) {
					t.Errorf("%s: no key %s%s", ty, f, suffix)
				}
			}
		}
		sf := secretField(ty)
		if len(ty.Fields()) > 0 && (!slices.Contains(ty.Fields(), sf) || credentials.IsLiteral(sf) || ty.Optional(sf)) {
			t.Errorf("%s: shorthand field %q is not a required secret field of the type", ty, sf)
		}
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := Errors{{File: "c.yaml", Line: 9, Msg: "b"}, {File: "c.yaml", Line: 2, Msg: "a"}, {File: "c.yaml", Line: 9, Msg: "b"}, {File: "c.yaml", Msg: "no line"}}.finish()
	got := (&errs).Error()
	want := "c.yaml: no line\nc.yaml:2: a\nc.yaml:9: b"
	if got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var one Error
	if !errors.As(error(&errs), &one) || one.Msg != "no line" {
		t.Errorf("errors.As(*Errors, *Error) = %v", one)
	}
}

// Every inventory under testdata/good loads, including design.yaml, the
// DESIGN.md example with its ids filled in.
func TestGoodFilesLoad(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata/good: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := Load(t.Context(), f); err != nil {
			t.Errorf("Load(%s): %v", f, err)
		}
	}
}
