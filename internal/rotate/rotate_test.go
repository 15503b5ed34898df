package rotate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

const (
	gw   = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	dsID = "252b9de8-d915-4788-aaeb-ec8c2395f970"
)

// t0 is the fake clock's start, years away from wall time, so that a check
// made on wall time instead of the Rotator's clock shows.
var t0 = time.Date(2040, 6, 1, 3, 0, 0, 0, time.UTC)

// fake is a Rotator on in-memory fakes of Power BI and Key Vault, and a
// fake clock.
type fake struct {
	t      *testing.T
	pbi    *fakePowerBI
	vault  *fakeVault
	env    map[string]string
	clock  *clocktest.Fake
	rot    *Rotator
	cfg    *config.Config
	pushed map[string]string // what the caller records of each PATCH, as the daemon's state does
	// verified is what the caller records of each version that verified.
	verified map[string]string
}

// newFake is a 2048-bit gateway with one Basic data source, sales-sql,
// whose password is db-password in the vault; extra is YAML appended to the
// data source.
func newFake(t *testing.T, extra string) *fake {
	t.Helper()
	f := &fake{t: t, pbi: newFakePowerBI(t), vault: &fakeVault{secrets: map[string]sources.Value{}},
		env: map[string]string{}, clock: clocktest.NewFake(t0), pushed: map[string]string{}, verified: map[string]string{}}
	f.pbi.addGateway(gw, 2048)
	f.setPassword("first-password", "v1")
	cfg, err := config.Parse("inventory.yaml", []byte("keyvaults: {main: https://fake.vault.azure.net/}\n"+salesSQL(extra)))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.rot = New(Options{
		PowerBI: f.pbi,
		Pool:    cipher.NewPool(2),
		Sources: &Sources{
			KeyVaults: map[string]KeyVault{"main": f.vault},
			LookupEnv: func(k string) (string, bool) { v, ok := f.env[k]; return v, ok },
		},
		Pushed:   func(name string) (string, bool) { v, ok := f.pushed[name]; return v, ok },
		Verified: func(name string) (string, bool) { v, ok := f.verified[name]; return v, ok },
		Clock:    f.clock,
	})
	return f
}

func (f *fake) setPassword(pw, version string) {
	f.vault.set("db-password", sources.Value{Secret: secret.FromString(pw), Version: version})
}

func (f *fake) rotateDS(name string) (Result, error) {
	f.t.Helper()
	ds, ok := f.cfg.Datasource(name)
	if !ok {
		f.t.Fatalf("no data source %s", name)
	}
	res, err := f.rot.Rotate(context.Background(), ds)
	if res.Patched {
		f.pushed[ds.Name] = res.SourceVersion
	}
	if res.VerifiedVersion != "" {
		f.verified[ds.Name] = res.VerifiedVersion
	}
	return res, err
}

func (f *fake) rotate() (Result, error) { f.t.Helper(); return f.rotateDS("sales-sql") }

func (f *fake) password() string { return f.pbi.credential(dsID)["password"] }

// TestRotateResult: a rotation reports, on the Rotator's clock, when it
// started, when the PATCH landed, what it pushed, and every stage's time.
func TestRotateResult(t *testing.T) {
	f := newFake(t, "    users:\n      - {email: john@contoso.com, access: Read}\n")
	f.pbi.onUpdate = func() { f.clock.Advance(2 * time.Second) } // the PATCH takes 2s
	res, err := f.rotate()
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Started: t0, Patched: true, PatchedAt: t0.Add(2 * time.Second), SourceVersion: "v1", UsersAdded: 1,
		Stages: []StageTime{{StageSource, 0}, {StageEncrypt, 0}, {StagePatch, 2 * time.Second}, {StageVerify, 0}, {StageUsers, 0}}}
	if !res.Started.Equal(want.Started) || !res.PatchedAt.Equal(want.PatchedAt) || res.Patched != want.Patched ||
		res.SourceVersion != want.SourceVersion || res.UsersAdded != want.UsersAdded || !slices.Equal(res.Stages, want.Stages) {
		t.Errorf("Result\n %+v, want\n %+v", res, want)
	}
	if got := f.password(); got != "first-password" {
		t.Errorf("the gateway holds %q, want the password", got)
	}
}

// A new gateway key (a reinstalled gateway) makes the old key's ciphertext
// undecryptable: the PATCH is rejected, the key fetched again, and the
// credential encrypted for the new one.
func TestRotateRefetchesAChangedKey(t *testing.T) {
	f := newFake(t, "")
	if _, err := f.rotate(); err != nil {
		t.Fatal(err)
	}
	f.pbi.addGateway(gw, 2048)
	f.setPassword("second-password", "v2")
	res, err := f.rotate()
	if err != nil {
		t.Fatalf("rotation after a gateway key change: %v", err)
	}
	if got := f.password(); got != "second-password" {
		t.Errorf("the gateway holds %q, want the new password", got)
	}
	if n, m := f.pbi.count(opGetGateway), f.pbi.count(opUpdate); n != 2 || m != 3 {
		t.Errorf("GetGateway %d, PATCH %d times; want 2 (first use, after the rejection) and 3 (first, rejected, re-encrypted)", n, m)
	}
	var stages []Stage
	for _, s := range res.Stages {
		stages = append(stages, s.Stage)
	}
	if want := []Stage{StageSource, StageEncrypt, StagePatch, StagePatch, StageVerify, StageUsers}; !slices.Equal(stages, want) {
		t.Errorf("stages %v, want %v", stages, want)
	}
}

