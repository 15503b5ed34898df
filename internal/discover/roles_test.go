package discover

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/fabric"
)

// The principals of the role assignments tests: rotatord's own identity,
// a group, a user, a second owner, two principals the inventory cannot
// write, one Fabric has no assignment of.
const (
	selfID  = "0f1e2d3c-4b5a-4697-8877-665544332211"
	userID  = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	ownerID = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
	newID   = "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f"
	otherID = "4d5e6f7a-8b9c-4d0e-9f1a-3b4c5d6e7f8a"
	addID   = "5e6f7a8b-9c0d-4e1f-8a2b-4c5d6e7f8a9b"
)

// rolesEstate is fabricEstate's, the lake connection's users its role
// assignments: rotatord's own identity and another owner, a group, a user
// whose role Fabric spells in lower case, and two principals the inventory
// cannot write; the warehouse's cannot be read.
func rolesEstate() (*fakeService, *fakeFabric) {
	f, fab := fabricEstate()
	fab.assign(connB, "ServicePrincipal:"+selfID+":Owner", "Group:"+groupID+":User", "User:"+userID+":userwithreshare",
		"User:"+ownerID+":Owner", "EntireTenant:"+otherID+":User", "User:"+newID+":Admin")
	fab.assign(dsSP, "ServicePrincipal:"+selfID+":Owner")
	fab.rolesErr[strings.ToLower(connC)] = fabricError("Connections_ListConnectionRoleAssignments", http.StatusForbidden)
	return f, fab
}

