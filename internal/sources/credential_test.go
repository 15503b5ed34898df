package sources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

const storageScope = "https://storage.azure.com/.default"

func TestTokenForOAuthScope(t *testing.T) {
	const workloadApp = "0b0b0b0b-1111-4222-8333-444444444444"
	tests := map[string]struct {
		auth    func(t *testing.T, env *testEnv) AuthOptions
		wantApp string
		grant   string // expected grant at the emulator ("" to skip: MSAL may serve MI from its cache)
	}{
		"client secret from a file, custom authority": {
			auth:    func(t *testing.T, env *testEnv) AuthOptions { return env.clientSecretAuth() },
			wantApp: testClientID, grant: "client_secret",
		},
		"workload identity, token file option": {
			auth: func(t *testing.T, env *testEnv) AuthOptions {
				return AuthOptions{Method: MethodWorkloadIdentity, TenantID: testTenant, ClientID: workloadApp,
					FederatedTokenFile: federatedTokenFile(t, env, workloadApp), AuthorityHost: env.authority, Transport: env.client}
			},
			wantApp: workloadApp, grant: "client_assertion",
		},
		"workload identity, webhook environment": {
			auth: func(t *testing.T, env *testEnv) AuthOptions {
				t.Setenv("AZURE_FEDERATED_TOKEN_FILE", federatedTokenFile(t, env, workloadApp))
				t.Setenv("AZURE_CLIENT_ID", workloadApp)
				t.Setenv("AZURE_TENANT_ID", testTenant)
				return AuthOptions{Method: MethodWorkloadIdentity, AuthorityHost: env.authority, Transport: env.client}
			},
			wantApp: workloadApp, grant: "client_assertion",
		},
		"system-assigned managed identity": {
			auth: func(t *testing.T, env *testEnv) AuthOptions {
				env.useManagedIdentity(t)
				return AuthOptions{Method: MethodManagedIdentity, Transport: env.client}
			},
			wantApp: emulator.DefaultManagedClientID,
		},
		"user-assigned managed identity": {
			auth: func(t *testing.T, env *testEnv) AuthOptions {
				env.useManagedIdentity(t)
				return AuthOptions{Method: MethodManagedIdentity, ClientID: "uami-for-storage", Transport: env.client}
			},
			wantApp: "uami-for-storage",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, envOptions{})
			cred, err := NewCredential(tc.auth(t, env))
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Add(-time.Second)
			v, err := Token(context.Background(), cred, storageScope)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			claims, err := sharedTokens.Parse(v.Secret.RevealString())
			if err != nil {
				t.Fatalf("token is not from the emulator: %v", err)
			}
			if claims.Audience != "https://storage.azure.com" || claims.AppID != tc.wantApp {
				t.Errorf("aud=%q appid=%q, want https://storage.azure.com and %q", claims.Audience, claims.AppID, tc.wantApp)
			}
			// The expiry is the token's: what Entra said, and what exp says.
			if !v.ExpiresAt.Equal(time.Unix(claims.ExpiresAt, 0)) && v.ExpiresAt.Sub(time.Unix(claims.ExpiresAt, 0)).Abs() > 2*time.Second {
				t.Errorf("ExpiresAt = %v, token exp = %v", v.ExpiresAt, time.Unix(claims.ExpiresAt, 0))
			}
			if v.ExpiresAt.Before(before.Add(55 * time.Minute)) {
				t.Errorf("ExpiresAt = %v, want about an hour ahead", v.ExpiresAt)
			}
			if exp, ok := JWTExpiry(v.Secret); !ok || exp.Unix() != claims.ExpiresAt {
				t.Errorf("JWTExpiry = %v %v, want %d", exp, ok, claims.ExpiresAt)
			}
			if v.Version != "" {
				t.Errorf("Version = %q, want empty for a token", v.Version)
			}
			if tc.grant != "" {
				reqs := env.identity.Requests()
				if len(reqs) == 0 || reqs[len(reqs)-1].Grant != tc.grant || reqs[len(reqs)-1].Tenant != testTenant {
					t.Errorf("token requests = %+v, want a %s grant in %s", reqs, tc.grant, testTenant)
				}
			}
		})
	}
}

