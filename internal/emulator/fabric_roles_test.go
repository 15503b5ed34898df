package emulator

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	fabUser  = "6a002b3d-e4ec-43df-8c08-e8eb7547d9dd"
	fabGroup = "3d9b93c6-7b6d-4801-a491-1738910904fd"
)

func TestFabricRoleAssignmentsCRUD(t *testing.T) {
	f := newCloudFixture(t, FabricOptions{})
	ras := "/connections/" + fabVNet + "/roleAssignments"
	owner := FabricRoleAssignment{ID: fabOwner, PrincipalID: fabOwner, PrincipalType: "ServicePrincipal", Role: "Owner"}
	if got := f.fab.RoleAssignments(fabVNet); !reflect.DeepEqual(got, []FabricRoleAssignment{owner}) {
		t.Fatalf("a new connection's assignments %+v: want its creator as Owner", got)
	}

	status, hdr, b := f.do("POST", ras, `{"principal":{"id":"`+fabUser+`","type":"User"},"role":"User"}`)
	if status != 201 || hdr.Get("Location") != f.base+ras+"/"+fabUser {
		t.Fatalf("add: %d, Location %q: %s", status, hdr.Get("Location"), b)
	}
	if !jsonEqual(t, b, `{"id":"`+fabUser+`","principal":{"id":"`+fabUser+`","type":"User"},"role":"User"}`) {
		t.Errorf("add answered %s", b)
	}
	f.want("POST", ras, `{"principal":{"id":"`+strings.ToUpper(fabUser)+`","type":"User"},"role":"Owner"}`, 409, FabricCodePrincipalAlreadyHasRole)
	f.want("POST", ras, `{"principal":{"id":"`+fabGroup+`","type":"EntireTenant"},"role":"User"}`, 400, FabricCodeInvalidInput)
	f.want("POST", ras, `{"principal":{"id":"`+fabGroup+`","type":"Group"},"role":"Admin"}`, 400, FabricCodeInvalidInput)
	f.want("POST", ras, `{"principal":{"id":"`+fabGroup+`","type":"Group"},"role":"UserWithReshare"}`, 201, "")

	b, _ = f.want("GET", ras+"/"+fabGroup, "", 200, "")
	if !strings.Contains(string(b), `"role":"UserWithReshare"`) {
		t.Errorf("get: %s", b)
	}
	b, _ = f.want("PATCH", ras+"/"+fabGroup, `{"role":"Owner"}`, 200, "")
	if !jsonEqual(t, b, `{"id":"`+fabGroup+`","principal":{"id":"`+fabGroup+`","type":"Group"},"role":"Owner"}`) {
		t.Errorf("update answered %s", b)
	}
	f.want("PATCH", ras+"/"+fabGroup, `{"role":"Reader"}`, 400, FabricCodeInvalidInput)
	b, _ = f.want("DELETE", ras+"/"+fabUser, "", 200, "")
	if len(b) != 0 {
		t.Errorf("delete answered a body: %s", b)
	}
	f.want("DELETE", ras+"/"+fabUser, "", 404, FabricCodeEntityNotFound)
	f.want("GET", ras+"/"+fabUser, "", 404, FabricCodeEntityNotFound)
	f.want("PATCH", ras+"/"+fabUser, `{"role":"User"}`, 404, FabricCodeEntityNotFound)

	want := []FabricRoleAssignment{owner, {ID: fabGroup, PrincipalID: fabGroup, PrincipalType: "Group", Role: "Owner"}}
	if got := f.fab.RoleAssignments(fabVNet); !reflect.DeepEqual(got, want) {
		t.Errorf("assignments %+v, want %+v", got, want)
	}
	b, _ = f.want("GET", ras, "", 200, "")
	var list struct {
		Value []map[string]any `json:"value"`
	}
	must(t, json.Unmarshal(b, &list))
	if len(list.Value) != 2 || list.Value[1]["id"] != fabGroup {
		t.Errorf("list %s", b)
	}
	for _, path := range []string{"/connections/00000000-0000-4000-8000-000000000000/roleAssignments", "/connections/00000000-0000-4000-8000-000000000000/roleAssignments/" + fabUser} {
		f.want("GET", path, "", 404, FabricCodeEntityNotFound)
	}
	f.want("GET", ras+"/not-a-uuid", "", 400, FabricCodeInvalidInput)
}

