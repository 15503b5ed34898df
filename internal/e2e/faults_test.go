package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

// faultRow is one row of the fault table: a fault injected into the
// emulators between two `rotatord once` runs, and what the operator must
// see. Every row first rotates its data sources cleanly (so the gateway
// holds a known "old" credential), then gives their sources new values,
// injects the fault and rotates again.
type faultRow struct {
	name string
	only []string // data sources the row rotates (--only)
	// inject breaks something; fix repairs it before the next tick (nil:
	// clear every injected fault).
	inject, fix func(t *testing.T, e *env)
	// fails maps each data source expected to fail this tick to its
	// "stage:reason"; empty means the fault is recovered within the tick.
	fails map[string]string
	logs  []string // patterns the fault run's output must also match
	// The fault run must take at least atLeast (proof the fault bit) and at
	// most atMost (proof nothing waited for a long Retry-After).
	atLeast, atMost time.Duration
	check           func(t *testing.T, e *env, out string) // extra checks of the fault run
	retry           string                                 // inventory retry line, if not ftRetry
	// restores: the fault run pushes the new credential and, rejected,
	// puts the old one back (a rollback), so the gateway ends with it.
	restores bool
}

var (
	sqlOnly  = []string{"sales-sql"}
	tokenSet = []string{"sales-sql", "ledger-key", "lake-oauth", "blob-sas"} // one data source per way a token is used
)

func pbiFault(op string, f emulator.Fault) func(*testing.T, *env) {
	return func(_ *testing.T, e *env) { e.demo.Stack.PowerBI.Faults().Inject(op, f) }
}

func kvFault(f emulator.Fault) func(*testing.T, *env) {
	return func(_ *testing.T, e *env) { e.demo.Stack.KeyVault.Faults().Inject(emulator.OpGetSecret, f) }
}

func entraFault(f emulator.Fault) func(*testing.T, *env) {
	return func(_ *testing.T, e *env) { e.demo.Stack.Identity.Faults().Inject(emulator.OpEntraToken, f) }
}

// ftSetSalesPassword stores the data source's current password (d.Want) as a
// new Key Vault version with the given expiry.
func ftSetSalesPassword(e *env, expires time.Time) {
	e.demo.Stack.KeyVault.SetSecret("sales-sql-password",
		secret.FromString(e.demo.Want["sales-sql"]["password"]), emulator.SecretAttributes{Expires: expires})
}

// ftBackend makes the database behind name accept only fields, whatever
// is pushed; fields from accept(e) when it is given as a function.
func ftBackend(name string, accept func(e *env) map[string]string) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		x := e.entry(name)
		if err := e.demo.Stack.PowerBI.SetBackend(x.Gateway, x.ID, accept(e)); err != nil {
			t.Fatal(err)
		}
	}
}

// ftHeldNow is what the gateway holds for name now: the old credential,
// before the row bumps the sources.
func ftHeldNow(name string) func(e *env) map[string]string {
	return func(e *env) map[string]string {
		x := e.entry(name)
		got, _ := e.demo.Stack.PowerBI.Credential(x.Gateway, x.ID)
		return got.Fields
	}
}

// ftNeither is a password neither the old nor the new credential has.
func ftNeither(name string) func(e *env) map[string]string {
	return func(e *env) map[string]string {
		f := maps.Clone(e.demo.Want[name])
		f["password"] = rand.Text()
		return f
	}
}

// ftNoRollback checks that the fault run pushed one credential and tried no
// rollback: the credential was not to blame, or rollback is off.
func ftNoRollback(t *testing.T, e *env, out string) {
	t.Helper()
	if strings.Contains(out, "rollback=") {
		t.Errorf("a rollback ran:\n%s", out)
	}
	if n := ftCount(e.demo.Stack.PowerBI.Requests()[e.pbiSeen:], emulator.OpUpdateDatasource, 200); n != 1 {
		t.Errorf("%d PATCHes, want 1", n)
	}
}

