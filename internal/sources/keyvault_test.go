package sources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/rotatord/rotatord/internal/budget"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

func TestKeyVaultGet(t *testing.T) {
	env := newEnv(t, envOptions{})
	exp := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	v1 := env.kv.SetSecret("sales-sql-password", secret.FromString("first"), emulator.SecretAttributes{})
	v2 := env.kv.SetSecret("sales-sql-password", secret.FromString("second"), emulator.SecretAttributes{Expires: exp})
	kv := env.vault(t, env.clientSecretAuth(), KeyVaultOptions{})

	tests := map[string]struct {
		version     string
		wantValue   string
		wantVersion string
		wantExpires time.Time
	}{
		"latest, with exp": {version: "", wantValue: "second", wantVersion: v2, wantExpires: exp},
		"pinned, no exp":   {version: v1, wantValue: "first", wantVersion: v1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := kv.Get(context.Background(), "sales-sql-password", tc.version)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.Secret.RevealString() != tc.wantValue || got.Version != tc.wantVersion || !got.ExpiresAt.Equal(tc.wantExpires) {
				t.Errorf("Get = {%q %s %v}, want {%q %s %v}", got.Secret.RevealString(), got.Version, got.ExpiresAt,
					tc.wantValue, tc.wantVersion, tc.wantExpires)
			}
		})
	}
}

// TestKeyVaultChallengeOnce checks the challenge flow on the wire: the first
// request goes out without a token, is challenged, and is retried with one;
// later reads through the same client skip the challenge.
func TestKeyVaultChallengeOnce(t *testing.T) {
	env := newEnv(t, envOptions{})
	env.kv.SetSecret("pw", secret.FromString("v"), emulator.SecretAttributes{})
	kv := env.vault(t, env.clientSecretAuth(), KeyVaultOptions{})
	for range 3 {
		if _, err := kv.Get(context.Background(), "pw", ""); err != nil {
			t.Fatal(err)
		}
	}
	want := []emulator.KeyVaultRequest{
		{Method: "GET", Path: "/secrets/pw/", Authorized: false, Status: 401},
		{Method: "GET", Path: "/secrets/pw/", Authorized: true, Status: 200},
		{Method: "GET", Path: "/secrets/pw/", Authorized: true, Status: 200},
		{Method: "GET", Path: "/secrets/pw/", Authorized: true, Status: 200},
	}
	got := env.kv.Requests()
	if len(got) != len(want) {
		t.Fatalf("requests = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	var entra int
	for _, r := range env.identity.Requests() {
		if r.Op == emulator.OpEntraToken {
			entra++
			if r.Resource != emulator.LoopbackChallengeResource(env.vaultURL) || r.Grant != "client_secret" || r.Tenant != testTenant {
				t.Errorf("token request = %+v", r)
			}
		}
	}
	if entra != 1 {
		t.Errorf("%d token requests, want 1 (the token is cached)", entra)
	}
}

func TestKeyVaultManagedIdentity(t *testing.T) {
	env := newEnv(t, envOptions{})
	env.useManagedIdentity(t)
	env.kv.SetSecret("pw", secret.FromString("via-mi"), emulator.SecretAttributes{})
	for _, method := range []AuthMethod{MethodManagedIdentity, MethodDefault} {
		t.Run(string(method), func(t *testing.T) {
			kv := env.vault(t, AuthOptions{Method: method, Transport: env.client}, KeyVaultOptions{})
			got, err := kv.Get(context.Background(), "pw", "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret.RevealString() != "via-mi" {
				t.Errorf("value = %q", got.Secret.RevealString())
			}
		})
	}
}

func TestKeyVaultRetryAfter(t *testing.T) {
	env := newEnv(t, envOptions{})
	env.kv.SetSecret("pw", secret.FromString("v"), emulator.SecretAttributes{})
	env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Status: 429, RetryAfter: "1", Times: 1})
	kv := env.vault(t, env.clientSecretAuth(), KeyVaultOptions{MaxRetries: 2, RetryDelay: time.Millisecond})

	start := time.Now()
	got, err := kv.Get(context.Background(), "pw", "")
	if err != nil {
		t.Fatalf("Get after one 429: %v", err)
	}
	// The retry delay is 1ms, so only Retry-After explains a wait of ~1s.
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Errorf("retried after %v, want Retry-After's 1s honoured", elapsed)
	}
	if got.Secret.RevealString() != "v" {
		t.Errorf("value = %q", got.Secret.RevealString())
	}
	var statuses []int
	for _, r := range env.kv.Requests() {
		statuses = append(statuses, r.Status)
	}
	if want := []int{401, 429, 200}; len(statuses) != 3 || statuses[0] != want[0] || statuses[1] != want[1] || statuses[2] != want[2] {
		t.Errorf("statuses = %v, want %v", statuses, want)
	}
}

