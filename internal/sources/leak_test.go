package sources

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

var tokenShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.`)

// assertNoSecrets fails if err, in any formatting, shows a vault canary, the
// env's client secret, a token, or one of extra.
func assertNoSecrets(t *testing.T, err error, env *testEnv, extra ...string) {
	t.Helper()
	forbidden := append([]string{"canary-"}, extra...)
	if env != nil {
		forbidden = append(forbidden, env.clientSecret.RevealString())
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, f := range forbidden {
			if f != "" && strings.Contains(text, f) {
				t.Errorf("error text reveals %q: %s", f, text)
			}
		}
		if tokenShaped.MatchString(text) {
			t.Errorf("error text holds a token: %s", text)
		}
	}
}

// TestErrorsNeverContainSecrets drives every failure path of the package
// with secret material nearby and checks no error text shows it. The Key
// Vault cases include ones where the vault DID return the value (expired,
// not yet valid) and ones where the SDK error carries a response body.
func TestErrorsNeverContainSecrets(t *testing.T) {
	var errs []error
	collect := func(_ Value, err error) {
		if err == nil {
			t.Fatal("expected an error")
		}
		errs = append(errs, err)
	}

	for name, tc := range kvFailures() {
		t.Run("keyvault "+name, func(t *testing.T) {
			env := newEnv(t, tc.env)
			secretName, version := tc.setup(t, env)
			if tc.vaultURL != nil {
				env.vaultURL = tc.vaultURL(t, env)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if tc.ctx != nil {
				cancel()
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_, err := env.vault(t, env.clientSecretAuth(), tc.kvOpts).Get(ctx, secretName, version)
			if err == nil {
				t.Fatal("expected an error")
			}
			assertNoSecrets(t, err, env)
		})
	}

	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("canary-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	collect(ReadFile(t.Context(), open))
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	collect(ReadFile(t.Context(), empty))
	collect(FromEnv(func(string) (string, bool) { return "  ", true }, "CANARY_EMPTY"))

	env := newEnv(t, envOptions{})
	env.identity.AddApp(testClientID, secret.FromString("canary-real-client-secret"))
	cred, err := NewCredential(env.clientSecretAuth())
	if err != nil {
		t.Fatal(err)
	}
	collect(Token(context.Background(), cred, storageScope))
	env.kv.SetSecret("pw", secret.FromString("canary-kv"), emulator.SecretAttributes{})
	_, err = env.vault(t, env.clientSecretAuth(), KeyVaultOptions{}).Get(context.Background(), "pw", "")
	errs = append(errs, err)

	for _, err := range errs {
		assertNoSecrets(t, err, env)
	}
}