func faultRows() []faultRow {
	month := 30 * 24 * time.Hour
	away := &ftListener{}
	misnamed := &ftMisnamed{}
	return []faultRow{
		{
			name:    "powerbi 429 short Retry-After",
			only:    sqlOnly,
			inject:  pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Status: 429, RetryAfter: "1", Times: 2}),
			atLeast: 2 * time.Second, atMost: 15 * time.Second,
		},
		{
			name:   "powerbi 429 Retry-After beyond the ceiling",
			only:   sqlOnly,
			inject: pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Status: 429, RetryAfter: "3600"}),
			fails:  map[string]string{"sales-sql": "patch:throttled"},
			logs:   []string{`retry after 1h0m0s`},
			atMost: 10 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				// No wait, and no second attempt in this tick: Power BI asked
				// for an hour, so only the next tick may call again.
				if n := ftCount(e.demo.Stack.PowerBI.Requests(), emulator.OpUpdateDatasource, 429); n != 1 {
					t.Errorf("%d throttled PATCHes, want 1 (none waiting out the hour, no retry within the tick)", n)
				}
			},
		},
		{
			// One of each, in every Power BI call a rotation makes: four
			// faults, four of the tick's retries, absorbed by the tick.
			name: "powerbi 500/502/503/504",
			only: sqlOnly,
			inject: func(t *testing.T, e *env) {
				pbiFault(emulator.OpGetGateway, emulator.Fault{Status: 502, Times: 1})(t, e)
				pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Status: 500, Times: 1})(t, e)
				pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Status: 504, Times: 1})(t, e)
				pbiFault(emulator.OpGetDatasourceUsers, emulator.Fault{Status: 503, Times: 1})(t, e)
			},
			atLeast: 300 * time.Millisecond, atMost: 20 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				reqs := e.demo.Stack.PowerBI.Requests()
				for op, status := range map[string]int{
					emulator.OpGetGateway: 502, emulator.OpGetDatasourceUsers: 503,
				} {
					if ftCount(reqs, op, status) != 1 {
						t.Errorf("%s was not answered %d once", op, status)
					}
				}
				if ftCount(reqs, emulator.OpUpdateDatasource, 500) != 1 || ftCount(reqs, emulator.OpUpdateDatasource, 504) != 1 {
					t.Error("the PATCH was not answered 500 then 504")
				}
			},
		},
		{
			// The credential is not to blame: no rollback, though sales-sql
			// has rollback: true. The new credential stays.
			name: "gateway offline during verify",
			only: sqlOnly,
			inject: func(t *testing.T, e *env) {
				if err := e.demo.Stack.PowerBI.SetGatewayOnline(demo.Gateway2048, false); err != nil {
					t.Fatal(err)
				}
			},
			fix: func(t *testing.T, e *env) {
				if err := e.demo.Stack.PowerBI.SetGatewayOnline(demo.Gateway2048, true); err != nil {
					t.Fatal(err)
				}
			},
			fails:  map[string]string{"sales-sql": "verify:gateway_unreachable"},
			logs:   []string{`verify=gateway_unreachable`, `DM_GWPipeline_Client_GatewayUnreachable`, `is it running and online`},
			atMost: 10 * time.Second,
			check:  ftNoRollback,
		},
		{
			// hr-fileshare has no rollback: the refused credential stays,
			// and the rotation says what refused it.
			name:   "credential rejected without rollback",
			only:   []string{"hr-fileshare"},
			inject: ftBackend("hr-fileshare", ftHeldNow("hr-fileshare")),
			fix:    ftBackend("hr-fileshare", func(*env) map[string]string { return nil }),
			fails:  map[string]string{"hr-fileshare": "verify:rejected"},
			logs:   []string{`verify=rejected`, `native error 18456`, `Login failed for user`},
			atMost: 10 * time.Second,
			check: func(t *testing.T, e *env, out string) {
				ftNoRollback(t, e, out)
				if st := e.state().Datasources["hr-fileshare"]; st.Verified || st.LastVerify.IsZero() {
					t.Errorf("state: verified %v at %v, want a failed check recorded", st.Verified, st.LastVerify)
				}
			},
		},
		{
			// The database still takes the old password (the new one was
			// wrong in Key Vault): the version that verified before goes back.
			name:     "credential rejected: rollback restores the previous version",
			only:     sqlOnly,
			inject:   ftBackend("sales-sql", ftHeldNow("sales-sql")),
			fix:      ftBackend("sales-sql", func(*env) map[string]string { return nil }),
			fails:    map[string]string{"sales-sql": "verify:rejected"},
			logs:     []string{`verify=connected`, `rollback=restored`, `rollback_version=\S+`},
			restores: true,
			atMost:   10 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				st := e.state().Datasources["sales-sql"]
				if !st.Verified || st.VerifiedVersion == "" || st.VerifiedVersion != st.SourceVersion {
					t.Errorf("state: verified %v, verified version %q, source version %q; want the restored version, verified",
						st.Verified, st.VerifiedVersion, st.SourceVersion)
				}
			},
		},
		{
			// Neither password works: the old one goes back, is refused
			// too, and the newest is pushed again.
			name:   "credential rejected: rollback finds the previous version rejected too",
			only:   sqlOnly,
			inject: ftBackend("sales-sql", ftNeither("sales-sql")),
			fix:    ftBackend("sales-sql", func(*env) map[string]string { return nil }),
			fails:  map[string]string{"sales-sql": "verify:rejected"},
			logs:   []string{`verify=rejected`, `rollback=rejected`},
			atMost: 10 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				if n := ftCount(e.demo.Stack.PowerBI.Requests()[e.pbiSeen:], emulator.OpUpdateDatasource, 200); n != 3 {
					t.Errorf("%d PATCHes, want 3: the newest, the previous, the newest again", n)
				}
			},
		},
		{
			name:    "status call throttled",
			only:    sqlOnly,
			inject:  pbiFault(emulator.OpGetDatasourceStatus, emulator.Fault{Status: 429, RetryAfter: "1", Times: 2}),
			atLeast: 2 * time.Second, atMost: 15 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				reqs := e.demo.Stack.PowerBI.Requests()[e.pbiSeen:]
				if ftCount(reqs, emulator.OpGetDatasourceStatus, 429) != 2 || ftCount(reqs, emulator.OpGetDatasourceStatus, 200) != 1 {
					t.Error("the status call was not answered 429 twice, then 200")
				}
			},
		},
		{
			// The tick's budget bounds every layer together: one PATCH and
			// retry.attempts-1 re-sends, not attempts × the client's retries,
			// and the rotation is not run again after a Power BI failure.
			name:   "powerbi 503 throughout the tick",
			only:   sqlOnly,
			retry:  "retry: {attempts: 3, initial_backoff: 100ms, max_backoff: 200ms}",
			inject: pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Status: 503}),
			fails:  map[string]string{"sales-sql": "patch:http_503"},
			atMost: 15 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				reqs := e.demo.Stack.PowerBI.Requests()[e.pbiSeen:]
				if n := ftCount(reqs, emulator.OpUpdateDatasource, 503); n != 3 || len(reqs) != 4 {
					t.Errorf("%d PATCHes answered 503 and %d Power BI requests in all; want 3 (retry.attempts) and 4 (with the gateway key's GET)", n, len(reqs))
				}
			},
		},
		{
			name:   "keyvault 503 throughout the tick",
			only:   sqlOnly,
			retry:  "retry: {attempts: 3, initial_backoff: 100ms, max_backoff: 200ms}",
			inject: kvFault(emulator.Fault{Status: 503}),
			fails:  map[string]string{"sales-sql": "source:unavailable"},
			atMost: 15 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				if n := ftKeyVaultCount(e, 503); n != 3 {
					t.Errorf("%d secret reads answered 503, want 3 (retry.attempts, not attempts × azsecrets' retries)", n)
				}
				if n := len(e.demo.Stack.PowerBI.Requests()[e.pbiSeen:]); n != 0 {
					t.Errorf("%d Power BI requests without a secret", n)
				}
			},
		},
		{
			// rotatord sets no per-try timeout (see the report): a slow
			// answer is waited for, bounded only by the tick's context.
			name:    "powerbi slow PATCH (2s)",
			only:    sqlOnly,
			inject:  pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Latency: 2 * time.Second, Times: 1}),
			atLeast: 2 * time.Second, atMost: 15 * time.Second,
		},
		{
			name:   "powerbi connection dropped on PATCH",
			only:   sqlOnly,
			inject: pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Drop: true, Times: 1}),
			atMost: 15 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				if n := ftCount(e.demo.Stack.PowerBI.Requests(), emulator.OpUpdateDatasource, 0); n != 1 {
					t.Errorf("%d dropped PATCHes, want 1", n)
				}
			},
		},
		{
			name:   "keyvault 403",
			only:   sqlOnly,
			inject: kvFault(emulator.Fault{Status: 403, Code: "Forbidden"}),
			fails:  map[string]string{"sales-sql": "source:forbidden"},
			logs:   []string{`Key Vault Secrets User`},
			atMost: 10 * time.Second,
		},
		{
			name: "identity lacks rights everywhere (403 from Key Vault and Power BI)",
			only: []string{"sales-sql", "ledger-key", "blob-sas"},
			inject: func(_ *testing.T, e *env) {
				e.demo.Stack.Tokens.Deny(e.demo.Stack.ClientID)
			},
			fix: func(_ *testing.T, e *env) {
				e.demo.Stack.Tokens.Allow(e.demo.Stack.ClientID)
			},
			fails: map[string]string{
				"sales-sql":  "source:forbidden",
				"ledger-key": "encrypt:http_403",
				"blob-sas":   "patch:http_403",
			},
			logs:   []string{`gateway admin rights`},
			atMost: 10 * time.Second,
		},
		{
			name:   "keyvault 404 secret missing",
			only:   sqlOnly,
			inject: kvFault(emulator.Fault{Status: 404, Code: "SecretNotFound"}),
			fails:  map[string]string{"sales-sql": "source:not_found"},
			logs:   []string{`check the secret name \\"sales-sql-password\\"`},
			atMost: 10 * time.Second,
		},
		{
			name:    "keyvault 429 once",
			only:    sqlOnly,
			inject:  kvFault(emulator.Fault{Status: 429, RetryAfter: "1", Times: 1}),
			atLeast: time.Second, atMost: 15 * time.Second,
		},
		{
			// One attempt is no retry at all, azsecrets' own included.
			name:   "keyvault 429 throughout the tick",
			only:   sqlOnly,
			retry:  "retry: {attempts: 1, initial_backoff: 100ms, max_backoff: 200ms}",
			inject: kvFault(emulator.Fault{Status: 429, RetryAfter: "1"}),
			fails:  map[string]string{"sales-sql": "source:throttled"},
			atMost: 20 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				if n := ftKeyVaultCount(e, 429); n != 1 {
					t.Errorf("%d secret reads answered 429, want 1", n)
				}
			},
		},
		{
			// The answer starts (200, headers) and the connection is reset
			// halfway through the body, on the gateway key and the users.
			name: "powerbi connection reset mid-response",
			only: sqlOnly,
			inject: func(t *testing.T, e *env) {
				pbiFault(emulator.OpGetGateway, emulator.Fault{Truncate: true, Times: 1})(t, e)
				pbiFault(emulator.OpGetDatasourceUsers, emulator.Fault{Truncate: true, Times: 1})(t, e)
			},
			atMost: 15 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				reqs := e.demo.Stack.PowerBI.Requests()
				for _, op := range []string{emulator.OpGetGateway, emulator.OpGetDatasourceUsers} {
					if reset := ftCount(reqs, op, 0); reset != 1 {
						t.Errorf("%s: %d answers reset, want 1", op, reset)
					}
				}
			},
		},
		{
			// A proxy that lost the answer: 200 with no body from each
			// service once, and a PATCH whose 200 is cut short. Each is
			// retried like a dropped connection; read as a success they were
			// an empty secret, an unauthorized identity, a gateway without a
			// key, and a PATCH failed for good.
			name: "empty or cut-short 200s",
			only: tokenSet,
			inject: func(t *testing.T, e *env) {
				pbiFault(emulator.OpGetGateway, emulator.Fault{Empty: true, Times: 1})(t, e)
				pbiFault(emulator.OpUpdateDatasource, emulator.Fault{Truncate: true, Times: 1})(t, e)
				kvFault(emulator.Fault{Empty: true, Times: 1})(t, e)
				entraFault(emulator.Fault{Empty: true, Times: 1})(t, e)
			},
			atMost: 15 * time.Second,
			check: func(t *testing.T, e *env, _ string) {
				if cut := ftCount(e.demo.Stack.PowerBI.Requests(), emulator.OpUpdateDatasource, 0); cut != 1 {
					t.Errorf("%d PATCH answers cut short, want 1", cut)
				}
			},
		},
		{
			name:   "keyvault connection dropped",
			only:   sqlOnly,
			inject: kvFault(emulator.Fault{Drop: true, Times: 1}),
			atMost: 15 * time.Second,
		},
		{
			name: "keyvault secret disabled",
			only: sqlOnly,
			inject: func(_ *testing.T, e *env) {
				e.demo.Stack.KeyVault.DisableSecret("sales-sql-password")
			},
			fix: func(_ *testing.T, e *env) {
				ftSetSalesPassword(e, time.Now().Add(month).Truncate(time.Second))
			},
			fails:  map[string]string{"sales-sql": "source:disabled"},
			atMost: 10 * time.Second,
		},
		{
			name: "keyvault secret expired",
			only: sqlOnly,
			inject: func(_ *testing.T, e *env) {
				ftSetSalesPassword(e, time.Now().Add(-time.Hour).Truncate(time.Second))
			},
			fix: func(_ *testing.T, e *env) {
				ftSetSalesPassword(e, time.Now().Add(month).Truncate(time.Second))
			},
			fails:  map[string]string{"sales-sql": "source:expired"},
			logs:   []string{`expired at `},
			atMost: 10 * time.Second,
		},
		{
			// Every data source gets one attempt: azidentity already retries
			// the token endpoint for ~9s, and serializes token requests.
			name:   "entra token endpoint 503",
			only:   tokenSet,
			retry:  "retry: {attempts: 1, initial_backoff: 100ms, max_backoff: 200ms}",
			inject: entraFault(emulator.Fault{Status: 503}),
			fails: map[string]string{
				"sales-sql":  "source:unavailable",
				"ledger-key": "encrypt:unavailable",
				"lake-oauth": "source:unavailable",
				"blob-sas":   "patch:unavailable",
			},
			logs:   []string{`could not acquire a token for Power BI`},
			atMost: 60 * time.Second,
		},
		{
			name:   "entra token endpoint drops the connection once",
			only:   tokenSet,
			inject: entraFault(emulator.Fault{Drop: true, Times: 1}),
			atMost: 15 * time.Second,
		},
		{
			// The gateway decrypted the credential and quotes the password
			// it refused: what was sent is ciphertext, so only the
			// rotation's own secrets can tell the message must go.
			name:   "powerbi PATCH 400 echoing the password (on-premises, encrypted)",
			only:   sqlOnly,
			inject: pbiFault(emulator.OpUpdateDatasource, emulator.Fault{EchoSecret: true}),
			fails:  map[string]string{"sales-sql": "patch:http_400"},
			logs:   []string{`credentials rejected`},
			atMost: 15 * time.Second,
		},
		{
			// john lost his access, so the tick adds him again, and the
			// service's 400 quotes the password just PATCHed.
			name: "Add Datasource User 400 echoing the password",
			only: sqlOnly,
			inject: func(t *testing.T, e *env) {
				x := e.entry("sales-sql")
				e.demo.Stack.PowerBI.SetUsers(x.Gateway, x.ID, nil)
				pbiFault(emulator.OpAddDatasourceUser, emulator.Fault{EchoSecret: true})(t, e)
			},
			fails:  map[string]string{"sales-sql": "users:http_400"},
			logs:   []string{`Gateways_AddDatasourceUser: 400 Bad Request`},
			atMost: 15 * time.Second,
		},
		{
			// A redirect off the configured host is refused before anything
			// reaches the other listener: no token, no request.
			name:   "powerbi GetGateway redirect to another listener",
			only:   sqlOnly,
			inject: away.inject(func(e *env, to string) { pbiFault(emulator.OpGetGateway, emulator.Fault{RedirectTo: to})(nil, e) }),
			fails:  map[string]string{"sales-sql": "encrypt:redirect"},
			logs:   []string{ftRedirectLog},
			atMost: 10 * time.Second,
			check:  away.check,
		},
		{
			// The encrypted password and the plain SAS token stay home.
			name: "powerbi PATCH redirect to another listener",
			only: []string{"sales-sql", "blob-sas"},
			inject: away.inject(func(e *env, to string) {
				pbiFault(emulator.OpUpdateDatasource, emulator.Fault{RedirectTo: to, Status: http.StatusPermanentRedirect})(nil, e)
			}),
			fails:  map[string]string{"sales-sql": "patch:redirect", "blob-sas": "patch:redirect"},
			logs:   []string{ftRedirectLog},
			atMost: 10 * time.Second,
			check:  away.check,
		},
		{
			// The client secret in the token request's form stays home.
			name:   "entra token endpoint redirect to another listener",
			only:   sqlOnly,
			inject: away.inject(func(e *env, to string) { entraFault(emulator.Fault{RedirectTo: to})(nil, e) }),
			fails:  map[string]string{"sales-sql": "source:redirect"},
			logs:   []string{ftRedirectLog},
			atMost: 10 * time.Second,
			check:  away.check,
		},
		{
			name:   "powerbi endless body on GetGateway",
			only:   sqlOnly,
			inject: ftSmallChild(pbiFault(emulator.OpGetGateway, emulator.Fault{Endless: true})),
			fails:  map[string]string{"sales-sql": "encrypt:response_too_large"},
			logs:   []string{`response too large: 200 OK with a body over 4194304 bytes`},
			atMost: 10 * time.Second,
			check:  ftOneRequest(emulator.OpGetGateway),
		},
		{
			name:   "keyvault endless body on GetSecret",
			only:   sqlOnly,
			inject: ftSmallChild(kvFault(emulator.Fault{Endless: true})),
			fails:  map[string]string{"sales-sql": "source:response_too_large"},
			logs:   []string{`response too large: 200 OK with a body over 262144 bytes`},
			atMost: 10 * time.Second,
		},
		{
			name:   "entra token endpoint endless body",
			only:   sqlOnly,
			inject: ftSmallChild(entraFault(emulator.Fault{Endless: true})),
			fails:  map[string]string{"sales-sql": "source:response_too_large"},
			logs:   []string{`response too large: 200 OK with a body over 65536 bytes`},
			atMost: 10 * time.Second,
		},
		{
			// An error body is capped too, and its limit is smaller.
			name:   "powerbi endless 503 body on GetGateway",
			only:   sqlOnly,
			inject: ftSmallChild(pbiFault(emulator.OpGetGateway, emulator.Fault{Endless: true, Status: 503})),
			fails:  map[string]string{"sales-sql": "encrypt:response_too_large"},
			logs:   []string{`response too large: 503 Service Unavailable with a body over 65536 bytes`},
			atMost: 10 * time.Second,
		},
		{
			// powerbi.api_url points at a listener whose certificate, from
			// the trusted CA, is for another name: one handshake, no retry.
			name:   "powerbi certificate for another name",
			only:   sqlOnly,
			inject: misnamed.inject,
			fix:    misnamed.fix,
			fails:  map[string]string{"sales-sql": "encrypt:tls"},
			logs:   []string{`tls: https://127\.0\.0\.1:\d+: the certificate is for powerbi\.invalid, not 127\.0\.0\.1`},
			atMost: 10 * time.Second,
			check:  misnamed.check,
		},
	}
}