// kvFailure is a Key Vault failure scenario. Every secret value in the vault
// is a canary that must not appear in the error.
type kvFailure struct {
	env        envOptions
	setup      func(t *testing.T, env *testEnv) (name, version string)
	auth       func(env *testEnv) AuthOptions // default: client secret
	kvOpts     KeyVaultOptions
	vaultURL   func(t *testing.T, env *testEnv) string // default: the env's vault
	ctx        func() (context.Context, context.CancelFunc)
	wantReason string
	wantRetry  bool
	wantIn     []string // substrings of the error text
	wantAs     any      // pointer for errors.As, or nil
}

func kvFailures() map[string]kvFailure {
	now := time.Now()
	canary := func(t *testing.T) secret.Secret { return secret.FromString("canary-" + t.Name()) }
	plain := func(t *testing.T, env *testEnv) (string, string) {
		env.kv.SetSecret("pw", canary(t), emulator.SecretAttributes{})
		return "pw", ""
	}
	return map[string]kvFailure{
		"missing": {
			setup:      func(t *testing.T, env *testEnv) (string, string) { plain(t, env); return "nope", "" },
			wantReason: ReasonNotFound, wantIn: []string{"SecretNotFound", `check the secret name "nope"`},
			wantAs: new(*azcore.ResponseError),
		},
		"missing version": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				plain(t, env)
				return "pw", "0123456789abcdef0123456789abcdef"
			},
			wantReason: ReasonNotFound,
		},
		"disabled": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				plain(t, env)
				env.kv.DisableSecret("pw")
				return "pw", ""
			},
			wantReason: ReasonDisabled, wantIn: []string{"HTTP 403 Forbidden/SecretDisabled"},
		},
		"expired": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.SetSecret("pw", canary(t), emulator.SecretAttributes{Expires: now.Add(-time.Hour)})
				return "pw", ""
			},
			wantReason: ReasonExpired, wantIn: []string{"expired at"},
		},
		"not yet valid": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.SetSecret("pw", canary(t), emulator.SecretAttributes{NotBefore: now.Add(time.Hour)})
				return "pw", ""
			},
			wantReason: ReasonNotYetValid, wantRetry: true,
		},
		"identity denied": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				sharedTokens.Deny(testClientID)
				t.Cleanup(func() { sharedTokens.Allow(testClientID) })
				return plain(t, env)
			},
			wantReason: ReasonForbidden, wantIn: []string{"Key Vault Secrets User", testClientID},
		},
		"vault rejects the token": {
			env:        envOptions{acceptedAudience: "https://other.example"},
			setup:      plain,
			wantReason: ReasonUnauthorized, wantIn: []string{"HTTP 401", "tenant"},
		},
		"wrong client secret": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.identity.AddApp(testClientID, secret.FromString("rotated-elsewhere"))
				return plain(t, env)
			},
			wantReason: ReasonUnauthorized, wantIn: []string{"AADSTS7000215", "invalid_client", testClientID},
		},
		"throttled": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Status: 429})
				return plain(t, env)
			},
			wantReason: ReasonThrottled, wantRetry: true, wantIn: []string{"HTTP 429"},
		},
		"server error": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Status: 503})
				return plain(t, env)
			},
			wantReason: ReasonUnavailable, wantRetry: true,
		},
		"dropped connection": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Drop: true})
				return plain(t, env)
			},
			wantReason: ReasonUnavailable, wantRetry: true,
		},
		"empty 200s": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Empty: true})
				return plain(t, env)
			},
			wantReason: ReasonUnavailable, wantRetry: true, wantIn: []string{"incomplete response: 200 OK with an empty body"},
		},
		"timeout": {
			setup: func(t *testing.T, env *testEnv) (string, string) {
				env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Latency: time.Minute})
				return plain(t, env)
			},
			// The deadline is the behaviour under test; it must leave room for
			// the token requests before the GET on a loaded machine.
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 2*time.Second)
			},
			wantReason: ReasonTimeout, wantRetry: true,
		},
		"unreachable": {
			setup:      plain,
			vaultURL:   func(t *testing.T, env *testEnv) string { return "https://" + refusingAddr(t) },
			wantReason: ReasonUnreachable, wantRetry: true, wantIn: []string{"cannot connect"},
		},
		"untrusted certificate": {
			setup:      plain,
			kvOpts:     KeyVaultOptions{Transport: &http.Client{Transport: &http.Transport{}}},
			wantReason: ReasonTLS, wantIn: []string{"SSL_CERT_FILE"},
		},
		"challenge for another resource": {
			env:        envOptions{challengeResource: "https://vault.azure.net"},
			setup:      plain,
			wantReason: ReasonChallengeMismatch,
		},
		"invalid name": {
			setup:      func(t *testing.T, env *testEnv) (string, string) { return "../keys/x", "" },
			wantReason: ReasonInvalid,
		},
	}
}