// federatedTokenFile writes a service-account token for app and registers it
// with the emulated Entra as the app's federated credential.
func federatedTokenFile(t *testing.T, env *testEnv, app string) string {
	assertion := "sa-token-" + strings.ReplaceAll(t.Name(), "/", "-")
	env.identity.AddFederatedApp(app, secret.FromString(assertion))
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(path, []byte(assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokenErrors(t *testing.T) {
	tests := map[string]struct {
		setup      func(t *testing.T, env *testEnv) AuthOptions
		wantReason string
		wantIn     []string
	}{
		"wrong client secret": {
			setup: func(t *testing.T, env *testEnv) AuthOptions {
				env.identity.AddApp(testClientID, secret.FromString("the-real-one"))
				return env.clientSecretAuth()
			},
			wantReason: ReasonUnauthorized,
			wantIn:     []string{"ClientSecretCredential: HTTP 401 invalid_client AADSTS7000215", "app " + testClientID + " in tenant " + testTenant},
		},
		"unknown app": {
			setup: func(t *testing.T, env *testEnv) AuthOptions {
				o := env.clientSecretAuth()
				o.ClientID = "not-registered"
				return o
			},
			wantReason: ReasonUnauthorized, wantIn: []string{"unauthorized_client AADSTS700016"},
		},
		"federated assertion not accepted": {
			setup: func(t *testing.T, env *testEnv) AuthOptions {
				path := federatedTokenFile(t, env, "wl-app")
				env.identity.AddFederatedApp("wl-app", secret.FromString("a different assertion"))
				return AuthOptions{Method: MethodWorkloadIdentity, TenantID: testTenant, ClientID: "wl-app",
					FederatedTokenFile: path, AuthorityHost: env.authority, Transport: env.client}
			},
			wantReason: ReasonUnauthorized, wantIn: []string{"AADSTS70021", "workload identity wl-app"},
		},
		"managed identity header mismatch": {
			setup: func(t *testing.T, env *testEnv) AuthOptions {
				env.useManagedIdentity(t)
				t.Setenv("IDENTITY_HEADER", "stale")
				// A client ID no other test uses: MSAL's cache is process-wide.
				return AuthOptions{Method: MethodManagedIdentity, ClientID: "uami-header-mismatch", Transport: env.client}
			},
			wantReason: ReasonUnauthorized, wantIn: []string{"ManagedIdentityCredential: HTTP 401", "managed identity uami-header-mismatch"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, envOptions{})
			cred, err := NewCredential(tc.setup(t, env))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Token(context.Background(), cred, storageScope)
			t.Log(err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Token error = %v (%T), want *Error", err, err)
			}
			if e.Source != SourceEntra || e.Resource != storageScope || e.Reason != tc.wantReason || e.Retryable() {
				t.Errorf("error = {%s %s %s retryable=%v}, want {entra %s %s false}", e.Source, e.Resource, e.Reason, e.Retryable(), storageScope, tc.wantReason)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			assertNoSecrets(t, err, env, "the-real-one", "a different assertion", "sa-token-")
		})
	}
}

func TestNewCredentialRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	worldReadable := filepath.Join(dir, "secret-644")
	if err := os.WriteFile(worldReadable, []byte("s3cr3t-in-644\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	os.Unsetenv("AZURE_FEDERATED_TOKEN_FILE") // restored by t.Setenv's cleanup

	tests := map[string]struct {
		o      AuthOptions
		wantIn string
	}{
		"unknown method":               {o: AuthOptions{Method: "kerberos"}, wantIn: `auth.method "kerberos": must be one of`},
		"client secret without tenant": {o: AuthOptions{Method: MethodClientSecret, ClientID: "a", ClientSecretFile: worldReadable}, wantIn: "needs tenant_id"},
		"world-readable secret file": {o: AuthOptions{Method: MethodClientSecret, TenantID: testTenant, ClientID: "a", ClientSecretFile: worldReadable},
			wantIn: "chmod 600 " + worldReadable},
		"missing secret file": {o: AuthOptions{Method: MethodClientSecret, TenantID: testTenant, ClientID: "a", ClientSecretFile: filepath.Join(dir, "nope")},
			wantIn: "not_found"},
		"http authority":          {o: AuthOptions{Method: MethodManagedIdentity, AuthorityHost: "http://login.example"}, wantIn: "must be an https URL"},
		"default with client":     {o: AuthOptions{Method: MethodDefault, ClientID: "x"}, wantIn: "AZURE_CLIENT_ID"},
		"workload, no token file": {o: AuthOptions{Method: MethodWorkloadIdentity, TenantID: testTenant, ClientID: "x"}, wantIn: "token file"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewCredential(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("NewCredential error = %v, want it to mention %q", err, tc.wantIn)
			}
			if strings.Contains(err.Error(), "s3cr3t-in-644") {
				t.Errorf("error reveals the secret file's content: %v", err)
			}
		})
	}
}

// TestAuthMethodsAreBuilt: every method the config accepts is one
// NewCredential knows; options a method does not read stay unset here.
func TestAuthMethodsAreBuilt(t *testing.T) {
	for _, m := range AuthMethods() {
		t.Run(string(m), func(t *testing.T) {
			_, err := NewCredential(AuthOptions{Method: m})
			if err != nil && strings.Contains(err.Error(), "must be one of") {
				t.Fatalf("NewCredential does not know method %s: %v", m, err)
			}
		})
	}
}

// TestFederatedTokenFileHostile: azidentity's own workload identity read
// its token file with os.ReadFile at each refresh, so a FIFO there hung the
// token request (and the tick) and a link to /dev/zero filled memory; both
// now fail the request at once, naming the file.
func TestFederatedTokenFileHostile(t *testing.T) {
	for name, make := range map[string]func(testing.TB, string) string{
		"fifo": testutil.FIFO, "link to /dev/zero": testutil.ZeroLink,
	} {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, envOptions{})
			path := make(t, filepath.Join(t.TempDir(), "azure-identity-token"))
			cred, err := NewCredential(AuthOptions{Method: MethodWorkloadIdentity, TenantID: testTenant, ClientID: "wl-hostile",
				FederatedTokenFile: path, AuthorityHost: env.authority, Transport: env.client})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err = Token(ctx, cred, storageScope)
			if ctx.Err() != nil {
				t.Fatalf("Token still waiting after 10 s: %v", err)
			}
			if err == nil || !strings.Contains(err.Error(), "federated token file: "+path+": not a regular file") {
				t.Fatalf("Token error = %v, want the token file refused as not a regular file", err)
			}
		})
	}
}
