package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

// The estate the discovery tests add to the demo's: a third gateway, whose
// data source shares sales-sql's server and database, a gateway the
// identity may not read, and a connection only Fabric's API serves.
const (
	gwExtra      = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
	dsExtra      = "3b4c5d6e-7f8a-4b9c-8d0e-2f3a4b5c6d7e"
	gwDenied     = "4c5d6e7f-8a9b-4c0d-9e1f-3a4b5c6d7e8f"
	dsDenied     = "5d6e7f8a-9b0c-4d1e-8f2a-4b5c6d7e8f9a"
	dsFabricOnly = "6e7f8a9b-0c1d-4e2f-9a3b-5c6d7e8f9a0b"
)

// growEstate adds the discovery tests' estate, and pages every list by
// two, so that discover must follow @odata.nextLink, and Fabric's
// continuationToken for the demo's three connections.
func growEstate(t *testing.T, e *env) {
	t.Helper()
	pbi := e.demo.Stack.PowerBI
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(pbi.AddGateway(gwExtra, 2048))
	must(pbi.AddDatasource(gwExtra, dsExtra, "Basic"))
	must(pbi.SetDatasourceInfo(gwExtra, dsExtra, emulator.DatasourceInfo{Type: "Sql",
		ConnectionDetails: map[string]string{"server": "SQL01.contoso.local", "database": "Sales"}}))
	pbi.SetUsers(gwExtra, dsExtra, []emulator.User{{DatasourceAccessRight: "Read", EmailAddress: "ana@contoso.com", PrincipalType: "User"}})
	must(pbi.AddGateway(gwDenied, 1024))
	must(pbi.AddDatasource(gwDenied, dsDenied, "Basic"))
	pbi.DenyGateway(gwDenied)
	must(pbi.AddDatasource(demo.Gateway1024, dsFabricOnly, "ServicePrincipal"))
	pbi.SetPageSize(2)
	e.demo.Stack.Fabric.SetPageSize(2)
}

// discoverRun runs rotatord with args and returns its exit code, stdout
// and stderr apart.
func (e *env) discoverRun(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("rotatord %v: %v", args, err)
	}
	_, _ = e.out.Write(errOut.Bytes()) // for checkNoLeak
	return code, out.String(), errOut.String()
}