func TestKeyVaultErrors(t *testing.T) {
	for name, tc := range kvFailures() {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, tc.env)
			secretName, version := tc.setup(t, env)
			auth := env.clientSecretAuth()
			if tc.auth != nil {
				auth = tc.auth(env)
			}
			if tc.vaultURL != nil {
				env.vaultURL = tc.vaultURL(t, env)
			}
			kv := env.vault(t, auth, tc.kvOpts)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()

			_, err := kv.Get(ctx, secretName, version)
			t.Log(err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Get error = %v (%T), want *Error", err, err)
			}
			if e.Source != SourceKeyVault || e.Reason != tc.wantReason || e.Retryable() != tc.wantRetry {
				t.Errorf("error = {%s %s retryable=%v}, want {keyvault %s retryable=%v}: %v",
					e.Source, e.Reason, e.Retryable(), tc.wantReason, tc.wantRetry, err)
			}
			if !strings.Contains(e.Resource, secretName) || !strings.HasPrefix(e.Resource, env.vaultURL) {
				t.Errorf("Resource = %q, want the vault URL and secret name", e.Resource)
			}
			if e.Reason != ReasonInvalid && e.Hint == "" {
				t.Errorf("no hint: %v", err)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if tc.wantAs != nil && !errors.As(err, tc.wantAs) {
				t.Errorf("errors.As(%T) failed: the SDK error is not reachable through Unwrap", tc.wantAs)
			}
			assertNoSecrets(t, err, env)
		})
	}
}

func TestNewKeyVaultRejectsBadURLs(t *testing.T) {
	cred, err := NewCredential(AuthOptions{Method: MethodAzureCLI})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://kv.example", "https://", "https://kv.example/secrets", "::"} {
		if _, err := NewKeyVault(u, cred, KeyVaultOptions{}); err == nil {
			t.Errorf("NewKeyVault(%q) succeeded", u)
		}
	}
	if _, err := NewKeyVault("https://kv.example/", nil, KeyVaultOptions{}); err == nil {
		t.Error("NewKeyVault without a credential succeeded")
	}
}

