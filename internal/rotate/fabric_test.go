package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

// The Fabric fixture's gateways and connections.
const (
	cluster    = "4f8b5d6e-8e99-4817-8b9e-6b6a613be707"
	member2    = "c6961028-1309-4183-9799-a0b0fa28a235"
	personal   = "429a773e-5633-45ee-8584-a192bd79c16a"
	streaming  = "befccff4-3ee6-40d7-b8f1-a0a9fd684a85"
	connOnPrem = "70b17680-48f1-4729-9df6-02576647dc3a"
	connSolo   = "ef8f408d-2ab7-4a18-b662-9251febda49c"
	connCloud  = "6b571614-2e98-4bfd-b9ed-1cb8d3ffc396"
	connStream = "f6a39b76-9816-4e4b-b93a-f42e405017b7"
	group      = "3d9b93c6-7b6d-4801-a491-1738910904fd"
	strayUser  = "1e2d3c4b-5a69-4788-9766-554433221100"
)

// fabricFixture is a Rotator wired to the Fabric emulator through the real
// client: a two-member cluster (1024 and 2048 bits), a personal gateway, a
// cloud and a streaming virtual-network connection.
type fabricFixture struct {
	t     *testing.T
	stack *emulator.Stack
	rot   *Rotator
	cfg   *config.Config
}