func TestFabricSetRoleAssignments(t *testing.T) {
	f := newCloudFixture(t, FabricOptions{})
	set := []FabricRoleAssignment{{PrincipalID: fabGroup, PrincipalType: "Group", Role: "User"}}
	must(t, f.fab.SetRoleAssignments(fabCloud, set))
	if got := f.fab.RoleAssignments(fabCloud); len(got) != 1 || got[0].ID != fabGroup {
		t.Errorf("got %+v: want the id filled from the principal", got)
	}
	for _, bad := range []FabricRoleAssignment{
		{PrincipalID: "g", PrincipalType: "Group", Role: "User"},
		{PrincipalID: fabGroup, PrincipalType: "EntireTenant", Role: "User"},
		{PrincipalID: fabGroup, PrincipalType: "Group", Role: "Admin"},
	} {
		if err := f.fab.SetRoleAssignments(fabCloud, []FabricRoleAssignment{bad}); err == nil {
			t.Errorf("%+v taken", bad)
		}
	}
	if err := f.fab.SetRoleAssignments("00000000-0000-4000-8000-000000000000", set); err == nil {
		t.Error("an unknown connection took assignments")
	}
}

// TestFabricPaging: lists page with continuationToken and continuationUri,
// each token good for its own list only.
func TestFabricPaging(t *testing.T) {
	f := newCloudFixture(t, FabricOptions{PageSize: 2})
	var ras []FabricRoleAssignment
	for i := range 5 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ras = append(ras, FabricRoleAssignment{PrincipalID: id, PrincipalType: "User", Role: "User"})
		must(t, f.fab.AddConnection(FabricConnection{ID: id, ConnectivityType: FabricShareableCloud, CredentialType: "Basic"}))
		must(t, f.fab.AddVNetGateway(fmt.Sprintf("00000000-0000-4000-9000-%012d", i)))
	}
	must(t, f.fab.SetRoleAssignments(fabCloud, ras))
	tests := map[string]struct {
		path        string
		items, page int
	}{
		"connections":      {"/connections", 8, 4},
		"gateways":         {"/gateways", 7, 4},
		"role assignments": {"/connections/" + fabCloud + "/roleAssignments", 5, 3},
	}
	tokens := map[string]string{}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var ids []string
			pages := 0
			for u := f.base + tc.path; u != ""; pages++ {
				b, _ := f.want("GET", u, "", 200, "")
				var p struct {
					Value             []map[string]any `json:"value"`
					ContinuationToken string           `json:"continuationToken"`
					ContinuationURI   string           `json:"continuationUri"`
				}
				must(t, json.Unmarshal(b, &p))
				if len(p.Value) > 2 || len(p.Value) == 0 {
					t.Fatalf("page of %d: %s", len(p.Value), b)
				}
				for _, it := range p.Value {
					ids = append(ids, it["id"].(string))
				}
				if (p.ContinuationToken == "") != (p.ContinuationURI == "") ||
					p.ContinuationURI != "" && p.ContinuationURI != f.base+tc.path+"?continuationToken="+p.ContinuationToken {
					t.Fatalf("token %q, uri %q", p.ContinuationToken, p.ContinuationURI)
				}
				if p.ContinuationToken != "" {
					tokens[tc.path] = p.ContinuationToken
				}
				u = p.ContinuationURI
				if pages > 10 {
					t.Fatal("paging does not end")
				}
			}
			if len(ids) != tc.items || pages != tc.page {
				t.Errorf("%d items in %d pages, want %d in %d: %v", len(ids), pages, tc.items, tc.page, ids)
			}
		})
	}
	f.want("GET", "/gateways?continuationToken="+tokens["/connections"], "", 400, FabricCodeInvalidContinuationToken)
	f.want("GET", "/connections?continuationToken=garbage", "", 400, FabricCodeInvalidContinuationToken)
	f.fab.SetPageSize(0)
	b, _ := f.want("GET", "/connections", "", 200, "")
	if strings.Contains(string(b), "continuation") {
		t.Errorf("PageSize 0 paged: %s", b)
	}
}
