package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
)

// connection finds a Fabric connection of the demo inventory.
func (e *env) connection(name string) demo.Connection {
	for _, c := range demo.Connections() {
		if c.Name == name {
			return c
		}
	}
	e.t.Fatalf("no demo connection %q", name)
	return demo.Connection{}
}

// fabricReceived is the credential the emulated Fabric last accepted for
// the connection name.
func (e *env) fabricReceived(name string) (emulator.FabricReceived, bool) {
	return e.demo.Stack.Fabric.Credential(e.connection(name).ID)
}

// appendInventory adds text, data source entries, to the end of the demo
// inventory (its datasources list is last).
func (e *env) appendInventory(text string) {
	e.t.Helper()
	f, err := os.OpenFile(e.demo.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		e.t.Fatal(err)
	}
}

// credentialsJSON is the credentials document an on-premises member
// decrypts for a Basic credential: the SDK's credentialData list.
func credentialsJSON(username, password string) string {
	return `{"credentialData":[{"name":"username","value":"` + username + `"},{"name":"password","value":"` + password + `"}]}`
}

// answered reports whether some request of op was answered with status.
func answered(rs []emulator.RequestRecord, op string, status int) bool {
	for _, r := range rs {
		if r.Operation == op && r.Status == status {
			return true
		}
	}
	return false
}