// refusingAddr returns a loopback address that refuses connections for the
// whole test: its port is bound but never listened on. A port that was free
// a moment ago could be taken by another test's server before the dial.
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// TestKeyVaultTickBudget: inside a tick, azsecrets retries only as often as
// the tick's budget allows; the challenge round trip of a new client is no
// retry, so it works even with no retry left.
func TestKeyVaultTickBudget(t *testing.T) {
	for _, tc := range []struct {
		retries int
		fault   bool // Key Vault answers 503 to every read
		want    []int
	}{
		{retries: 0, want: []int{401, 200}},
		{retries: 1, fault: true, want: []int{401, 503, 503}},
		{retries: 0, fault: true, want: []int{401, 503}},
	} {
		t.Run(fmt.Sprintf("retries=%d fault=%v", tc.retries, tc.fault), func(t *testing.T) {
			env := newEnv(t, envOptions{})
			env.kv.SetSecret("pw", secret.FromString("v"), emulator.SecretAttributes{})
			if tc.fault {
				env.kv.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Status: 503})
			}
			kv := env.vault(t, env.clientSecretAuth(), KeyVaultOptions{MaxRetries: 5, RetryDelay: time.Millisecond})
			ctx := budget.NewContext(t.Context(), budget.New(tc.retries, time.Millisecond, time.Millisecond))
			_, err := kv.Get(ctx, "pw", "")
			if (err != nil) != tc.fault {
				t.Fatalf("Get: %v", err)
			}
			var statuses []int
			for _, r := range env.kv.Requests() {
				statuses = append(statuses, r.Status)
			}
			if !slices.Equal(statuses, tc.want) {
				t.Errorf("statuses = %v, want %v", statuses, tc.want)
			}
		})
	}
}

// TestKeyVaultJudgesOnItsClock: exp and nbf are judged on the injected
// clock, not on wall time, so that under the daemon's one clock a secret is
// expired for the Key Vault check exactly when it is for rotate.
func TestKeyVaultJudgesOnItsClock(t *testing.T) {
	wall := time.Now()
	tests := map[string]struct {
		attrs      emulator.SecretAttributes
		clock      time.Time // what the injected clock reads
		wantReason string    // "" means the read succeeds
	}{
		"expired on the clock, not yet on the wall": {
			attrs: emulator.SecretAttributes{Expires: wall.Add(time.Hour)}, clock: wall.Add(2 * time.Hour), wantReason: ReasonExpired,
		},
		"expired on the wall, not yet on the clock": {
			attrs: emulator.SecretAttributes{Expires: wall.Add(-time.Hour)}, clock: wall.Add(-2 * time.Hour),
		},
		"valid on the clock, not yet on the wall": {
			attrs: emulator.SecretAttributes{NotBefore: wall.Add(time.Hour)}, clock: wall.Add(2 * time.Hour),
		},
		"valid on the wall, not yet on the clock": {
			attrs: emulator.SecretAttributes{NotBefore: wall.Add(-time.Hour)}, clock: wall.Add(-2 * time.Hour), wantReason: ReasonNotYetValid,
		},
	}
	env := newEnv(t, envOptions{})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env.kv.SetSecret("pw", secret.FromString("value"), tc.attrs)
			kv := env.vault(t, env.clientSecretAuth(), KeyVaultOptions{Clock: clocktest.NewFake(tc.clock)})
			_, err := kv.Get(t.Context(), "pw", "")
			var se *Error
			switch {
			case tc.wantReason == "" && err != nil:
				t.Errorf("Get: %v, want the secret", err)
			case tc.wantReason != "" && (!errors.As(err, &se) || se.Reason != tc.wantReason):
				t.Errorf("Get: %v, want reason %s", err, tc.wantReason)
			}
		})
	}
}
