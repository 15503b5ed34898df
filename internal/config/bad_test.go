package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.err from the current messages")

// badCases pairs every testdata/bad/NAME.yaml with the rule it breaks; the
// exact expected text is the golden file NAME.err, reviewed like an API.
var badCases = map[string]string{
	"syntax":              "YAML syntax errors carry yaml's line",
	"syntax-tab":          "a tab in the indentation",
	"invalid-utf8":        "a byte that is not UTF-8 has a line (yaml.v3 gives none)",
	"empty":               "a file with no document",
	"top-level-list":      "the top level must be a mapping",
	"second-document":     "a second document would be silently ignored",
	"unknown-key-top":     "unknown keys at the top level list the allowed keys",
	"unknown-key-source":  "unknown key inside datasources[2].source",
	"unknown-key-nested":  "unknown keys in powerbi, auth, defaults, retry, data source and user",
	"duplicate-key":       "a key repeated in one mapping",
	"missing-datasources": "datasources is required",
	"empty-datasources":   "at least one data source",
	"wrong-kinds":         "mappings, lists and scalars where another kind belongs",
	"missing-required":    "name, ids, credential_type, encrypt and source are required",
	"duplicate-name":      "names are unique and label-safe",
	"duplicate-target":    "one gateway data source is rotated by one entry only",
	"bad-uuids":           "gateway_id and datasource_id are UUIDs",
	"credential-type":     "credential_type is one of the Power BI types, case-sensitive",
	"encrypt":             "encrypt is gateway or none",
	"schedule":            "schedules parse as 5-field cron or descriptors, @every at least 1s",
	"durations":           "durations are Go durations and not negative",
	"enums":               "privacy_level, encrypted_connection and booleans",
	"retry":               "attempts >= 1, backoffs positive, initial <= max after merging defaults",
	"powerbi":             "api_url https, scope non-empty, max_concurrency >= 1",
	"listen-state":        "listen is host:port, state_file non-empty",
	"keyvault-url":        "key vault URLs are https and names are plain",
	"auth-client-secret":  "client_secret needs tenant_id, client_id and client_secret_file",
	"auth-method":         "auth.method is one of the supported methods",
	"auth-fields":         "auth fields are well-formed and used by the method",
	"auth-default-client": "method default takes no client_id: the credential refuses it (AZURE_CLIENT_ID)",
	"wrong-field":         "a field of another credential type lists the allowed keys",
	"literal-secret":      "a literal secret is refused without echoing it",
	"field-twice":         "each field set once, shorthand not with the long form",
	"missing-field":       "every field of the type has a source",
	"keyvault-refs":       "Key Vault refs need a declared keyvault, and keyvault needs a ref",
	"version":             "version pins a Key Vault secret field only, with a version ID the source takes",
	"ref-names":           "Key Vault secret, env var and file names are checked",
	"oauth2":              "OAuth2 takes exactly one of oauth_scope and an access token",
	"anonymous":           "Anonymous takes no source fields",
	"users":               "email xor identifier, access, principal_type rules, duplicates",
	"skip-unchanged":      "skip_unchanged needs a Key Vault source",
	"prune":               "prune without users would remove everyone",
	"rollback":            "rollback needs Key Vault secrets and verify; verify_every is 0 or at least 1m",
	"discover":            "discover_every is 0 or at least 1m; discover_gateways and discover_workspaces list distinct UUIDs",
	"multiple-errors":     "every problem is reported, sorted by line",
	// High availability.
	"ha-both-states":   "state_blob replaces state_file: not both",
	"ha-lease":         "lease_duration within Azure's 15s-60s, lease_blob not the state blob, known keys",
	"ha-urls":          "blob URLs are https, without a query, and name a container and a blob; 10s is too short",
	"ha-no-state-blob": "ha needs lease_blob and state_blob; whole seconds",
	// Fabric connections.
	"fabric":                "fabric: api_url https without query, scope non-empty, max_concurrency 1 to 64, known keys",
	"fabric-zero":           "fabric: an http api_url, max_concurrency below 1",
	"connection-target":     "connection_id or gateway_id and datasource_id, not both and not neither; connection_id a UUID",
	"duplicate-connection":  "one Fabric connection is rotated by one entry only, ids compared case-insensitively",
	"connection-datasource": "a connection_id that is an entry's datasource_id is that entry's data source: refused, either order, case-insensitively",
	"fabric-encrypt":        "encrypt is refused on a connection, still required on a Power BI data source",
	"fabric-types":          "ServicePrincipal, KeyPair, WorkspaceIdentity on Fabric only; OAuth2 not on Fabric",
	"fabric-sources":        "ServicePrincipal and KeyPair source keys: UUID literals, required fields, optional passphrase, version, rollback",
	"fabric-users":          "a connection's users are role assignments; access, email, display_name refused there and role on Power BI",
}

func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badCases[strings.TrimSuffix(filepath.Base(f), ".yaml")]; !ok {
			t.Errorf("%s has no entry in badCases", f)
		}
	}
	for name, rule := range badCases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", name+".yaml")
			cfg, err := Load(t.Context(), path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want errors (%s)", path, cfg, rule)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load(%s) error is %T, want *Errors: %v", path, err, err)
			}
			got := err.Error() + "\n"
			golden := filepath.Join("testdata", "bad", name+".err")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Load(%s) errors:\n%s\nwant:\n%s", path, got, want)
			}
			for i := 1; i < len(*errs); i++ {
				if (*errs)[i].Line < (*errs)[i-1].Line {
					t.Errorf("errors not sorted by line: %v before %v", (*errs)[i-1], (*errs)[i])
				}
			}
		})
	}
}

// A literal secret must not reach the terminal or a CI log, whatever else
// is wrong around it.
func TestLiteralSecretNeverEchoed(t *testing.T) {
	for _, name := range []string{"literal-secret", "multiple-errors", "fabric-sources"} {
		data, err := os.ReadFile(filepath.Join("testdata", "bad", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(name, data)
		if err == nil {
			t.Fatalf("%s: Parse accepted a literal secret", name)
		}
		for _, value := range []string{"hunter2", "do-not-print", "s3cr3t"} {
			if strings.Contains(err.Error(), value) {
				t.Errorf("%s: error shows the secret %q:\n%v", name, value, err)
			}
		}
		if !strings.Contains(err.Error(), "literal secret not allowed") {
			t.Errorf("%s: error does not explain the literal secret:\n%v", name, err)
		}
	}
}