// TestDiscoverConnectionRoles: discovery reads the role assignments of
// each connection the inventory is to hold with connection_id, a few at a
// time, and Render writes them as the connection's users: rotatord's own
// identity left out, the principals the inventory cannot write commented,
// a connection whose assignments could not be read commented with no
// users key.
func TestDiscoverConnectionRoles(t *testing.T) {
	f, fab := rolesEstate()
	var last Progress
	e := Discover(t.Context(), f, Options{Workspaces: []string{ws1, ws2}, Connections: fab, Self: selfID, Workers: 2,
		Progress: func(p Progress) { last = p }})
	// Those written with connection_id: dsSP (Fabric-only), lake,
	// warehouse, files01 HR; not sales (written as its Power BI data
	// source, with its Power BI users) nor the personal cloud one.
	want := []string{dsSP, connB, connC, connQuiet}
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	read := slices.Clone(fab.rolesRead)
	slices.SortFunc(read, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	if !slices.Equal(read, want) {
		t.Errorf("role assignments read of %v, want %v", read, want)
	}
	if fab.maxInFlight > 2 {
		t.Errorf("%d role assignment reads at once, want at most Workers 2", fab.maxInFlight)
	}
	if last.Roles != 4 || last.RolesTotal != 4 {
		t.Errorf("progress %+v, want the role assignments of 4/4 connections", last)
	}
	if _, ok := e.Roles[strings.ToLower(connC)]; ok {
		t.Error("the warehouse's role assignments, which failed, are on the estate")
	}
	if ras := e.Roles[strings.ToLower(connB)]; len(ras) != 6 || !slices.IsSortedFunc(ras, func(a, b fabric.RoleAssignment) int {
		return strings.Compare(strings.ToLower(a.Principal.ID), strings.ToLower(b.Principal.ID))
	}) {
		t.Errorf("lake's role assignments %+v, want 6 sorted by principal id", ras)
	}
	if !slices.ContainsFunc(e.Problems, func(p Problem) bool {
		return p.Subject == "role assignments of Fabric connection "+connC && strings.Contains(p.Err.Error(), "403")
	}) {
		t.Errorf("problems %v lack the warehouse's role assignments", e.Problems)
	}

	out, _, err := Render(e, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("discovered.yaml", out)
	if err != nil {
		t.Fatalf("output fails check: %v\n%s", err, out)
	}
	byName := map[string]config.Datasource{}
	for _, ds := range cfg.Datasources {
		byName[ds.Name] = ds
	}
	wantLake := []config.User{
		{Identifier: userID, PrincipalType: "User", Role: "UserWithReshare"},
		{Identifier: ownerID, PrincipalType: "User", Role: "Owner"},
		{Identifier: groupID, PrincipalType: "Group", Role: "User"},
	}
	if got := byName["lake-spn"].Users; !slices.Equal(got, wantLake) {
		t.Errorf("lake's users %+v,\nwant %+v", got, wantLake)
	}
	for _, name := range []string{"contoso-api", "warehouse", "files01-hr-c5a6cbd5"} {
		if ds := byName[name]; len(ds.Users) != 0 {
			t.Errorf("%s has users %+v, want none", name, ds.Users)
		}
	}
	text := string(out)
	if strings.Contains(text, "identifier: "+selfID) {
		t.Errorf("rotatord's own identity is written as a user:\n%s", text)
	}
	for _, want := range []string{
		"rotatord's own identity " + selfID + " (Owner) is not listed",
		"principal " + otherID + ` left out: principal type "EntireTenant" cannot be written in the inventory`,
		"principal " + newID + ` left out: role "Admin" is not Owner, User, UserWithReshare`,
		"its role assignments could not be read: no users are listed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "role assignments could not be read") != 1 {
		t.Errorf("want one connection whose role assignments are unknown:\n%s", text)
	}
	// What discover printed is what it finds: no users drift.
	if r := Diff(e, cfg); r.Counts()[Users] != 0 {
		t.Errorf("the printed inventory's users drift from the estate it was printed from: %+v", r.Drift)
	}

	// Its own identity unknown, rotatord writes it like any owner.
	e.Self = ""
	out, _, err = Render(e, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = config.Parse("discovered.yaml", out); err != nil {
		t.Fatalf("output fails check: %v\n%s", err, out)
	}
	for _, ds := range cfg.Datasources {
		if ds.Name == "lake-spn" && !slices.Contains(ds.Users, config.User{Identifier: selfID, PrincipalType: "ServicePrincipal", Role: "Owner"}) {
			t.Errorf("self unknown, lake's users %+v lack its owner %s", ds.Users, selfID)
		}
	}
}

// TestRenderConnectionRolesOddities: principals whose ids are no UUIDs, or
// that Fabric lists twice, are commented; check accepts the rest.
func TestRenderConnectionRolesOddities(t *testing.T) {
	c := conn(connB, "ShareableCloud", "Key", "Lake")
	e := &Estate{Connections: []fabric.Connection{c}, Roles: map[string][]fabric.RoleAssignment{connB: {
		{ID: "x", Principal: fabric.Principal{ID: "not-a-uuid", Type: "User"}, Role: "User"},
		{ID: groupID, Principal: fabric.Principal{ID: groupID, Type: "group"}, Role: "owner"},
		{ID: "y", Principal: fabric.Principal{ID: strings.ToUpper(groupID), Type: "Group"}, Role: "User"},
	}}}
	out, n, err := Render(e, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("discovered.yaml", out)
	if err != nil || n != 1 {
		t.Fatalf("%d entries, check: %v\n%s", n, err, out)
	}
	if want := []config.User{{Identifier: groupID, PrincipalType: "Group", Role: "Owner"}}; !slices.Equal(cfg.Datasources[0].Users, want) {
		t.Errorf("users %+v, want %+v (Fabric's spelling of the type and role)", cfg.Datasources[0].Users, want)
	}
	for _, want := range []string{`principal "not-a-uuid" left out: its id is not a UUID`,
		"principal " + strings.ToUpper(groupID) + " left out as User: Fabric lists it twice"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDiffConnectionRoles: a Fabric entry's users are compared with the
// connection's role assignments as a rotation would reconcile them: a
// principal to add or whose role to change is drift of kind users, one to
// remove only with prune, and rotatord's own identity never; with that
// identity unknown, no one is to be removed and no owner's role changed.
// A connection whose assignments could not be read is not compared.
func TestDiffConnectionRoles(t *testing.T) {
	f, fab := rolesEstate()
	inventory := func(prune bool) *config.Config {
		t.Helper()
		p := ""
		if prune {
			p = "    prune: true\n"
		}
		src := `keyvaults: {main: https://contoso-kv.vault.azure.net/}
datasources:
  - name: lake
    connection_id: ` + connB + `
    credential_type: ServicePrincipal
    source: {keyvault: main, tenant_id: ` + groupID + `, client_id: ` + groupID + `, client_secret_secret: lake-secret}
` + p + `    users:
      - {identifier: ` + groupID + `, principal_type: Group, role: Owner}
      - {identifier: ` + strings.ToUpper(ownerID) + `, principal_type: User, role: User}
      - {identifier: ` + addID + `, principal_type: Group, role: User}
  - name: warehouse
    connection_id: ` + connC + `
    credential_type: KeyPair
    source: {keyvault: main, identifier: SVC, private_key_secret: warehouse-key}
    users:
      - {identifier: ` + groupID + `, principal_type: Group, role: User}
`
		cfg, err := config.Parse("inv.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	o := Options{Connections: fab, Self: selfID, Workers: 2, KnownConnections: []string{connB, connC}}
	e := Discover(t.Context(), f, o)
	users := func(r Report) []Drift {
		var out []Drift
		for _, d := range r.Drift {
			if d.Kind == Users {
				out = append(out, d)
			}
		}
		return out
	}
	for name, tc := range map[string]struct {
		prune   bool
		self    string
		want    []string
		notWant []string
	}{
		"no prune": {false, selfID,
			[]string{addID + " (Group) should have role User", groupID + " has role User, should have Owner", ownerID + " has role Owner, should have User"},
			[]string{"not declared", newID}},
		"prune": {true, selfID,
			[]string{addID + " (Group) should have role User", userID + " (User, role userwithreshare) is not declared (prune: true removes it)",
				otherID + " (EntireTenant, role User) is not declared", newID + " (User, role Admin) is not declared"},
			[]string{selfID}},
		"self unknown": {true, "",
			[]string{addID + " (Group) should have role User", groupID + " has role User, should have Owner"},
			[]string{"not declared", ownerID}},
	} {
		t.Run(name, func(t *testing.T) {
			e.Self = tc.self
			got := users(Diff(e, inventory(tc.prune)))
			if len(got) != 1 || got[0].Name != "lake" || got[0].ConnectionID != connB || got[0].Line == 0 {
				t.Fatalf("users drift %+v, want lake's alone (warehouse's assignments could not be read)", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0].Detail, w) {
					t.Errorf("detail %q lacks %q", got[0].Detail, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got[0].Detail, w) {
					t.Errorf("detail %q has %q", got[0].Detail, w)
				}
			}
		})
	}

	// Declared as Fabric has them: no drift, however the ids are spelled.
	cfg, err := config.Parse("inv.yaml", []byte(`keyvaults: {main: https://contoso-kv.vault.azure.net/}
datasources:
  - name: api
    connection_id: `+dsSP+`
    credential_type: ServicePrincipal
    source: {keyvault: main, tenant_id: `+groupID+`, client_id: `+groupID+`, client_secret_secret: api-secret}
    prune: true
    users:
      - {identifier: `+strings.ToUpper(selfID)+`, principal_type: ServicePrincipal, role: Owner}
`))
	if err != nil {
		t.Fatal(err)
	}
	e = Discover(t.Context(), f, Options{Connections: fab, Self: selfID, Workers: 2, KnownConnections: []string{dsSP}})
	if got := users(Diff(e, cfg)); len(got) != 0 {
		t.Errorf("users drift %+v, want none", got)
	}
}