// TestFaultTable drives the real binary, the real Azure SDK clients and the
// emulators through each fault the daemon must survive, and checks the exit
// code, the one log line, the state file and, always, that the gateway
// never holds a credential other than the previous or the correct new one.
func TestFaultTable(t *testing.T) {
	skipIfShort(t)
	for _, row := range faultRows() {
		t.Run(row.name, func(t *testing.T) { ftRunRow(t, row) })
	}
	t.Run("state file unwritable mid-run", ftStateUnwritable)
	t.Run("state directory unusable at start", ftStateDirBroken)
	t.Run("disk full", ftDiskFull)
	t.Run("gateway key changed while cached (run)", ftGatewayKeyChanged)
}

// ftNoGoroutineLeak fails t if the test leaves goroutines behind in this
// process (the emulators and the harness); register it before newEnv so that
// it runs after the emulators are closed.
func ftNoGoroutineLeak(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, opt)
	})
}

// ftFastRetries shortens the demo inventory's retries so that a failing tick
// ends in well under a second of backoff.
func ftFastRetries(t *testing.T, e *env) { ftSetRetry(t, e, ftRetry) }

// ftRetry is the retry policy of the fault table: the default five attempts
// (four retries per tick, shared by every layer), short backoff.
const ftRetry = "retry: {attempts: 5, initial_backoff: 100ms, max_backoff: 200ms}"