func TestRotateRejectedWithTheSameKeyFailsOnce(t *testing.T) {
	f := newFake(t, "")
	if _, err := f.rotate(); err != nil {
		t.Fatal(err)
	}
	f.pbi.fail(opUpdate, &pbi.Error{Operation: opUpdate, StatusCode: http.StatusBadRequest, Code: "DM_GWPipeline_Gateway_InvalidConnectionCredentials"})
	f.setPassword("second-password", "v2")
	res, err := f.rotate()
	re, ok := err.(*Error)
	if !ok || re.Stage != StagePatch || re.Reason != "http_400" || re.Retryable() || res.Patched {
		t.Fatalf("patched=%v err=%v, want a permanent patch failure with reason http_400", res.Patched, err)
	}
	if n := f.pbi.count(opUpdate); n != 2 {
		t.Errorf("PATCH sent %d times, want 2: no second try when the key did not change", n)
	}
	if got := f.password(); got != "first-password" {
		t.Errorf("a failed rotation replaced the credential: the gateway holds %q", got)
	}
}

func TestRotateSkipUnchanged(t *testing.T) {
	f := newFake(t, "    skip_unchanged: true\n")
	for range 2 {
		if _, err := f.rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.pbi.count(opUpdate); n != 1 {
		t.Fatalf("PATCH sent %d times for an unchanged version, want 1", n)
	}
	f.setPassword("second-password", "v2")
	res, err := f.rotate()
	if err != nil || !res.Patched {
		t.Fatalf("new version: patched=%v err=%v", res.Patched, err)
	}
	if got := f.password(); got != "second-password" {
		t.Errorf("the gateway holds %q after a new version", got)
	}
}

// TestRotateExpiry: a credential whose expiry is not after the Rotator's
// clock is refused before anything is sent; wall time plays no part.
func TestRotateExpiry(t *testing.T) {
	tests := map[string]struct {
		expires time.Time
		refused bool
	}{
		"expired an hour ago":                {expires: t0.Add(-time.Hour), refused: true},
		"expires now":                        {expires: t0, refused: true},
		"expires in a second":                {expires: t0.Add(time.Second)},
		"past on the wall, not on the clock": {expires: time.Now().AddDate(0, 0, 1)}, // t0 is later than wall time
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "")
			f.vault.set("db-password", sources.Value{Secret: secret.FromString("pw"), Version: "v1", ExpiresAt: tc.expires})
			if !tc.refused {
				f.clock.Set(tc.expires.Add(-time.Second))
			}
			res, err := f.rotate()
			if !tc.refused {
				if err != nil || !res.ExpiresAt.Equal(tc.expires) {
					t.Fatalf("ExpiresAt %v, err %v; want %v, no error", res.ExpiresAt, err, tc.expires)
				}
				return
			}
			if re, ok := err.(*Error); !ok || re.Stage != StageSource || re.Reason != "expired" {
				t.Fatalf("err = %v, want a source failure with reason expired", err)
			}
			if f.pbi.count(opUpdate) != 0 {
				t.Error("an expired secret was sent to Power BI")
			}
		})
	}
}

// An access token whose exp is past is refused by Rotate and by Plan alike:
// a plan must not promise a PATCH the rotation will not send.
func TestExpiredAccessTokenRefusedByRotateAndPlan(t *testing.T) {
	f := newFake(t, `  - name: lake
    gateway_id: `+gw+`
    datasource_id: 9a8b7c6d-5e4f-4321-9fed-cba987654321
    credential_type: OAuth2
    encrypt: none
    source: {access_token_env: ROTATORD_TEST_TOKEN}
`)
	b64 := base64.RawURLEncoding.EncodeToString
	f.env["ROTATORD_TEST_TOKEN"] = b64([]byte(`{"alg":"none"}`)) + "." +
		b64(fmt.Appendf(nil, `{"exp":%d}`, t0.Add(-time.Hour).Unix())) + ".sig"
	ds, _ := f.cfg.Datasource("lake")
	_, rerr := f.rot.Rotate(context.Background(), ds)
	p, perr := f.rot.Plan(context.Background(), ds)
	for name, err := range map[string]error{"Rotate": rerr, "Plan": perr} {
		if re, ok := err.(*Error); !ok || re.Stage != StageSource || re.Reason != "expired" {
			t.Errorf("%s: %v, want a source failure with reason expired", name, err)
		}
	}
	if p.Patch || p.ExpiresAt.IsZero() {
		t.Errorf("Plan = %+v, want no PATCH and the token's expiry", p)
	}
	if f.pbi.writes() != 0 {
		t.Error("an expired token was sent to Power BI")
	}
}