// TestFabricConnections: once rotates the demo's Fabric connections with the
// real binary and SDK clients, through throttling and server errors: the
// three-member cluster (1024- and 2048-bit members) gets one value per
// member, each decrypting to the exact credentials JSON; the
// ServicePrincipal cloud connection and the KeyPair one on a
// virtual-network gateway get their typed credentials; the cluster's Test
// Connection needs polling; the role assignments end as the inventory says,
// with rotatord's own Owner assignment kept.
func TestFabricConnections(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	fab := e.demo.Stack.Fabric
	cluster := e.connection("sales-cluster")
	// Someone gave the group more than the inventory says, and added a user
	// by hand: the role goes back to User, the user stays (no prune).
	stray := "1e2d3c4b-5a69-4788-9766-554433221100"
	owner := emulator.TokenObjectID(e.demo.Stack.ClientID)
	if err := fab.SetRoleAssignments(cluster.ID, []emulator.FabricRoleAssignment{
		{PrincipalID: owner, PrincipalType: "ServicePrincipal", Role: "Owner"},
		{PrincipalID: demo.ClusterGroup, PrincipalType: "Group", Role: "Owner"},
		{PrincipalID: stray, PrincipalType: "User", Role: "User"},
	}); err != nil {
		t.Fatal(err)
	}

	// plan reads the members and the role assignments, and changes nothing.
	if code := e.run("plan", "--config", e.demo.ConfigPath); code != 0 {
		t.Fatalf("plan exited %d, want 0; output:\n%s", code, e.out)
	}
	for _, want := range []string{"3 members: RSA-1024/2048/2048", "none (ShareableCloud)", "none (VirtualNetworkGateway)", "+" + demo.ClusterGroup + ":User"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("plan's output lacks %q:\n%s", want, e.out)
		}
	}
	for _, c := range demo.Connections() {
		if h := fab.History(c.ID); len(h) != 0 {
			t.Errorf("%s: plan stored %d credentials", c.Name, len(h))
		}
	}
	if n := len(fab.RoleAssignments(cluster.ID)); n != 3 {
		t.Errorf("plan changed the role assignments: %d, want 3", n)
	}

	// Two faults only the cluster's rotation meets, within its tick's
	// retry budget (attempts: 3).
	faults := fab.Faults()
	faults.Inject(emulator.OpFabricListGatewayMembers, emulator.Fault{Status: 503, Times: 1})
	faults.Inject(emulator.OpFabricGetOperationState, emulator.Fault{Status: 502, Times: 1})
	if code := e.run("once", "--config", e.demo.ConfigPath); code != 0 {
		t.Fatalf("once exited %d, want 0; output:\n%s", code, e.out)
	}
	faultsMet := func(want map[string]int) {
		t.Helper()
		for op, status := range want {
			if !answered(fab.Requests(), op, status) {
				t.Errorf("no %s request met its %d", op, status)
			}
		}
	}
	faultsMet(map[string]int{emulator.OpFabricListGatewayMembers: 503, emulator.OpFabricGetOperationState: 502})

	// The others', one data source at a time: a 429 and a 500.
	faults.Inject(emulator.OpFabricUpdateConnection, emulator.Fault{Status: 429, RetryAfter: "1", Times: 1})
	faults.Inject(emulator.OpFabricGetConnection, emulator.Fault{Status: 500, Times: 1})
	if code := e.run("once", "--config", e.demo.ConfigPath, "--only", "lake-spn"); code != 0 {
		t.Fatalf("once --only lake-spn exited %d, want 0; output:\n%s", code, e.out)
	}
	faultsMet(map[string]int{emulator.OpFabricUpdateConnection: 429, emulator.OpFabricGetConnection: 500})
	if n := len(fab.History(e.connection("lake-spn").ID)); n != 2 {
		t.Errorf("lake-spn: %d credentials stored, want 2 (one per run)", n)
	}

	got, ok := e.fabricReceived("sales-cluster")
	switch {
	case !ok:
		t.Fatal("sales-cluster: Fabric received no credential")
	case len(got.Plain) != len(demo.ClusterMembers()):
		t.Errorf("sales-cluster: %d members got a value, want %d", len(got.Plain), len(demo.ClusterMembers()))
	}
	want := e.demo.Want["sales-cluster"]
	for _, m := range demo.ClusterMembers() {
		if p, ok := got.Plain[m]; !ok || p != credentialsJSON(want["username"], want["password"]) {
			t.Errorf("sales-cluster: member %s decrypted another document than the credentials JSON (present %v)", m, ok)
		}
	}
	if got.SkipTestConnection == nil || *got.SkipTestConnection {
		t.Errorf("sales-cluster: skipTestConnection %v, want false", got.SkipTestConnection)
	}
	for _, name := range []string{"lake-spn", "warehouse-keypair"} {
		got, ok := e.fabricReceived(name)
		if !ok {
			t.Errorf("%s: Fabric received no credential", name)
			continue
		}
		if got.CredentialType != e.connection(name).Type || !maps.Equal(got.Fields, e.demo.Want[name]) {
			t.Errorf("%s: credential type %s, fields %v; want %s, %v", name, got.CredentialType, keys(got.Fields), e.connection(name).Type, keys(e.demo.Want[name]))
		}
	}
	polled := 0
	for _, r := range fab.Requests() {
		if r.Operation == emulator.OpFabricGetOperationState {
			polled++
		}
	}
	if polled < 2 {
		t.Errorf("the cluster's Test Connection was polled %d times, want at least 2", polled)
	}
	roles := map[string]string{}
	for _, a := range fab.RoleAssignments(cluster.ID) {
		roles[strings.ToLower(a.PrincipalID)] = a.Role
	}
	wantRoles := map[string]string{owner: "Owner", demo.ClusterGroup: "User", stray: "User"}
	if !maps.Equal(roles, wantRoles) {
		t.Errorf("sales-cluster's role assignments: %v, want %v", roles, wantRoles)
	}
	st := e.state()
	for _, c := range demo.Connections() {
		if d := st.Datasources[c.Name]; d.LastSuccess.IsZero() || d.VerifiedVersion == "" && c.Name == "sales-cluster" {
			t.Errorf("%s: state %+v, want a last success (and, for the cluster, a verified version)", c.Name, d)
		}
	}
	e.checkNoLeak()
}