func ftSetRetry(t *testing.T, e *env, retry string) {
	ftEditInventory(t, e, "retry: {attempts: 3, initial_backoff: 1s, max_backoff: 10s}", retry)
}

// ftEditInventory replaces old by new in the demo inventory.
func ftEditInventory(t *testing.T, e *env, old, new string) {
	t.Helper()
	b, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("the demo inventory no longer contains %q", old)
	}
	if err := os.WriteFile(e.demo.ConfigPath, []byte(strings.ReplaceAll(string(b), old, new)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func ftOnceArgs(e *env, only []string) []string {
	args := []string{"once", "--config", e.demo.ConfigPath}
	for _, n := range only {
		args = append(args, "--only", n)
	}
	return args
}

// ftBump gives the sources of the named data sources new values (Key Vault
// versions, file contents) and records them in d.Want. Data sources whose
// source the test cannot change (env, pinned version, OAuth2) keep theirs.
func ftBump(t *testing.T, e *env, names []string) {
	t.Helper()
	month := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	for _, n := range names {
		v := rand.Text()
		switch n {
		case "sales-sql", "hr-fileshare":
			kvName := map[string]string{"sales-sql": "sales-sql-password", "hr-fileshare": "hr-password"}[n]
			e.demo.Stack.KeyVault.SetSecret(kvName, secret.FromString(v), emulator.SecretAttributes{Expires: month})
			e.demo.Want[n]["password"] = v
		case "ledger-key":
			if err := os.WriteFile(filepath.Join(e.dir, "ledger-key"), []byte(v+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e.demo.Want[n]["key"] = v
		}
	}
}

// ftSnapshot copies d.Want for names: the credentials the gateway holds
// after a clean rotation.
func ftSnapshot(e *env, names []string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(names))
	for _, n := range names {
		out[n] = maps.Clone(e.demo.Want[n])
	}
	return out
}

// ftHeld checks every credential the gateway ever accepted for name: each
// is the old one or the current one (d.Want), never anything else, and the
// last is the current one when the data source was just patched, or the
// same as before when it was not. OAuth2 tokens are issued at run time, so
// they are checked for being storage tokens instead.
func ftHeld(t *testing.T, e *env, name string, old map[string]string, before int, patched bool) {
	t.Helper()
	x := e.entry(name)
	hist := e.demo.Stack.PowerBI.History(x.Gateway, x.ID)
	if patched && len(hist) <= before {
		t.Errorf("%s: no new credential reached the gateway", name)
	}
	if !patched && len(hist) != before {
		t.Errorf("%s: the gateway accepted %d credentials during a failed tick", name, len(hist)-before)
	}
	for i, got := range hist {
		if x.Type == "OAuth2" {
			if err := e.demo.Stack.Tokens.Verify(got.Fields["accessToken"], "https://storage.azure.com"); err != nil {
				t.Errorf("%s: credential %d is not a storage token: %v", name, i, err)
			}
			continue
		}
		if !maps.Equal(got.Fields, old) && !maps.Equal(got.Fields, e.demo.Want[name]) {
			t.Errorf("%s: credential %d the gateway accepted is neither the previous nor the current one", name, i)
		}
	}
	if len(hist) > 0 && x.Type != "OAuth2" {
		last := hist[len(hist)-1].Fields
		if patched && !maps.Equal(last, e.demo.Want[name]) {
			t.Errorf("%s: the gateway holds the previous credential, want the current one", name)
		}
		if !patched && !maps.Equal(last, old) {
			t.Errorf("%s: the gateway's credential changed in a failed tick", name)
		}
	}
}

// ftRestored checks a rollback: the gateway got the new credential, then
// the old one back, and nothing else.
func ftRestored(t *testing.T, e *env, name string, old map[string]string, before int) {
	t.Helper()
	x := e.entry(name)
	hist := e.demo.Stack.PowerBI.History(x.Gateway, x.ID)[before:]
	if len(hist) != 2 || !maps.Equal(hist[0].Fields, e.demo.Want[name]) || !maps.Equal(hist[1].Fields, old) {
		t.Errorf("%s: the gateway got %d credentials, want 2: the new one, then the old one back", name, len(hist))
	}
}

func ftHistoryLen(e *env, name string) int {
	x := e.entry(name)
	return len(e.demo.Stack.PowerBI.History(x.Gateway, x.ID))
}

// ftCount counts the requests of op answered with status (0: dropped).
func ftCount(reqs []emulator.RequestRecord, op string, status int) int {
	n := 0
	for _, r := range reqs {
		if r.Operation == op && r.Status == status {
			n++
		}
	}
	return n
}

// ftKeyVaultCount counts the fault run's Key Vault requests answered status.
func ftKeyVaultCount(e *env, status int) int {
	n := 0
	for _, r := range e.demo.Stack.KeyVault.Requests()[e.kvSeen:] {
		if r.Status == status {
			n++
		}
	}
	return n
}

// ftLines checks the one `msg=rotation` line each data source's tick ends
// with: a failure naming stage and reason, or a success.
func ftLines(t *testing.T, out string, names []string, fails map[string]string) {
	t.Helper()
	for _, n := range names {
		lines := regexp.MustCompile(`(?m)^.*msg=rotation datasource=`+regexp.QuoteMeta(n)+` .*$`).FindAllString(out, -1)
		if len(lines) != 1 {
			t.Errorf("%s: %d rotation lines, want 1:\n%s", n, len(lines), out)
			continue
		}
		want := `result=success`
		if sr, ok := fails[n]; ok {
			stage, reason, _ := strings.Cut(sr, ":")
			want = `result=failure stage=` + stage + ` reason=` + reason + ` error=`
		}
		if !strings.Contains(lines[0], want) {
			t.Errorf("%s: rotation line lacks %q:\n%s", n, want, lines[0])
		}
	}
}

// ftClean fails on output no operator should see: stack traces, panics,
// data races.
func ftClean(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"goroutine ", "panic", "DATA RACE", ".go:"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q:\n%s", bad, out)
		}
	}
}

// ftNoLeak is checkNoLeak plus the secret values the row replaced, which
// d.Secrets no longer lists.
func ftNoLeak(t *testing.T, e *env, old map[string]map[string]string) {
	t.Helper()
	e.checkNoLeak()
	out := e.out.String()
	st, _ := os.ReadFile(filepath.Join(e.dir, "state.json"))
	for _, fields := range old {
		for k, v := range fields {
			if !literalField(k) && v != "" && (strings.Contains(out, v) || strings.Contains(string(st), v)) {
				t.Error("a replaced secret value appears in the output or the state file")
			}
		}
	}
}

// ftRunTimed runs rotatord and returns its exit code, the output it wrote
// and how long it took.
func ftRunTimed(e *env, args ...string) (int, string, time.Duration) {
	mark := len(e.out.String())
	start := time.Now()
	code := e.run(args...)
	return code, e.out.String()[mark:], time.Since(start)
}

func ftRunRow(t *testing.T, row faultRow) {
	ftNoGoroutineLeak(t)
	e := newEnv(t, "")
	if row.retry == "" {
		row.retry = ftRetry
	}
	ftSetRetry(t, e, row.retry)
	args := ftOnceArgs(e, row.only)
	if code, out, _ := ftRunTimed(e, args...); code != 0 {
		t.Fatalf("the clean first rotation exited %d:\n%s", code, out)
	}
	old := ftSnapshot(e, row.only)
	before := map[string]int{}
	for _, n := range row.only {
		before[n] = ftHistoryLen(e, n)
	}
	ftBump(t, e, row.only)
	e.pbiSeen, e.kvSeen = len(e.demo.Stack.PowerBI.Requests()), len(e.demo.Stack.KeyVault.Requests())
	row.inject(t, e)

	code, out, took := ftRunTimed(e, args...)
	want := 0
	if len(row.fails) > 0 {
		want = 1
	}
	if code != want {
		t.Fatalf("once exited %d, want %d; output:\n%s", code, want, out)
	}
	if took < row.atLeast {
		t.Errorf("once took %s, less than %s: did the fault bite?", took.Round(time.Millisecond), row.atLeast)
	}
	if row.atMost > 0 && took > row.atMost {
		t.Errorf("once took %s, more than %s", took.Round(time.Millisecond), row.atMost)
	}
	ftLines(t, out, row.only, row.fails)
	ftClean(t, out)
	for _, p := range row.logs {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", p, out)
		}
	}
	st := e.state()
	for _, n := range row.only {
		sr, failed := row.fails[n]
		if got := st.Datasources[n].LastError; got != sr {
			t.Errorf("%s: state LastError %q, want %q", n, got, sr)
		}
		if row.restores {
			ftRestored(t, e, n, old[n], before[n])
		} else {
			// A failure after the PATCH leaves the new credential in place.
			ftHeld(t, e, n, old[n], before[n], !failed || strings.HasPrefix(sr, "users:") || strings.HasPrefix(sr, "verify:"))
		}
		before[n] = ftHistoryLen(e, n)
	}
	if row.check != nil {
		row.check(t, e, out)
	}

	if want == 1 {
		// Failed this tick: once the fault is gone, the next tick succeeds.
		if row.fix != nil {
			row.fix(t, e)
		} else {
			e.demo.Stack.PowerBI.Faults().Clear()
			e.demo.Stack.KeyVault.Faults().Clear()
			e.demo.Stack.Identity.Faults().Clear()
		}
		code, out, _ := ftRunTimed(e, args...)
		if code != 0 {
			t.Fatalf("the tick after the fault was fixed exited %d:\n%s", code, out)
		}
		ftLines(t, out, row.only, nil)
		st := e.state()
		for _, n := range row.only {
			if got := st.Datasources[n].LastError; got != "" {
				t.Errorf("%s: state LastError %q after a success", n, got)
			}
			if _, failed := row.fails[n]; failed {
				ftHeld(t, e, n, old[n], before[n], true)
			}
		}
	}
	ftNoLeak(t, e, old)
}

