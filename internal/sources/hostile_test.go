package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/wire"
)

// TestHostileEndpoints: a redirect to another listener and an endless body,
// from Key Vault, Entra ID and a managed identity endpoint, through the
// daemon's kind of client (wire.KeepOrigin). The redirect is refused before
// anything reaches the other listener (the client secret in Entra's form,
// the managed identity's X-IDENTITY-HEADER, the vault's bearer token); the
// endless body is cut at the call's limit. Neither is retried.
func TestHostileEndpoints(t *testing.T) {
	type call func(t *testing.T, env *testEnv, o AuthOptions) error
	services := map[string]struct {
		op     func(env *testEnv) (*emulator.Faults, string)
		call   call
		client string // a client ID of its own: MSAL's cache is process-wide
	}{
		"key vault": {
			op: func(env *testEnv) (*emulator.Faults, string) { return env.kv.Faults(), emulator.OpGetSecret },
			call: func(t *testing.T, env *testEnv, o AuthOptions) error {
				env.kv.SetSecret("pw", secret.FromString("v"), emulator.SecretAttributes{})
				_, err := env.vault(t, o, KeyVaultOptions{Transport: o.Transport, MaxRetries: 2, RetryDelay: time.Millisecond}).Get(context.Background(), "pw", "")
				return err
			},
		},
		"entra": {
			op:   func(env *testEnv) (*emulator.Faults, string) { return env.identity.Faults(), emulator.OpEntraToken },
			call: func(t *testing.T, _ *testEnv, o AuthOptions) error { return tokenOf(t, o) },
		},
		"managed identity": {
			op: func(env *testEnv) (*emulator.Faults, string) {
				return env.identity.Faults(), emulator.OpManagedIdentity
			},
			call: func(t *testing.T, env *testEnv, _ AuthOptions) error {
				env.useManagedIdentity(t)
				return tokenOf(t, AuthOptions{Method: MethodManagedIdentity, ClientID: "uami-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), Transport: wire.KeepOrigin(env.client)})
			},
		},
	}
	faults := map[string]struct {
		fault  func(to string) emulator.Fault
		reason string
	}{
		"redirect":     {func(to string) emulator.Fault { return emulator.Fault{RedirectTo: to} }, ReasonRedirect},
		"endless body": {func(string) emulator.Fault { return emulator.Fault{Endless: true, EndlessBytes: 64 << 20} }, ReasonResponseTooLarge},
		"endless error body": {func(string) emulator.Fault {
			return emulator.Fault{Endless: true, Status: 503, EndlessBytes: 64 << 20}
		}, ReasonResponseTooLarge},
	}
	for sname, svc := range services {
		for fname, f := range faults {
			t.Run(sname+"/"+fname, func(t *testing.T) {
				env := newEnv(t, envOptions{})
				var mu sync.Mutex
				var seen []string
				other, err := env.ca.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					defer mu.Unlock()
					seen = append(seen, fmt.Sprintf("%s %s identity-header=%t authorization=%t body=%d bytes",
						r.Method, r.URL.Path, r.Header.Get("X-Identity-Header") != "", r.Header.Get("Authorization") != "", len(b)))
				}))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = other.Close() })
				fs, op := svc.op(env)
				hits := 0
				fault := f.fault(other.URL)
				fault.OnHit = func() { mu.Lock(); hits++; mu.Unlock() }
				fs.Inject(op, fault)
				o := env.clientSecretAuth()
				o.Transport = wire.KeepOrigin(env.client)
				err = svc.call(t, env, o)
				var e *Error
				if !errors.As(err, &e) || e.Reason != f.reason || e.Retryable() {
					t.Fatalf("error %v, want a not retryable *Error with reason %s", err, f.reason)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(seen) > 0 {
					t.Errorf("the other listener received %q, want nothing", seen)
				}
				if hits != 1 {
					t.Errorf("the fault took %d requests, want 1: not retried", hits)
				}
			})
		}
	}
}