// newFabricFixture starts the emulators and parses datasources, an
// inventory's datasources list; self is what Options.Self answers, with
// "" meaning no Self at all.
func newFabricFixture(t *testing.T, datasources string, self bool) *fabricFixture {
	t.Helper()
	st, err := emulator.StartStack(emulator.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fab := st.Fabric
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(fab.AddClusterGateway(cluster, []string{cluster, member2}, []int{1024, 2048}))
	must(fab.AddPersonalGateway(personal, 2048))
	must(fab.AddStreamingVNetGateway(streaming))
	must(fab.AddConnection(emulator.FabricConnection{ID: connOnPrem, GatewayID: cluster, ConnectivityType: "OnPremisesGateway", CredentialType: "Basic"}))
	must(fab.AddConnection(emulator.FabricConnection{ID: connSolo, GatewayID: personal, ConnectivityType: "OnPremisesGatewayPersonal", CredentialType: "Basic"}))
	must(fab.AddConnection(emulator.FabricConnection{ID: connCloud, ConnectivityType: "ShareableCloud", CredentialType: "ServicePrincipal"}))
	must(fab.AddConnection(emulator.FabricConnection{ID: connStream, GatewayID: streaming, ConnectivityType: "StreamingVirtualNetworkGateway", CredentialType: "Basic"}))
	st.KeyVault.SetSecret("db-password", secret.FromString("first-password"), emulator.SecretAttributes{})
	st.KeyVault.SetSecret("spn-secret", secret.FromString("first-spn-secret"), emulator.SecretAttributes{})

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	must(os.WriteFile(secretFile, st.ClientSecret.Reveal(), 0o600))
	yaml := fmt.Sprintf("fabric: {api_url: %s}\nkeyvaults: {main: %s}\nstate_file: %s/state.json\n", st.FabricURL, st.KeyVaultURL, dir) + datasources
	cfg, err := config.Parse("inventory.yaml", []byte(yaml))
	must(err)
	transport := st.CA.Client()
	cred, err := sources.NewCredential(sources.AuthOptions{
		Method: "client_secret", TenantID: st.TenantID, ClientID: st.ClientID,
		ClientSecretFile: secretFile, AuthorityHost: st.AuthorityURL, Transport: transport,
	})
	must(err)
	client, err := fabric.New(fabric.Options{APIURL: st.FabricURL, Credential: cred, Transport: transport, RetryDelay: time.Millisecond})
	must(err)
	kv, err := sources.NewKeyVault(st.KeyVaultURL, cred, sources.KeyVaultOptions{Transport: transport})
	must(err)
	o := Options{
		Fabric:  client,
		Pool:    cipher.NewPool(2),
		Sources: &Sources{KeyVaults: map[string]KeyVault{"main": kv}, Credential: cred},
	}
	if self {
		o.Self = sources.Self(cred, fabric.DefaultScope)
	}
	return &fabricFixture{t: t, stack: st, cfg: cfg, rot: New(o)}
}

func (f *fabricFixture) rotate(name string) (Result, error) {
	f.t.Helper()
	ds, ok := f.cfg.Datasource(name)
	if !ok {
		f.t.Fatalf("no data source %q", name)
	}
	return f.rot.Rotate(context.Background(), ds)
}

func (f *fabricFixture) count(op string) int {
	n := 0
	for _, r := range f.stack.Fabric.Requests() {
		if r.Operation == op {
			n++
		}
	}
	return n
}

func fabricEntry(name, id, typ, source, extra string) string {
	return fmt.Sprintf("  - name: %s\n    connection_id: %s\n    credential_type: %s\n    source: %s\n%s", name, id, typ, source, extra)
}

const (
	basicSource = "{keyvault: main, username: svc, password_secret: db-password}"
	spnSource   = "{keyvault: main, tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47, client_id: 5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d, client_secret_secret: spn-secret}"
)

// A member whose key changed since the members were read makes Fabric
// refuse the PATCH; the rotation reads the members again and succeeds.
func TestFabricMemberKeyChanged(t *testing.T) {
	f := newFabricFixture(t, "datasources:\n"+fabricEntry("onprem", connOnPrem, "Basic", basicSource, ""), false)
	if _, err := f.rotate("onprem"); err != nil {
		t.Fatal(err)
	}
	if err := f.stack.Fabric.RotateMemberKey(cluster, member2); err != nil {
		t.Fatal(err)
	}
	f.stack.KeyVault.SetSecret("db-password", secret.FromString("second-password"), emulator.SecretAttributes{})
	if _, err := f.rotate("onprem"); err != nil {
		t.Fatalf("rotation after a member's key changed: %v", err)
	}
	got, _ := f.stack.Fabric.Credential(connOnPrem)
	for _, m := range []string{cluster, member2} {
		if !strings.Contains(got.Plain[m], "second-password") {
			t.Errorf("member %s does not hold the new password", m)
		}
	}
	if n := f.count(emulator.OpFabricListGatewayMembers); n != 2 {
		t.Errorf("members listed %d times, want 2 (first use, then after the refusal)", n)
	}
	if n := f.stack.Fabric.RefusedUpdates(connOnPrem); n != 1 {
		t.Errorf("%d PATCHes refused, want 1", n)
	}
}

// A personal gateway's connection takes one encryptedCredentials.
func TestFabricPersonalGateway(t *testing.T) {
	f := newFabricFixture(t, "datasources:\n"+fabricEntry("solo", connSolo, "Basic", basicSource, ""), false)
	if _, err := f.rotate("solo"); err != nil {
		t.Fatal(err)
	}
	got, ok := f.stack.Fabric.Credential(connSolo)
	if !ok || got.Fields["password"] != "first-password" || got.Fields["username"] != "svc" {
		t.Errorf("the personal gateway holds fields %v (received %v), want svc and the password", len(got.Fields), ok)
	}
}

// A credential the data source refuses is never stored: the PATCH tests it
// first (skipTestConnection false), and the rotation fails at the patch
// stage as rejected.
func TestFabricRefusedCredentialNotStored(t *testing.T) {
	f := newFabricFixture(t, "datasources:\n"+fabricEntry("cloud", connCloud, "ServicePrincipal", spnSource, ""), false)
	if err := f.stack.Fabric.SetConnectionBackend(connCloud, map[string]string{"servicePrincipalSecret": "another-secret"}); err != nil {
		t.Fatal(err)
	}
	res, err := f.rotate("cloud")
	var re *Error
	if !errors.As(err, &re) || re.Stage != StagePatch || re.Reason != connstatus.Rejected {
		t.Fatalf("rotation: %v, want a failure at stage patch, reason rejected", err)
	}
	if res.Patched {
		t.Error("Result.Patched is true for a refused PATCH")
	}
	if _, ok := f.stack.Fabric.Credential(connCloud); ok {
		t.Error("Fabric stored the refused credential")
	}
	if strings.Contains(err.Error(), "first-spn-secret") {
		t.Error("the error holds the secret")
	}
}

// Fabric cannot test a streaming virtual-network connection: the verify
// stage makes no check and claims nothing.
func TestFabricStreamingNotVerified(t *testing.T) {
	f := newFabricFixture(t, "datasources:\n"+fabricEntry("stream", connStream, "Basic", basicSource, "    verify: true\n"), false)
	res, err := f.rotate("stream")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Check.At.IsZero() || res.VerifiedVersion != "" {
		t.Errorf("check %+v, verified version %q; want no check and nothing verified", res.Check, res.VerifiedVersion)
	}
	if n := f.count(emulator.OpFabricTestConnection); n != 0 {
		t.Errorf("Test Connection called %d times, want 0", n)
	}
	got, _ := f.stack.Fabric.Credential(connStream)
	if got.SkipTestConnection != nil {
		t.Errorf("skipTestConnection sent as %v, want it left out", *got.SkipTestConnection)
	}
}

// Role assignments: a declared group is added, a stray user pruned, and
// rotatord's own Owner assignment kept, though the inventory does not
// declare it. Without a known identity nothing is removed.
func TestFabricRoleAssignments(t *testing.T) {
	users := "    prune: true\n    users:\n      - {identifier: " + group + ", principal_type: Group, role: UserWithReshare}\n"
	for _, self := range []bool{true, false} {
		t.Run(fmt.Sprintf("self known %v", self), func(t *testing.T) {
			f := newFabricFixture(t, "datasources:\n"+fabricEntry("cloud", connCloud, "ServicePrincipal", spnSource, users), self)
			owner := emulator.TokenObjectID(f.stack.ClientID)
			if err := f.stack.Fabric.SetRoleAssignments(connCloud, []emulator.FabricRoleAssignment{
				{PrincipalID: owner, PrincipalType: "ServicePrincipal", Role: "Owner"},
				{PrincipalID: strayUser, PrincipalType: "User", Role: "User"},
			}); err != nil {
				t.Fatal(err)
			}
			res, err := f.rotate("cloud")
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]string{}
			for _, a := range f.stack.Fabric.RoleAssignments(connCloud) {
				have[strings.ToLower(a.PrincipalID)] = a.Role
			}
			if have[owner] != "Owner" || have[group] != "UserWithReshare" {
				t.Errorf("role assignments %v: want rotatord Owner and the group UserWithReshare", have)
			}
			wantRemoved := 0
			if self {
				wantRemoved = 1
			}
			if _, kept := have[strayUser]; kept == self || res.UsersAdded != 1 || res.UsersRemoved != wantRemoved {
				t.Errorf("stray user kept %v, added %d, removed %d; want kept %v, 1 added, %d removed", kept, res.UsersAdded, res.UsersRemoved, !self, wantRemoved)
			}
		})
	}
}

// A Fabric that quotes the credential it refused puts no secret in the
// rotation's error: the service's message is dropped.
func TestFabricEchoedSecretScrubbed(t *testing.T) {
	f := newFabricFixture(t, "datasources:\n"+fabricEntry("cloud", connCloud, "ServicePrincipal", spnSource, ""), false)
	f.stack.Fabric.Faults().Inject(emulator.OpFabricUpdateConnection, emulator.Fault{EchoSecret: true, Times: 1})
	_, err := f.rotate("cloud")
	var re *Error
	if !errors.As(err, &re) || re.Stage != StagePatch {
		t.Fatalf("rotation: %v, want a failure at stage patch", err)
	}
	if strings.Contains(err.Error(), "first-spn-secret") || strings.Contains(fmt.Sprintf("%+v", err), "first-spn-secret") {
		t.Errorf("the error holds the secret the service echoed: %v", err)
	}
	if !strings.Contains(err.Error(), "400") {
		t.Errorf("error %q does not say the service refused the PATCH", err)
	}
}