// TestDiscoverRoundTrip: discover prints an inventory of every data source
// it can see exactly once, the Fabric connections included, check accepts
// it, plan names the secrets to create, and once rotates every data source
// after they are created (the placeholder tenant, client and identifier
// literals too, which the emulator takes). The connections' role
// assignments are their users, but for rotatord's own identity, and once
// leaves them as discovered. What it cannot rotate is a comment, what it
// cannot read a line on stderr.
func TestDiscoverRoundTrip(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	growEstate(t, e)
	pbi := e.demo.Stack.PowerBI
	pbi.Faults().Inject(emulator.OpGetDatasourcesInGroup, emulator.Fault{Status: 429, RetryAfter: "1", Times: 1})
	// sales-cluster as the demo inventory declares it (its group a User)
	// and a user who may reshare it; lake-spn shared with an app; each
	// connection's creator, the stack's app, its Owner.
	fab := e.demo.Stack.Fabric
	self := emulator.TokenObjectID(e.demo.Stack.ClientID)
	owner := emulator.FabricRoleAssignment{PrincipalID: self, PrincipalType: "ServicePrincipal", Role: "Owner"}
	conns := demo.Connections()
	cluster, lakeSPN := conns[0], conns[1]
	wantUsers := map[string][]config.User{
		cluster.Name: {{Identifier: demo.ClusterGroup, PrincipalType: "Group", Role: "User"}, {Identifier: roleUser, PrincipalType: "User", Role: "UserWithReshare"}},
		lakeSPN.Name: {{Identifier: roleApp, PrincipalType: "ServicePrincipal", Role: "User"}},
	}
	for _, c := range []demo.Connection{cluster, lakeSPN} {
		ras := []emulator.FabricRoleAssignment{owner}
		for _, u := range wantUsers[c.Name] {
			ras = append(ras, emulator.FabricRoleAssignment{PrincipalID: u.Identifier, PrincipalType: u.PrincipalType, Role: u.Role})
		}
		if err := fab.SetRoleAssignments(c.ID, ras); err != nil {
			t.Fatal(err)
		}
	}
	roles := map[string][]emulator.FabricRoleAssignment{}
	for _, c := range conns {
		roles[c.ID] = fab.RoleAssignments(c.ID)
	}

	// Onboarding starts from settings alone: the demo's, without its data sources.
	demoConfig, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	settings, _, _ := strings.Cut(string(demoConfig), "\ndatasources:")
	base := filepath.Join(e.dir, "base.yaml")
	if err := os.WriteFile(base, []byte(settings+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.discoverRun("discover", "-config", base)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a gateway could not be read)\n%s", code, stderr)
	}
	if !strings.Contains(stderr, gwDenied) || !strings.Contains(stderr, "403") || !strings.Contains(stderr, "admin") {
		t.Errorf("stderr does not name the unreadable gateway with the 403's hint:\n%s", stderr)
	}
	inv := filepath.Join(e.dir, "discovered.yaml")
	if err := os.WriteFile(inv, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := e.run("check", "-config", inv); code != 0 {
		t.Fatalf("check refuses the discovered inventory (exit %d):\n%s\n%s", code, e.out, out)
	}
	cfg, err := config.Load(t.Context(), inv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth != (config.Auth{Method: "client_secret", TenantID: e.demo.Stack.TenantID, ClientID: e.demo.Stack.ClientID,
		ClientSecretFile: filepath.Join(e.dir, "client-secret"), AuthorityHost: e.demo.Stack.AuthorityURL}) {
		t.Errorf("the base's auth is not kept: %+v", cfg.Auth)
	}

	// Every data source the identity can rotate, exactly once: the demo's
	// seven (lake-oauth shared by two datasets), the third gateway's and
	// the demo's three Fabric connections.
	want := map[string]bool{strings.ToLower(gwExtra + "/" + dsExtra): true}
	for _, x := range demo.Catalog() {
		want[strings.ToLower(x.Gateway+"/"+x.ID)] = true
	}
	for _, c := range demo.Connections() {
		want["connection "+c.ID] = true
	}
	got := map[string]config.Datasource{}
	for _, ds := range cfg.Datasources {
		k := strings.ToLower(ds.GatewayID + "/" + ds.DatasourceID)
		if ds.Fabric() {
			k = "connection " + strings.ToLower(ds.ConnectionID)
		}
		if _, dup := got[k]; dup {
			t.Errorf("%s listed twice", k)
		}
		got[k] = ds
	}
	if len(got) != len(want) {
		t.Errorf("%d data sources, want %d:\n%s", len(got), len(want), out)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing from the inventory", k)
		}
	}
	for _, x := range demo.Catalog() {
		ds := got[strings.ToLower(x.Gateway+"/"+x.ID)]
		cloud := x.Gateway == demo.CloudGateway
		if string(ds.CredentialType) != x.Type || (ds.Encrypt == config.EncryptNone) != cloud {
			t.Errorf("%s as %s: type %s, encrypt %s", x.Name, ds.Name, ds.CredentialType, ds.Encrypt)
		}
	}
	for _, c := range demo.Connections() {
		ds := got["connection "+c.ID]
		if ds.Name != c.Name || string(ds.CredentialType) != c.Type || ds.Encrypt != "" {
			t.Errorf("connection %s (%s %s) as %+v", c.ID, c.Connectivity, c.Type, ds)
		}
		if !strings.Contains(out, "# Fabric connection, "+c.Connectivity+": ") || !strings.Contains(out, `("`+c.Name+`")`) {
			t.Errorf("no comment says %s is a %s connection", c.Name, c.Connectivity)
		}
		// Fabric's sorted by principal id, rotatord's own identity left out.
		want := slices.SortedFunc(slices.Values(wantUsers[c.Name]), func(a, b config.User) int { return strings.Compare(a.Identifier, b.Identifier) })
		if !slices.Equal(ds.Users, want) {
			t.Errorf("%s's users %+v, want its role assignments %+v", c.Name, ds.Users, want)
		}
	}
	if strings.Contains(out, "identifier: "+self) || !strings.Contains(out, "rotatord's own identity "+self+" (Owner) is not listed") {
		t.Errorf("the stack's app is a user, or no comment says it is left out:\n%s", out)
	}
	for _, want := range []string{dsFabricOnly, "ServicePrincipal is served by Fabric", demo.SSODatasource, "single sign-on",
		"legacy@contoso.com", `"Sales" (workspace ` + demo.Workspace1} {
		if !strings.Contains(out, want) {
			t.Errorf("the inventory lacks %q", want)
		}
	}
	if strings.Contains(out, dsDenied) {
		t.Error("a data source of the unreadable gateway is listed")
	}
	lake := got[strings.ToLower(demo.CloudGateway+"/"+demo.Catalog()[3].ID)]
	if lake.Source.OAuthScope != "https://storage.azure.com/.default" {
		t.Errorf("lake-oauth's scope %q, want storage's", lake.Source.OAuthScope)
	}

	// plan names the secrets that do not exist yet; create them, then
	// once rotates everything.
	mark := len(e.out.String())
	if code := e.run("plan", "-config", inv); code != 1 {
		t.Errorf("plan exit %d before the secrets exist, want 1", code)
	}
	// The secrets the demo's own inventory reads are in the vault already
	// (sales-cluster-password, named as discover names it): not to create.
	demoCfg, err := config.Load(t.Context(), e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, ds := range demoCfg.Datasources {
		for _, f := range ds.Source.Fields {
			if f.Kind == config.RefKeyVault {
				held[f.Ref.Name] = true
			}
		}
	}
	values := map[string]string{}
	for _, ds := range cfg.Datasources {
		for _, f := range ds.Source.Fields {
			if f.Kind != config.RefKeyVault {
				continue
			}
			if !held[f.Ref.Name] && !strings.Contains(e.out.String()[mark:], f.Ref.Name) {
				t.Errorf("plan does not name the secret %s to create", f.Ref.Name)
			}
			v := rand.Text()
			if f.Name == credentials.FieldPrivateKey {
				v = privateKeyPEM(t) // a key pair's secret is a PKCS#8 PEM key
			}
			values[f.Ref.Name] = v
			e.demo.Stack.KeyVault.SetSecret(f.Ref.Name, secret.FromString(v), emulator.SecretAttributes{})
		}
	}
	mark = len(e.out.String())
	if code := e.run("once", "-config", inv); code != 0 {
		t.Fatalf("once exit %d after the secrets were created:\n%s", code, e.out.String()[mark:])
	}
	for _, ds := range cfg.Datasources {
		var fields map[string]string
		if ds.Fabric() {
			r, ok := e.demo.Stack.Fabric.Credential(ds.ConnectionID)
			if !ok || len(e.demo.Stack.Fabric.History(ds.ConnectionID)) == 0 {
				t.Errorf("%s: never rotated", ds.Name)
				continue
			}
			fields = r.Fields
		} else {
			r, ok := pbi.Credential(ds.GatewayID, ds.DatasourceID)
			if !ok {
				t.Errorf("%s: never rotated", ds.Name)
				continue
			}
			fields = r.Fields
		}
		for _, f := range ds.Source.Fields {
			// The services' names of the fields: Power BI's as the gateway
			// decrypts them, Fabric's typed credentials' for cloud and
			// virtual-network connections.
			wire := map[string]string{"access_token": "accessToken", "tenant_id": "tenantId", "client_id": "servicePrincipalClientId",
				"client_secret": "servicePrincipalSecret", "private_key": "privateKey"}[f.Name]
			if wire == "" {
				wire = f.Name
			}
			want := values[f.Ref.Name]
			if f.Kind == config.RefLiteral {
				want = f.Ref.Name // the placeholders, which the emulator takes
			}
			if got := fields[wire]; got != want {
				t.Errorf("%s: %s from %s did not arrive", ds.Name, f.Name, f.Ref.Name)
			}
		}
	}
	for _, c := range conns {
		if got := fab.RoleAssignments(c.ID); !slices.Equal(got, roles[c.ID]) {
			t.Errorf("%s's role assignments after once %+v, want them as discovered %+v", c.Name, got, roles[c.ID])
		}
	}
	for _, v := range values {
		if strings.Contains(e.out.String(), v) {
			t.Error("a created secret appears in rotatord's output")
		}
	}
	e.checkNoLeak()
}

// The principals TestDiscoverRoundTrip shares the demo's connections with.
const (
	roleUser = "c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f"
	roleApp  = "d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f8a"
)

// privateKeyPEM is a new RSA key as PKCS#8 PEM, what a KeyPair
// connection's private_key holds.
func privateKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestDiscoverDiff: -diff reports a data source added, one deleted and one
// retyped since the inventory was written, a Fabric connection added and
// one deleted, and a connection's declared group it has no role
// assignment of yet, one line each, and exits 1.
func TestDiscoverDiff(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	pbi := e.demo.Stack.PowerBI
	// discover reads no state: one it could not read (a FIFO here; on a
	// server, rotatord's own 0600 file) is no reason to fail.
	testutil.FIFO(t, filepath.Join(e.dir, "state.json"))
	if code, out, stderr := e.discoverRun("discover", "-config", e.demo.ConfigPath, "-diff", "-output", "json"); slices.Contains(kinds(t, out), "added") {
		t.Errorf("the demo drifts before anything changed (exit %d):\n%s%s", code, out, stderr)
	}
	if err := pbi.AddDatasource(demo.Gateway2048, dsExtra, "Key"); err != nil {
		t.Fatal(err)
	}
	ledger, hr := e.entry("ledger-key"), e.entry("hr-fileshare")
	if err := pbi.RemoveDatasource(ledger.Gateway, ledger.ID); err != nil {
		t.Fatal(err)
	}
	if err := pbi.SetCredentialType(hr.Gateway, hr.ID, "Basic"); err != nil {
		t.Fatal(err)
	}
	// A connection made in Fabric since, and one the inventory names that
	// Fabric does not know.
	if err := e.demo.Stack.Fabric.AddConnection(emulator.FabricConnection{ID: connAdded, ConnectivityType: emulator.FabricShareableCloud,
		CredentialType: "Key", DisplayName: "Orders API", Type: "Web", Path: "https://orders.contoso.com"}); err != nil {
		t.Fatal(err)
	}
	inv, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	withGone := filepath.Join(e.dir, "inventory.yaml")
	inv = append(inv, "  - name: gone-connection\n    connection_id: "+connGone+"\n    credential_type: Key\n    source: {keyvault: demo, key_secret: gone-key}\n"...)
	if err := os.WriteFile(withGone, inv, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.discoverRun("discover", "-config", withGone, "-diff")
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{"added ", dsExtra, "deleted     ledger-key", "retyped     hr-fileshare", "the inventory says Windows, Power BI Basic",
		"added       orders-api", "connection " + connAdded + ": Fabric connection, ShareableCloud: Web https://orders.contoso.com",
		"deleted     gone-connection", "connection " + connGone + ": Fabric does not know this connection (404)",
		"users       sales-cluster", "connection " + demo.Connections()[0].ID + ": " + demo.ClusterGroup + " (Group) should have role User"} {
		if !strings.Contains(out, want) {
			t.Errorf("the diff lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = e.discoverRun("discover", "-config", withGone, "-diff", "-output", "json")
	got := kinds(t, out)
	for _, k := range []string{"added", "deleted", "retyped", "users"} {
		if !slices.Contains(got, k) || code != 1 {
			t.Errorf("json kinds %v (exit %d), want %s among them", got, code, k)
		}
	}
	ids := connectionIDs(t, out)
	for _, id := range []string{connAdded, connGone} {
		if !slices.Contains(ids, id) {
			t.Errorf("json drift names connections %v, want %s among them", ids, id)
		}
	}
}

// The connections TestDiscoverDiff adds to Fabric and to the inventory.
const (
	connAdded = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	connGone  = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
)

// diffReport is a -diff -output json report.
type diffReport struct {
	Drift []struct {
		Kind         string `json:"kind"`
		ConnectionID string `json:"connection_id"`
	} `json:"drift"`
}

func parseDiff(t *testing.T, out string) diffReport {
	t.Helper()
	var r diffReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not a -output json report: %v\n%s", err, out)
	}
	return r
}

// kinds are the drift kinds of a -diff -output json report.
func kinds(t *testing.T, out string) []string {
	t.Helper()
	var ks []string
	for _, d := range parseDiff(t, out).Drift {
		ks = append(ks, d.Kind)
	}
	return ks
}

// connectionIDs are the connection ids a -diff -output json report's
// drift names.
func connectionIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, d := range parseDiff(t, out).Drift {
		if d.ConnectionID != "" {
			ids = append(ids, d.ConnectionID)
		}
	}
	return ids
}

// TestDiscoverBadInput: ids the service does not know are named with its
// hint (exit 1); a config that fails check exits 2 before any call.
func TestDiscoverBadInput(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	const unknown = "00000000-0000-4000-8000-0000000000aa"
	for name, tc := range map[string]struct {
		args []string
		hint string
	}{
		"unknown gateway":   {[]string{"-gateway", unknown}, "no such gateway"},
		"unknown workspace": {[]string{"-workspace", unknown}, "workspace"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := e.discoverRun(append([]string{"discover", "-config", e.demo.ConfigPath}, tc.args...)...)
			if code != 1 || !strings.Contains(stderr, unknown) || !strings.Contains(stderr, "404") || !strings.Contains(stderr, tc.hint) {
				t.Errorf("exit %d, stderr:\n%s\nwant 1 naming %s with a 404 and %q", code, stderr, unknown, tc.hint)
			}
		})
	}
	bad := filepath.Join(e.dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("datasources:\n  - name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(e.demo.Stack.PowerBI.Requests())
	for _, args := range [][]string{
		{"-config", bad},
		{"-config", bad, "-diff"},
		{"-diff"},
		{"-gateway", "not-a-uuid"},
		{"-config", e.demo.ConfigPath, "-keyvault", "nosuchvault"},
	} {
		code, _, stderr := e.discoverRun(append([]string{"discover"}, args...)...)
		if code != 2 || stderr == "" {
			t.Errorf("discover %v: exit %d, want 2 with a reason:\n%s", args, code, stderr)
		}
	}
	if n := len(e.demo.Stack.PowerBI.Requests()) - before; n != 0 {
		t.Errorf("%d Power BI requests for bad input, want none", n)
	}
}