// ftStateUnwritable: the state directory turns into a regular file while a
// rotation is in flight (as a volume that went away would). The rotation
// still succeeds, the failed write is one clear error line, and once exits
// 0: the credential was rotated, only the record of it is missing.
func ftStateUnwritable(t *testing.T) {
	ftNoGoroutineLeak(t)
	e := newEnv(t, "")
	ftFastRetries(t, e)
	stateDir := filepath.Join(e.dir, "st")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ftEditInventory(t, e, "state_file: "+filepath.Join(e.dir, "state.json"), "state_file: "+filepath.Join(stateDir, "state.json"))
	// Hold the PATCH so that the swap lands between opening and saving the state.
	e.demo.Stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Latency: 1500 * time.Millisecond, Times: 1})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := e.command(ctx, ftOnceArgs(e, sqlOnly)...)
	wait, err := startBounded(t, cmd, childMemoryLimit)
	if err != nil {
		t.Fatal(err)
	}
	// The state is opened before any request goes out.
	testutil.WaitFor(t, "the first token request", 20*time.Second, func() bool {
		return len(e.demo.Stack.Identity.Requests()) > 0
	})
	if err := os.Rename(stateDir, stateDir+".gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stateDir, []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code := ftExitCode(t, wait())
	out := e.out.String()
	if code != 0 {
		t.Errorf("once exited %d, want 0 (the rotation happened); output:\n%s", code, out)
	}
	ftLines(t, out, sqlOnly, nil)
	line := regexp.MustCompile(`(?m)^.*level=ERROR msg="state file not written" path=\S+ error=".*not a directory.*"$`)
	if n := len(line.FindAllString(out, -1)); n != 1 {
		t.Errorf("%d `state file not written` lines naming the cause, want 1:\n%s", n, out)
	}
	ftClean(t, out)
	ftHeld(t, e, "sales-sql", nil, 0, true)
	e.checkNoLeak()
}

