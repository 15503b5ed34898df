package rotate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

// fixture is a Rotator wired to the emulators through the real clients,
// for what only the wire shows: the ciphertext a gateway can decrypt, the
// 400 a gateway answers for the old key's. Everything else is tested on
// the in-memory fakes (rotate_test.go).
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
	yaml := fmt.Sprintf("powerbi: {api_url: %s}\nkeyvaults: {main: %s}\nstate_file: %s/state.json\n",
		st.PowerBIURL, st.KeyVaultURL, dir) + salesSQL(extra)
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
		Sources: &Sources{KeyVaults: map[string]KeyVault{"main": kv}, Credential: cred},
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