// TestFabricMemberAddedMidFlight: a member that joins the cluster between
// the key fetch and the PATCH makes Fabric refuse it; the rotation fetches
// the members again and succeeds with a value for all four.
func TestFabricMemberAddedMidFlight(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	fab := e.demo.Stack.Fabric
	const joined = "1f2a3b4c-5d6e-4f7a-8b9c-0d1e2f3a4b5c"
	if err := fab.AddMemberAfterList(demo.FabricCluster, joined, 2048); err != nil {
		t.Fatal(err)
	}
	if code := e.run("once", "--config", e.demo.ConfigPath, "--only", "sales-cluster"); code != 0 {
		t.Fatalf("once exited %d, want 0; output:\n%s", code, e.out)
	}
	got, ok := e.fabricReceived("sales-cluster")
	if !ok || len(got.Plain) != 4 || got.Plain[joined] == "" {
		t.Fatalf("sales-cluster: values for %d members (the new one: %v), want 4", len(got.Plain), got.Plain[joined] != "")
	}
	if n := fab.RefusedUpdates(e.connection("sales-cluster").ID); n != 1 {
		t.Errorf("%d PATCHes refused, want 1 (the one without the new member)", n)
	}
	if !strings.Contains(e.out.String(), "gateway cluster changed, encrypting again") {
		t.Errorf("no log line says the cluster changed; output:\n%s", e.out)
	}
	e.checkNoLeak()
}

// TestFabricNewConnections: a ServicePrincipal connection on a
// virtual-network gateway, and a KeyPair connection whose PKCS#8 key is
// encrypted with a passphrase, added to the inventory.
func TestFabricNewConnections(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	fab := e.demo.Stack.Fabric
	const (
		vnetSPN = "a3e4f5a6-b7c8-4d9e-8f0a-1b2c3d4e5f6a"
		keyPair = "b4f5a6b7-c8d9-4e0f-9a1b-2c3d4e5f6a7b"
	)
	for id, typ := range map[string]string{vnetSPN: "ServicePrincipal", keyPair: "KeyPair"} {
		err := fab.AddConnection(emulator.FabricConnection{ID: id, GatewayID: demo.FabricVNet, ConnectivityType: "VirtualNetworkGateway", CredentialType: typ})
		if err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile("testdata/keypair-encrypted.p8")
	if err != nil {
		t.Fatal(err)
	}
	spnSecret, passphrase := "spn-"+strings.Repeat("s3cr3t", 4), "correct horse battery staple"
	for name, v := range map[string]string{"vnet-spn-secret": spnSecret, "keypair.pass": passphrase, "keypair.p8": string(key)} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.appendInventory(`  - name: vnet-spn
    connection_id: ` + vnetSPN + `
    credential_type: ServicePrincipal
    source: {tenant_id: ` + demo.LakeTenant + `, client_id: ` + demo.LakeClient + `, client_secret_file: ` + filepath.Join(e.dir, "vnet-spn-secret") + `}
  - name: snowflake-keypair
    connection_id: ` + keyPair + `
    credential_type: KeyPair
    source:
      identifier: SVC_ROTATORD
      private_key_file: ` + filepath.Join(e.dir, "keypair.p8") + `
      passphrase_file: ` + filepath.Join(e.dir, "keypair.pass") + `
`)
	if code := e.run("once", "--config", e.demo.ConfigPath, "--only", "vnet-spn", "--only", "snowflake-keypair"); code != 0 {
		t.Fatalf("once exited %d, want 0; output:\n%s", code, e.out)
	}
	spn, ok := fab.Credential(vnetSPN)
	wantSPN := map[string]string{"tenantId": demo.LakeTenant, "servicePrincipalClientId": demo.LakeClient, "servicePrincipalSecret": spnSecret}
	if !ok || !maps.Equal(spn.Fields, wantSPN) {
		t.Errorf("vnet-spn: received %v (fields %v), want %v", ok, keys(spn.Fields), keys(wantSPN))
	}
	kp, ok := fab.Credential(keyPair)
	wantKP := map[string]string{"identifier": "SVC_ROTATORD", "privateKey": strings.TrimSuffix(string(key), "\n"), "passphrase": passphrase}
	if !ok || !maps.Equal(kp.Fields, wantKP) {
		t.Errorf("snowflake-keypair: received %v (fields %v), want %v", ok, keys(kp.Fields), keys(wantKP))
	}
	for _, s := range []string{spnSecret, passphrase, "ENCRYPTED PRIVATE KEY"} {
		if strings.Contains(e.out.String(), s) {
			t.Errorf("the output holds a secret (%.12s…)", s)
		}
	}
	e.checkNoLeak()
}