// ftStateDirBroken: a state_file whose directory is not a directory is a
// deployment error, refused at start with exit 2 before anything is sent.
func ftStateDirBroken(t *testing.T) {
	ftNoGoroutineLeak(t)
	e := newEnv(t, "")
	notDir := filepath.Join(e.dir, "afile")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ftEditInventory(t, e, "state_file: "+filepath.Join(e.dir, "state.json"), "state_file: "+filepath.Join(notDir, "state.json"))
	code, out, _ := ftRunTimed(e, ftOnceArgs(e, nil)...)
	if code != 2 {
		t.Errorf("once exited %d, want 2; output:\n%s", code, out)
	}
	if !strings.Contains(out, "state file "+filepath.Join(notDir, "state.json")) || !strings.Contains(out, "not a directory") {
		t.Errorf("the refusal does not name the state file and the cause:\n%s", out)
	}
	if reqs := e.demo.Stack.PowerBI.Requests(); len(reqs) != 0 {
		t.Errorf("%d Power BI requests sent by a daemon that refused to start", len(reqs))
	}
	ftClean(t, out)
}

// ftDiskFull puts the state file on a full tmpfs, mounted in a private mount
// namespace of the child only: rotations succeed, the write fails with
// ENOSPC in one error line, and once exits 0.
func ftDiskFull(t *testing.T) {
	unshare, err := ftMountNamespace()
	if err != nil {
		t.Skipf("cannot mount a tmpfs in a private mount namespace here: %v", err)
	}
	ftNoGoroutineLeak(t)
	e := newEnv(t, "")
	ftFastRetries(t, e)
	full := filepath.Join(e.dir, "full")
	if err := os.Mkdir(full, 0o700); err != nil {
		t.Fatal(err)
	}
	ftEditInventory(t, e, "state_file: "+filepath.Join(e.dir, "state.json"), "state_file: "+filepath.Join(full, "state.json"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := ftOnceArgs(e, nil)
	cmd := e.command(ctx, args...)
	// Mount a 64 KiB tmpfs, fill it, then become rotatord (same process).
	// mode=0700: a tmpfs is 1777 by default, a state directory rotatord refuses.
	script := `mount -t tmpfs -o size=64k,mode=0700 rotatord-full "$FULL" || exit 97
dd if=/dev/zero of="$FULL/filler" bs=4096 2>/dev/null
exec "$0" "$@"`
	cmd.Path = unshare[0]
	cmd.Args = append(append(unshare, "sh", "-c", script, binary), args...)
	cmd.Env = append(cmd.Env, "FULL="+full)
	code := ftExitCode(t, runBounded(t, cmd))
	out := e.out.String()
	if code == 97 {
		t.Skipf("mounting the tmpfs failed:\n%s", out)
	}
	if code != 0 {
		t.Errorf("once exited %d, want 0 (every rotation happened); output:\n%s", code, out)
	}
	ftLines(t, out, ftNames(e), nil)
	line := regexp.MustCompile(`(?m)^.*level=ERROR msg="state file not written" path=\S+ error=".*no space left on device.*"$`)
	if n := len(line.FindAllString(out, -1)); n != 1 {
		t.Errorf("%d `state file not written` lines naming ENOSPC, want 1:\n%s", n, out)
	}
	ftClean(t, out)
	if _, err := os.Stat(filepath.Join(full, "state.json")); err == nil {
		t.Error("the state file escaped the child's mount namespace")
	}
	e.checkNoLeak()
}

// ftMountNamespace finds how this machine lets a child mount a tmpfs of its
// own: `unshare -m` as root, `unshare -rm` with user namespaces.
func ftMountNamespace() ([]string, error) {
	path, err := exec.LookPath("unshare")
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, flags := range []string{"-m", "-rm"} {
		probe := exec.Command(path, flags, "sh", "-c", `d=$(mktemp -d) && mount -t tmpfs -o size=4k probe "$d" && umount "$d"; s=$?; rmdir "$d"; exit $s`)
		out, err := probe.CombinedOutput()
		if err == nil {
			return []string{path, flags}, nil
		}
		errs = append(errs, fmt.Sprintf("unshare %s: %v: %s", flags, err, strings.TrimSpace(string(out))))
	}
	return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
}

func ftNames(e *env) []string {
	var out []string
	for _, x := range demo.Catalog() {
		out = append(out, x.Name)
	}
	return out
}

func ftExitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// ftGatewayKeyChanged runs the daemon, which caches gateway keys, lets every
// data source rotate, then (1) throttles PATCHes beyond the Retry-After
// ceiling to see the failure in the log and the metrics, and (2) gives the
// 1024-bit gateway a new key: the next PATCH with the cached key is rejected
// with 400, the rotator fetches the key again and succeeds in the same tick.
func ftGatewayKeyChanged(t *testing.T) {
	ftNoGoroutineLeak(t)
	e := newEnv(t, "")
	ftFastRetries(t, e)
	ftEditInventory(t, e, `schedule: "@every 1m"`, `schedule: "@every 2s"`)
	ftEditInventory(t, e, "jitter: 10s", "jitter: 0s")
	d := e.start("run", "--config", e.demo.ConfigPath)
	onKeyGateway := []string{"hr-fileshare", "ledger-key"}
	successes := func(name string) int {
		return len(regexp.MustCompile(`(?m)^.*msg=rotation datasource=`+name+` .*result=success.*$`).FindAllString(e.out.String(), -1))
	}
	testutil.WaitFor(t, "a first rotation on the 1024-bit gateway", 30*time.Second, func() bool {
		return successes("hr-fileshare") > 0 && successes("ledger-key") > 0
	})

	// (1) Throttled beyond the ceiling: a failure line and its metric.
	pbi := e.demo.Stack.PowerBI
	pbi.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Status: 429, RetryAfter: "3600"})
	failure := regexp.MustCompile(`(?m)^.*msg=rotation datasource=(\S+) .*result=failure stage=patch reason=throttled .*$`)
	var failed string
	testutil.WaitFor(t, "a throttled tick", 30*time.Second, func() bool {
		if m := failure.FindStringSubmatch(e.out.String()); m != nil {
			failed = m[1]
		}
		return failed != ""
	})
	_, body := d.get("/metrics")
	series := `rotatord_rotation_failures_total{datasource="` + failed + `",reason="throttled",stage="patch"} `
	if !strings.Contains(body, series) {
		t.Errorf("/metrics lacks %s after a throttled tick", series)
	}
	if !regexp.MustCompile(`rotatord_rotations_total\{credential_type="\w+",datasource="` + failed + `",result="failure"\} [1-9]`).MatchString(body) {
		t.Errorf("/metrics counts no failed rotation of %s", failed)
	}
	pbi.Faults().Clear()

	// (2) The gateway key changes under the cache.
	rejected := ftCount(pbi.Requests(), emulator.OpUpdateDatasource, 400)
	mark := len(e.out.String())
	if err := pbi.RotateGatewayKey(demo.Gateway1024); err != nil {
		t.Fatal(err)
	}
	since := func() string { return e.out.String()[mark:] }
	testutil.WaitFor(t, "the rotator to notice the new gateway key", 30*time.Second, func() bool {
		return strings.Contains(since(), `msg="gateway key changed, encrypting again"`)
	})
	if n := ftCount(pbi.Requests(), emulator.OpUpdateDatasource, 400) - rejected; n < 1 {
		t.Errorf("no PATCH was rejected after the key change: was the key not cached?")
	}
	// Both data sources on the gateway rotate with the key fetched again.
	before := map[string]int{}
	for _, n := range onKeyGateway {
		before[n] = successes(n)
	}
	testutil.WaitFor(t, "rotations with the new gateway key", 30*time.Second, func() bool {
		return successes("hr-fileshare") > before["hr-fileshare"] && successes("ledger-key") > before["ledger-key"]
	})
	_, body = d.get("/metrics")
	if !regexp.MustCompile(`rotatord_powerbi_requests_total\{code="400",operation="Gateways_UpdateDatasource"\} [1-9]`).MatchString(body) {
		t.Error("/metrics does not count the rejected PATCH")
	}
	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if bad := regexp.MustCompile(`(?m)^.*msg=rotation datasource=(hr-fileshare|ledger-key) .*result=failure.*$`).FindString(since()); bad != "" {
		t.Errorf("a tick failed on the key change instead of fetching the key again:\n%s", bad)
	}
	out := e.out.String()
	ftClean(t, out)
	for _, n := range onKeyGateway {
		x := e.entry(n)
		for i, got := range pbi.History(x.Gateway, x.ID) {
			if !maps.Equal(got.Fields, e.demo.Want[n]) {
				t.Errorf("%s: credential %d the gateway accepted is not the source's", n, i)
			}
		}
	}
	e.checkNoLeak()
}
