package config

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/sources"
)

// keyVaultRefs are secret names and versions that `rotatord check` and the
// Key Vault source must judge alike: line is where check reports the
// problem in keyVaultInventory, 0 when both accept.
var keyVaultRefs = map[string]struct {
	secret, version string
	line            int
}{
	"plain name":               {secret: "sales-sql-password"},
	"one character":            {secret: "a"},
	"127 characters":           {secret: strings.Repeat("a", 127)},
	"latest":                   {secret: "s", version: ""},
	"pinned version":           {secret: "s", version: "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a14"},
	"upper-case hex version":   {secret: "s", version: "0F3C9A7E5B2D4C1E8A6F9B3D7E2C5A14"},
	"underscore":               {secret: "sales_sql", line: 11},
	"dot":                      {secret: "sales.sql", line: 11},
	"path":                     {secret: "../keys/x", line: 11},
	"space":                    {secret: "sales sql", line: 11},
	"newline":                  {secret: "a\nb", line: 11},
	"128 characters":           {secret: strings.Repeat("a", 128), line: 11},
	"empty name":               {secret: "", line: 11},
	"named version":            {secret: "s", version: "v1-latest", line: 12},
	"31 hex digits":            {secret: "s", version: "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a1", line: 12},
	"33 hex digits":            {secret: "s", version: "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a14f", line: 12},
	"non-hex letter":           {secret: "s", version: "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a1g", line: 12},
	"dashed version":           {secret: "s", version: "0f3c9a7e-5b2d-4c1e-8a6f-9b3d7e2c5a14", line: 12},
	"version with a slash":     {secret: "s", version: "abc/def", line: 12},
	"version with a space":     {secret: "s", version: "0f3c9a7e5b2d4c1e 8a6f9b3d7e2c5a14", line: 12},
	"whole version identifier": {secret: "s", version: "https://kv.vault.azure.net/secrets/s/0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a14", line: 12},
}

// keyVaultInventory reads the key of one data source from Key Vault secret
// at version; the secret is on line 11, the version on line 12.
func keyVaultInventory(secret, version string) []byte {
	return fmt.Appendf(nil, `keyvaults:
  main: https://kv.vault.azure.net/
datasources:
  - name: a
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 252b9de8-d915-4788-aaeb-ec8c2395f970
    credential_type: Key
    encrypt: gateway
    source:
      keyvault: main
      secret: %q
      version: %q
`, secret, version)
}

// TestKeyVaultRefsAgree holds check to the Key Vault source: whatever Get
// refuses as invalid, Parse refuses, at the line of the offending key.
func TestKeyVaultRefsAgree(t *testing.T) {
	kv, err := sources.NewKeyVault("https://kv.vault.azure.net/", staticToken{}, sources.KeyVaultOptions{
		Transport: offline{}, MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range keyVaultRefs {
		t.Run(name, func(t *testing.T) {
			_, getErr := kv.Get(context.Background(), tc.secret, tc.version)
			var se *sources.Error
			if refused := errors.As(getErr, &se) && se.Reason == sources.ReasonInvalid; refused != (tc.line != 0) {
				t.Errorf("Key Vault source: Get(%q, %q) = %v, want refused %v", tc.secret, tc.version, getErr, tc.line != 0)
			}

			_, err := Parse("kv.yaml", keyVaultInventory(tc.secret, tc.version))
			switch {
			case tc.line == 0 && err != nil:
				t.Errorf("check refuses what the source takes: %v", err)
			case tc.line != 0 && err == nil:
				t.Errorf("check accepts what the source refuses")
			case tc.line != 0:
				if want := fmt.Sprintf("kv.yaml:%d: ", tc.line); !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), "\n") > 0 {
					t.Errorf("check error = %q, want one error starting %q", err, want)
				}
			}
		})
	}
}

// offline fails every request, so a Get that passes its own checks ends
// as unreachable, never as invalid.
type offline struct{}

func (offline) Do(*http.Request) (*http.Response, error) { return nil, errors.New("offline") }

type staticToken struct{}

func (staticToken) GetToken(context.Context, azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
