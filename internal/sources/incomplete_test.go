package sources

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

// TestIncompleteAnswersAreRetried: a 200 that came without its body, as
// from a proxy that lost the answer, is retried like a dropped connection
// by the Key Vault, Entra ID and managed-identity clients. Read as a success
// it would be a secret or token of zero value.
func TestIncompleteAnswersAreRetried(t *testing.T) {
	tests := map[string]func(t *testing.T, env *testEnv) error{
		"key vault": func(t *testing.T, env *testEnv) error {
			env.kv.SetSecret("pw", secret.FromString("v"), emulator.SecretAttributes{})
			env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Empty: true, Times: 1})
			kv := env.vault(t, env.clientSecretAuth(), KeyVaultOptions{MaxRetries: 1, RetryDelay: time.Millisecond})
			got, err := kv.Get(context.Background(), "pw", "")
			if err == nil && got.Secret.RevealString() != "v" {
				t.Errorf("value %q, want the secret's", got.Secret.RevealString())
			}
			return err
		},
		"entra": func(t *testing.T, env *testEnv) error {
			env.identity.Faults().Inject(emulator.OpEntraToken, emulator.Fault{Empty: true, Times: 1})
			return tokenOf(t, env.clientSecretAuth())
		},
		"managed identity": func(t *testing.T, env *testEnv) error {
			env.useManagedIdentity(t)
			env.identity.Faults().Inject(emulator.OpManagedIdentity, emulator.Fault{Empty: true, Times: 1})
			// A client ID no other test uses: MSAL's cache is process-wide.
			return tokenOf(t, AuthOptions{Method: MethodManagedIdentity, ClientID: "uami-incomplete", Transport: env.client})
		},
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, envOptions{})
			if err := call(t, env); err != nil {
				t.Fatalf("after one empty 200: %v", err)
			}
		})
	}
}

func tokenOf(t *testing.T, o AuthOptions) error {
	t.Helper()
	cred, err := NewCredential(o)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := Token(context.Background(), cred, storageScope)
	if err == nil && tk.Secret.RevealString() == "" {
		t.Error("an empty token")
	}
	return err
}
