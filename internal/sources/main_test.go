package sources

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClientID = "8e1c3a5b-0d2f-4c6e-9a7b-1f2e3d4c5b6a"
	testMIHeader = "identity-header-for-tests"
)

// sharedTokens signs every token in this package's tests. MSAL caches
// managed-identity tokens process-wide (not per credential), so a token
// minted by one test's emulator may be presented in a later test; one
// issuer keeps such tokens valid everywhere.
var sharedTokens *emulator.TokenIssuer

func TestMain(m *testing.M) {
	var err error
	if sharedTokens, err = emulator.NewTokenIssuer(time.Now, time.Hour); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testEnv is one set of Azure emulators on loopback HTTPS.
type testEnv struct {
	ca           *emulator.CA
	client       *http.Client // trusts ca
	identity     *emulator.Identity
	authority    string // Entra authority host and managed-identity base URL
	kv           *emulator.KeyVault
	vaultURL     string
	clientSecret secret.Secret
	secretFile   string // mode 0600, holds clientSecret
}

// envOptions tune newEnv.
type envOptions struct {
	challengeResource string // "" means the loopback trick, so verification can stay on
	acceptedAudience  string // audience the vault accepts; "" means the challenge resource
	now               func() time.Time
}

func newEnv(t *testing.T, o envOptions) *testEnv {
	t.Helper()
	ca, err := emulator.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{ca: ca, client: ca.Client(), clientSecret: secret.FromString("client-secret-" + t.Name())}
	t.Cleanup(env.client.CloseIdleConnections)

	env.identity = emulator.NewIdentity(emulator.IdentityOptions{Tokens: sharedTokens, Header: testMIHeader, TenantID: testTenant})
	env.identity.AddApp(testClientID, env.clientSecret)
	idSrv, err := ca.Serve(env.identity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idSrv.Close() })
	env.authority = idSrv.URL

	kvSrv, err := ca.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kvSrv.Close() })
	// azsecrets verifies that the vault's host:port ends with "." + the
	// challenge resource's host:port. "127.0.0.1:PORT" ends with
	// ".0.0.1:PORT", so a challenge for https://0.0.1:PORT passes the check
	// on loopback and the tests keep the production setting (verification on).
	resource := o.challengeResource
	if resource == "" {
		resource = emulator.LoopbackChallengeResource(kvSrv.URL)
	}
	audience := o.acceptedAudience
	if audience == "" {
		audience = resource
	}
	env.kv = emulator.NewKeyVault(emulator.KeyVaultOptions{
		Authorize:         sharedTokens.Authorizer(audience),
		TenantID:          testTenant,
		ChallengeResource: resource,
		Now:               o.now,
	})
	kvSrv.Start(env.kv)
	env.vaultURL = kvSrv.URL

	env.secretFile = filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(env.secretFile, append(env.clientSecret.Reveal(), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return env
}

// clientSecretAuth is rotatord's auth: block for the env's registered app.
func (env *testEnv) clientSecretAuth() AuthOptions {
	return AuthOptions{
		Method: MethodClientSecret, TenantID: testTenant, ClientID: testClientID,
		ClientSecretFile: env.secretFile, AuthorityHost: env.authority, Transport: env.client,
	}
}

// useManagedIdentity points azidentity's App Service managed identity at the env.
func (env *testEnv) useManagedIdentity(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", env.authority+"/msi/token")
	t.Setenv("IDENTITY_HEADER", testMIHeader)
}

// vault returns a KeyVault client with fast retries.
func (env *testEnv) vault(t *testing.T, auth AuthOptions, o KeyVaultOptions) *KeyVault {
	t.Helper()
	cred, err := NewCredential(auth)
	if err != nil {
		t.Fatal(err)
	}
	if o.Transport == nil {
		o.Transport = env.client
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
	kv, err := NewKeyVault(env.vaultURL, cred, o)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
