package config

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/credentials"

	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/scheduler"
)

// FuzzParse feeds arbitrary bytes to Parse. The seed corpus in
// testdata/fuzz/FuzzParse holds the good and bad inventories, so mutations
// start from files that reach deep into validation.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		checkSameAsWhole(t, data, cfg, err)
		if err != nil {
			checkErrors(t, err)
			return
		}
		checkAccepted(t, cfg, data)
		again, err := Parse("fuzz.yaml", data)
		if err != nil || !reflect.DeepEqual(cfg, again) {
			t.Fatalf("second Parse of the same bytes differs: %v", err)
		}
	})
}

// checkErrors: a rejection is a non-empty, sorted *Errors of single-line
// messages, each naming the file.
func checkErrors(t *testing.T, err error) {
	var errs *Errors
	if !errors.As(err, &errs) || len(*errs) == 0 {
		t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
	}
	for i, e := range *errs {
		if e.File != "fuzz.yaml" || e.Line < 0 || e.Msg == "" || strings.ContainsAny(e.Msg, "\n\r") {
			t.Fatalf("malformed error %#v", e)
		}
		if i > 0 && e.Line < (*errs)[i-1].Line {
			t.Fatalf("errors out of line order: %v", err)
		}
	}
}

// checkAccepted: what Parse accepts, the rest of rotatord can use without
// checking again.
func checkAccepted(t *testing.T, cfg *Config, data []byte) {
	if cfg.Hash != sha256.Sum256(data) {
		t.Fatal("Hash is not the sha256 of the input")
	}
	if cfg.Fabric.MaxConcurrency < 1 || cfg.Fabric.MaxConcurrency > MaxFabricConcurrency || cfg.Fabric.APIURL == "" || cfg.Fabric.Scope == "" {
		t.Fatalf("fabric settings: %+v", cfg.Fabric)
	}
	if cfg.PowerBI.MaxConcurrency < 1 || cfg.Listen == "" || cfg.StateFile == "" || cfg.Auth.Method == "" {
		t.Fatalf("top-level default missing: %+v", cfg)
	}
	if len(cfg.Datasources) == 0 {
		t.Fatal("accepted an inventory without data sources")
	}
	names, connections := map[string]bool{}, map[string]bool{}
	for _, ds := range cfg.Datasources {
		if ds.Name == "" || names[ds.Name] {
			t.Fatalf("name %q empty or not unique", ds.Name)
		}
		names[ds.Name] = true
		if err := scheduler.CheckSchedule(ds.Schedule); err != nil {
			t.Fatalf("%s: schedule %q refused by the scheduler: %v", ds.Name, ds.Schedule, err)
		}
		if ds.Jitter < 0 || ds.Retry.Attempts < 1 || ds.Retry.InitialBackoff <= 0 || ds.Retry.InitialBackoff > ds.Retry.MaxBackoff {
			t.Fatalf("%s: bad timing %v %+v", ds.Name, ds.Jitter, ds.Retry)
		}
		if _, err := credentials.ParseType(string(ds.CredentialType)); err != nil {
			t.Fatalf("%s: %v", ds.Name, err)
		}
		if ds.Fabric() {
			id := strings.ToLower(ds.ConnectionID)
			if !pbi.IsUUID(ds.ConnectionID) || ds.GatewayID != "" || ds.DatasourceID != "" || ds.Encrypt != "" || connections[id] {
				t.Fatalf("%s: connection %q with gateway %q, data source %q, encrypt %q (or a second entry for it)", ds.Name, ds.ConnectionID, ds.GatewayID, ds.DatasourceID, ds.Encrypt)
			}
			connections[id] = true
			if ds.CredentialType == credentials.OAuth2 {
				t.Fatalf("%s: OAuth2 on a Fabric connection", ds.Name)
			}
		} else {
			if !pbi.IsUUID(ds.GatewayID) || !pbi.IsUUID(ds.DatasourceID) || (ds.Encrypt != EncryptGateway && ds.Encrypt != EncryptNone) {
				t.Fatalf("%s: ids %q %q, encrypt %q", ds.Name, ds.GatewayID, ds.DatasourceID, ds.Encrypt)
			}
			if ds.CredentialType.FabricOnly() {
				t.Fatalf("%s: %s on a Power BI data source", ds.Name, ds.CredentialType)
			}
		}
		checkSource(t, ds)
		if ds.Prune && len(ds.Users) == 0 {
			t.Fatalf("%s: prune without users", ds.Name)
		}
		for _, u := range ds.Users {
			switch {
			case ds.Fabric() && (!pbi.IsUUID(u.Identifier) || u.Email != "" || u.Access != "" || u.DisplayName != "" || u.Role == "" || u.PrincipalType == ""):
				t.Fatalf("%s: connection user %+v", ds.Name, u)
			case !ds.Fabric() && ((u.Email == "") == (u.Identifier == "") || u.Access == "" || u.PrincipalType == "" || u.Role != ""):
				t.Fatalf("%s: user %+v", ds.Name, u)
			}
		}
	}
}

func checkSource(t *testing.T, ds Datasource) {
	src := ds.Source
	for _, field := range ds.CredentialType.Fields() {
		ref, ok := src.Fields.Get(field)
		if !ok && !(field == credentials.FieldAccessToken && src.OAuthScope != "") && !ds.CredentialType.Optional(field) {
			t.Fatalf("%s: no source for %s", ds.Name, field)
		}
		if ok && ref.Kind == RefLiteral && !credentials.IsLiteral(field) {
			t.Fatalf("%s: literal %s accepted", ds.Name, field)
		}
		if ok && literalOnly(field) && (ref.Kind != RefLiteral || ref.Name == "") {
			t.Fatalf("%s: %s is %s %q, want a literal", ds.Name, field, ref.Kind, ref.Name)
		}
		if ok && (field == credentials.FieldTenantID || field == credentials.FieldClientID) && !pbi.IsUUID(ref.Name) {
			t.Fatalf("%s: %s %q is no UUID", ds.Name, field, ref.Name)
		}
	}
	if ds.Rollback && !versionedSecrets(src, ds.CredentialType) {
		t.Fatalf("%s: rollback without every secret field in Key Vault", ds.Name)
	}
	for i := 1; i < len(src.Fields); i++ {
		if src.Fields[i-1].Name >= src.Fields[i].Name {
			t.Fatalf("%s: fields not sorted and unique: %v", ds.Name, src.Fields)
		}
	}
	if len(src.Fields) > len(ds.CredentialType.Fields()) {
		t.Fatalf("%s: extra fields %v", ds.Name, src.Fields)
	}
	vault := usesKeyVault(src)
	if vault != (src.KeyVault != "") || (ds.SkipUnchanged && !vault) || (src.Version != "" && !vault) {
		t.Fatalf("%s: Key Vault use inconsistent: %+v skip=%v", ds.Name, src, ds.SkipUnchanged)
	}
}

// An inventory of aliases to lists of aliases must not cost the product of
// their lengths: the walk stops following aliases after maxAliases.
func TestAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-users: &u\n")
	for range 2000 {
		b.WriteString("  - *user\n")
	}
	b.WriteString("datasources:\n  - &ds {users: *u}\n")
	for range 2000 {
		b.WriteString("  - *ds\n")
	}
	data := "user: &user {email: a@contoso.com, access: Read}\n" + b.String()
	_, err := Parse("bomb.yaml", []byte(data))
	if err == nil || !strings.Contains(err.Error(), "more than 1000 uses of YAML aliases") {
		t.Fatalf("Parse(alias bomb) error does not name the alias budget: %.300v", err)
	}
}
