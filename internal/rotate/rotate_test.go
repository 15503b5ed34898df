package rotate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

const (
	gw   = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	dsID = "252b9de8-d915-4788-aaeb-ec8c2395f970"
)

// fixture is a Rotator wired to the emulators through the real clients.
type fixture struct {
	t     *testing.T
	stack *emulator.Stack
	rot   *Rotator
	cfg   *config.Config
	// pushed is what the caller records of each PATCH, as the daemon's
	// state does; rotate reads it through Options.Pushed.
	pushed map[string]string
}

// newFixture starts the emulators with one 2048-bit gateway holding one
// Basic data source, and a Rotator for the inventory extra (YAML lines
// appended to the data source).
func newFixture(t *testing.T, extra string) *fixture {
	t.Helper()
	st, err := emulator.StartStack(emulator.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PowerBI.AddGateway(gw, 2048); err != nil {
		t.Fatal(err)
	}
	if err := st.PowerBI.AddDatasource(gw, dsID, "Basic"); err != nil {
		t.Fatal(err)
	}
	st.KeyVault.SetSecret("db-password", secret.FromString("first-password"), emulator.SecretAttributes{})

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, st.ClientSecret.Reveal(), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`powerbi: {api_url: %s}
keyvaults: {main: %s}
state_file: %s/state.json
datasources:
  - name: sales-sql
    gateway_id: %s
    datasource_id: %s
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: db-password}
%s`, st.PowerBIURL, st.KeyVaultURL, dir, gw, dsID, extra)
	cfg, err := config.Parse("inventory.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	transport := st.CA.Client()
	cred, err := sources.NewCredential(sources.AuthOptions{
		Method: "client_secret", TenantID: st.TenantID, ClientID: st.ClientID,
		ClientSecretFile: secretFile, AuthorityHost: st.AuthorityURL, Transport: transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pbi.New(pbi.Options{APIURL: st.PowerBIURL, Credential: cred, Transport: transport, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := sources.NewKeyVault(st.KeyVaultURL, cred, sources.KeyVaultOptions{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, stack: st, cfg: cfg, pushed: make(map[string]string)}
	f.rot = New(Options{
		PowerBI: client,
		Pool:    cipher.NewPool(2),
		Sources: &Sources{KeyVaults: map[string]*sources.KeyVault{"main": kv}, Credential: cred},
		Pushed: func(name string) (string, bool) {
			v, ok := f.pushed[name]
			return v, ok
		},
	})
	return f
}

func (f *fixture) rotate() (Result, error) {
	f.t.Helper()
	ds, _ := f.cfg.Datasource("sales-sql")
	res, err := f.rot.Rotate(context.Background(), ds)
	if res.Patched {
		f.pushed[ds.Name] = res.SourceVersion
	}
	return res, err
}

func (f *fixture) count(op string) int {
	n := 0
	for _, r := range f.stack.PowerBI.Requests() {
		if r.Operation == op {
			n++
		}
	}
	return n
}

func (f *fixture) password() string {
	got, ok := f.stack.PowerBI.Credential(gw, dsID)
	if !ok {
		return ""
	}
	return got.Fields["password"]
}

func TestRotateRefetchesAChangedGatewayKey(t *testing.T) {
	f := newFixture(t, "")
	if _, err := f.rotate(); err != nil {
		t.Fatal(err)
	}
	if err := f.stack.PowerBI.RotateGatewayKey(gw); err != nil {
		t.Fatal(err)
	}
	f.stack.KeyVault.SetSecret("db-password", secret.FromString("second-password"), emulator.SecretAttributes{})
	if _, err := f.rotate(); err != nil {
		t.Fatalf("rotation after a gateway key change: %v", err)
	}
	if got := f.password(); got != "second-password" {
		t.Errorf("the gateway holds %q, want the new password", got)
	}
	if n := f.count(emulator.OpGetGateway); n != 2 {
		t.Errorf("GetGateway called %d times, want 2 (first use, then after the rejection)", n)
	}
	if n := f.count(emulator.OpUpdateDatasource); n != 3 {
		t.Errorf("PATCH sent %d times, want 3 (first, rejected, re-encrypted)", n)
	}
}

func TestRotateRejectedWithTheSameKeyFailsOnce(t *testing.T) {
	f := newFixture(t, "")
	if _, err := f.rotate(); err != nil {
		t.Fatal(err)
	}
	f.stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Status: 400, Code: "DM_GWPipeline_Gateway_InvalidConnectionCredentials", Times: 1})
	f.stack.KeyVault.SetSecret("db-password", secret.FromString("second-password"), emulator.SecretAttributes{})
	_, err := f.rotate()
	re, ok := err.(*Error)
	if !ok || re.Stage != "patch" || re.Reason != "http_400" || re.Retryable() {
		t.Fatalf("err = %v, want a permanent patch failure with reason http_400", err)
	}
	if n := f.count(emulator.OpUpdateDatasource); n != 2 {
		t.Errorf("PATCH sent %d times, want 2: no second try when the key did not change", n)
	}
	if got := f.password(); got != "first-password" {
		t.Errorf("a failed rotation replaced the credential: the gateway holds %q", got)
	}
}

func TestRotateSkipUnchanged(t *testing.T) {
	f := newFixture(t, "    skip_unchanged: true\n")
	for range 2 {
		if _, err := f.rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(emulator.OpUpdateDatasource); n != 1 {
		t.Fatalf("PATCH sent %d times for an unchanged version, want 1", n)
	}
	f.stack.KeyVault.SetSecret("db-password", secret.FromString("second-password"), emulator.SecretAttributes{})
	res, err := f.rotate()
	if err != nil || !res.Patched {
		t.Fatalf("new version: patched=%v err=%v", res.Patched, err)
	}
	if got := f.password(); got != "second-password" {
		t.Errorf("the gateway holds %q after a new version", got)
	}
}

func TestRotateExpiredSecretIsRefused(t *testing.T) {
	f := newFixture(t, "")
	f.stack.KeyVault.SetSecret("db-password", secret.FromString("stale"), emulator.SecretAttributes{Expires: time.Now().Add(-time.Hour)})
	_, err := f.rotate()
	re, ok := err.(*Error)
	if !ok || re.Stage != "source" || re.Reason != "expired" {
		t.Fatalf("err = %v, want a source failure with reason expired", err)
	}
	if f.count(emulator.OpUpdateDatasource) != 0 {
		t.Error("an expired secret was sent to Power BI")
	}
}

// An access token whose exp is past is refused by Rotate and by Plan alike:
// a plan must not promise a PATCH the rotation will not send.
func TestExpiredAccessTokenRefusedByRotateAndPlan(t *testing.T) {
	f := newFixture(t, "")
	b64 := base64.RawURLEncoding.EncodeToString
	t.Setenv("ROTATORD_TEST_TOKEN", b64([]byte(`{"alg":"none"}`))+"."+
		b64(fmt.Appendf(nil, `{"exp":%d}`, time.Now().Add(-time.Hour).Unix()))+".sig")
	cfg, err := config.Parse("inventory.yaml", []byte(`datasources:
  - name: lake
    gateway_id: `+gw+`
    datasource_id: `+dsID+`
    credential_type: OAuth2
    encrypt: none
    source: {access_token_env: ROTATORD_TEST_TOKEN}
`))
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := cfg.Datasource("lake")
	_, rerr := f.rot.Rotate(context.Background(), ds)
	p, perr := f.rot.Plan(context.Background(), ds)
	for name, err := range map[string]error{"Rotate": rerr, "Plan": perr} {
		if re, ok := err.(*Error); !ok || re.Stage != "source" || re.Reason != "expired" {
			t.Errorf("%s: %v, want a source failure with reason expired", name, err)
		}
	}
	if p.Patch || p.ExpiresAt.IsZero() {
		t.Errorf("Plan = %+v, want no PATCH and the token's expiry", p)
	}
}

func TestRotateUsersWithPrune(t *testing.T) {
	f := newFixture(t, `    prune: true
    users:
      - {email: john@contoso.com, access: Read}
      - {email: ann@contoso.com, access: ReadOverrideEffectiveIdentity}
`)
	f.stack.PowerBI.SetUsers(gw, dsID, []emulator.User{
		{DatasourceAccessRight: "Read", EmailAddress: "ann@contoso.com", PrincipalType: "User"},
		{DatasourceAccessRight: "Read", EmailAddress: "stray@contoso.com", PrincipalType: "User"},
	})
	res, err := f.rotate()
	if err != nil {
		t.Fatal(err)
	}
	if res.UsersAdded != 2 || res.UsersRemoved != 1 {
		t.Errorf("added %d removed %d, want 2 and 1", res.UsersAdded, res.UsersRemoved)
	}
	var got []string
	for _, u := range f.stack.PowerBI.Users(gw, dsID) {
		got = append(got, u.EmailAddress+":"+u.DatasourceAccessRight)
	}
	slices.Sort(got)
	want := []string{"ann@contoso.com:ReadOverrideEffectiveIdentity", "john@contoso.com:Read"}
	if !slices.Equal(got, want) {
		t.Errorf("users = %v, want %v", got, want)
	}
	if d := f.rot.UsersDrift("sales-sql"); d != 0 {
		t.Errorf("drift after reconciling = %d, want 0", d)
	}
}

func TestPlanSendsNoWrites(t *testing.T) {
	f := newFixture(t, `    users:
      - {email: john@contoso.com, access: Read}
`)
	ds, _ := f.cfg.Datasource("sales-sql")
	p, err := f.rot.Plan(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyBits != 2048 || !p.Patch || len(p.UsersToAdd) != 1 || p.SourceVersion == "" {
		t.Errorf("plan = %+v", p)
	}
	for _, r := range f.stack.PowerBI.Requests() {
		if r.Method != "GET" {
			t.Errorf("plan sent %s %s", r.Method, r.Path)
		}
	}
}

// TestRotateUsersFailureKeepsThePatch: when adding a user fails after the
// PATCH landed, the Result still says what was pushed, for the state.
func TestRotateUsersFailureKeepsThePatch(t *testing.T) {
	f := newFixture(t, `    users:
      - {email: john@contoso.com, access: Read}
`)
	f.stack.PowerBI.Faults().Inject(emulator.OpAddDatasourceUser, emulator.Fault{Status: 403, Code: "PowerBINotAuthorizedException"})
	res, err := f.rotate()
	re, ok := err.(*Error)
	if !ok || re.Stage != "users" || !res.Patched {
		t.Fatalf("patched=%v err=%v, want a users failure after the PATCH", res.Patched, err)
	}
	if res.PatchedAt.IsZero() || res.SourceVersion == "" || re.Reason != "http_403" {
		t.Errorf("result = %+v, err %v: want the pushed credential and the users error", res, err)
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
	f := newFixture(t, "")
	// A token first, so that the leader's GET starts at once.
	if _, err := f.rot.keys.pbi.GetDatasource(context.Background(), gw, dsID); err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan struct{})
	f.stack.PowerBI.Faults().Inject(emulator.OpGetGateway, emulator.Fault{Latency: 10 * time.Second, Times: 1,
		OnHit: func() { close(inFlight) }})
	leader, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := f.rot.keys.get(leader, gw)
		leaderDone <- err
	}()
	<-inFlight // the leader's GET is parked at Power BI
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