func TestRotateUsersWithPrune(t *testing.T) {
	f := newFake(t, `    prune: true
    users:
      - {email: john@contoso.com, access: Read}
      - {email: ann@contoso.com, access: ReadOverrideEffectiveIdentity}
`)
	f.pbi.setUsers(dsID,
		pbi.DatasourceUser{DatasourceAccessRight: "Read", EmailAddress: "ann@contoso.com", PrincipalType: "User"},
		pbi.DatasourceUser{DatasourceAccessRight: "Read", EmailAddress: "stray@contoso.com", PrincipalType: "User"})
	res, err := f.rotate()
	if err != nil {
		t.Fatal(err)
	}
	if res.UsersAdded != 2 || res.UsersRemoved != 1 {
		t.Errorf("added %d removed %d, want 2 and 1", res.UsersAdded, res.UsersRemoved)
	}
	want := []string{"ann@contoso.com:ReadOverrideEffectiveIdentity", "john@contoso.com:Read"}
	if got := f.pbi.userList(dsID); !slices.Equal(got, want) {
		t.Errorf("users = %v, want %v", got, want)
	}
	if d := f.rot.UsersDrift("sales-sql"); d != 0 {
		t.Errorf("drift after reconciling = %d, want 0", d)
	}
}

func TestPlanSendsNoWrites(t *testing.T) {
	f := newFake(t, `    users:
      - {email: john@contoso.com, access: Read}
`)
	ds, _ := f.cfg.Datasource("sales-sql")
	p, err := f.rot.Plan(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyBits != 2048 || !p.Patch || len(p.UsersToAdd) != 1 || p.SourceVersion != "v1" {
		t.Errorf("plan = %+v", p)
	}
	if n := f.pbi.writes(); n != 0 {
		t.Errorf("plan sent %d writes", n)
	}
}

// TestRotateUsersFailureKeepsThePatch: when adding a user fails after the
// PATCH landed, the Result still says what was pushed, for the state.
func TestRotateUsersFailureKeepsThePatch(t *testing.T) {
	f := newFake(t, `    users:
      - {email: john@contoso.com, access: Read}
`)
	f.pbi.fail(opAddUser, &pbi.Error{Operation: opAddUser, StatusCode: http.StatusForbidden, Code: "PowerBINotAuthorizedException"})
	res, err := f.rotate()
	re, ok := err.(*Error)
	if !ok || re.Stage != StageUsers || re.Reason != "http_403" || !res.Patched {
		t.Fatalf("patched=%v err=%v, want a users failure after the PATCH", res.Patched, err)
	}
	if res.PatchedAt.IsZero() || res.SourceVersion != "v1" {
		t.Errorf("result = %+v: want the pushed credential", res)
	}
	if got := f.password(); got != "first-password" {
		t.Errorf("the gateway holds %q", got)
	}
	if d := f.rot.UsersDrift("sales-sql"); d != 1 {
		t.Errorf("drift = %d, want 1", d)
	}
}

// Rotations waiting for one gateway's key share a GET; when the rotation
// that started it is cancelled, the others still get the key.
func TestKeyFetchSurvivesTheLeadersCancellation(t *testing.T) {
	f := newFake(t, "")
	inFlight := make(chan struct{})
	var led atomic.Bool
	f.pbi.block = func(ctx context.Context) error {
		if led.Swap(true) {
			return nil
		}
		// The first GET is the leader's: singleflight sends one at a time.
		close(inFlight)
		<-ctx.Done() // parked at Power BI until its caller gives up
		return ctx.Err()
	}
	leader, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := f.rot.keys.get(leader, gw)
		leaderDone <- err
	}()
	<-inFlight
	followerDone := make(chan error, 1)
	go func() {
		_, err := f.rot.keys.get(context.Background(), gw)
		followerDone <- err
	}()
	// The follower joins the leader's GET. Should it come late, after the
	// cancellation, it leads a fetch of its own and the test still passes:
	// it may prove less on a loaded machine, never fail by chance.
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want its own cancellation", err)
	}
	if err := <-followerDone; err != nil {
		t.Errorf("follower failed with the leader's cancellation: %v", err)
	}
}

// salesSQL is the inventory's datasources list of the rotate tests: the one
// Basic data source, on gateway gw, its password in Key Vault "main", and
// extra lines of its own.
func salesSQL(extra string) string {
	return fmt.Sprintf(`datasources:
  - name: sales-sql
    gateway_id: %s
    datasource_id: %s
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: db-password}
%s`, gw, dsID, extra)
}
