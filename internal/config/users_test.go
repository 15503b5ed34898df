package config

import (
	"reflect"
	"testing"

	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/pbi"
)

func TestUserChanges(t *testing.T) {
	john := User{Email: "john@contoso.com", Access: "Read", PrincipalType: "User"}
	app := User{Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", Access: "Read", PrincipalType: "App"}
	for name, tc := range map[string]struct {
		want       []User
		prune      bool
		have       []pbi.DatasourceUser
		add, rmove int
	}{
		"all missing":           {want: []User{john, app}, add: 2},
		"present, case differs": {want: []User{john}, have: []pbi.DatasourceUser{{EmailAddress: "John@Contoso.com", DatasourceAccessRight: "Read"}}},
		"access differs":        {want: []User{john}, have: []pbi.DatasourceUser{{EmailAddress: "john@contoso.com", DatasourceAccessRight: "ReadOverrideEffectiveIdentity"}}, add: 1},
		"app by identifier": {want: []User{app}, have: []pbi.DatasourceUser{
			{Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", EmailAddress: "app@x", DatasourceAccessRight: "Read"}}},
		"stranger kept":   {want: []User{john}, have: []pbi.DatasourceUser{{EmailAddress: "x@y", DatasourceAccessRight: "Read"}}, add: 1},
		"stranger pruned": {want: []User{john}, prune: true, have: []pbi.DatasourceUser{{EmailAddress: "x@y", DatasourceAccessRight: "Read"}}, add: 1, rmove: 1},
	} {
		t.Run(name, func(t *testing.T) {
			add, remove := Datasource{Users: tc.want, Prune: tc.prune}.UserChanges(tc.have)
			if len(add) != tc.add || len(remove) != tc.rmove {
				t.Errorf("add %d remove %d, want %d and %d", len(add), len(remove), tc.add, tc.rmove)
			}
		})
	}
}

func TestRoleChanges(t *testing.T) {
	const (
		groupID = "3d9b93c6-7b6d-4801-a491-1738910904fd"
		appID   = "5a7e2c14-9b3d-4f6a-8e1c-2d4b6f8a0c3e"
		selfID  = "0b5e3f1a-2c4d-4e6f-8a9b-1c2d3e4f5a6b"
	)
	group := User{Identifier: groupID, PrincipalType: "Group", Role: "User"}
	app := User{Identifier: appID, PrincipalType: "ServicePrincipal", Role: "Owner"}
	assigned := func(id, principal, typ, role string) RoleAssignment {
		return RoleAssignment{ID: id, PrincipalID: principal, PrincipalType: typ, Role: role}
	}
	for name, tc := range map[string]struct {
		want                []User // declared
		prune               bool
		have                []RoleAssignment
		add, update, remove []RoleAssignment
	}{
		"all missing": {
			want: []User{group, app},
			add:  []RoleAssignment{{PrincipalID: groupID, PrincipalType: "Group", Role: "User"}, {PrincipalID: appID, PrincipalType: "ServicePrincipal", Role: "Owner"}},
		},
		"present, id and role case differ": {
			want: []User{group},
			have: []RoleAssignment{assigned("a1", "3D9B93C6-7B6D-4801-A491-1738910904FD", "Group", "user")},
		},
		"role differs: update carries the service's id": {
			want:   []User{group},
			have:   []RoleAssignment{assigned("a1", groupID, "Group", "Owner")},
			update: []RoleAssignment{assigned("a1", groupID, "Group", "User")},
		},
		"stranger kept without prune": {
			want: []User{group},
			have: []RoleAssignment{assigned("a1", groupID, "Group", "User"), assigned("a2", selfID, "ServicePrincipal", "Owner")},
		},
		"stranger removed with prune (the caller spares its own identity)": {
			want:   []User{group},
			prune:  true,
			have:   []RoleAssignment{assigned("a2", selfID, "ServicePrincipal", "Owner"), assigned("a1", groupID, "Group", "User")},
			remove: []RoleAssignment{assigned("a2", selfID, "ServicePrincipal", "Owner")},
		},
		"add, update and remove at once": {
			want:   []User{group, app},
			prune:  true,
			have:   []RoleAssignment{assigned("a1", appID, "ServicePrincipal", "UserWithReshare"), assigned("a3", selfID, "User", "User")},
			add:    []RoleAssignment{{PrincipalID: groupID, PrincipalType: "Group", Role: "User"}},
			update: []RoleAssignment{assigned("a1", appID, "ServicePrincipal", "Owner")},
			remove: []RoleAssignment{assigned("a3", selfID, "User", "User")},
		},
		"nothing declared, nothing assigned": {},
	} {
		t.Run(name, func(t *testing.T) {
			ds := Datasource{ConnectionID: "70b17680-48f1-4729-9df6-02576647dc3a", Users: tc.want, Prune: tc.prune}
			add, update, remove := ds.RoleChanges(tc.have)
			if !reflect.DeepEqual(add, tc.add) || !reflect.DeepEqual(update, tc.update) || !reflect.DeepEqual(remove, tc.remove) {
				t.Errorf("RoleChanges =\n add %+v\n update %+v\n remove %+v\nwant\n add %+v\n update %+v\n remove %+v",
					add, update, remove, tc.add, tc.update, tc.remove)
			}
		})
	}
}

func TestPinnedVersion(t *testing.T) {
	const v = "0f3c9a7e5b2d4c1e8a6f9b3d7e2c5a14"
	for typ, pinned := range map[credentials.Type]string{
		credentials.Basic: "password", credentials.Windows: "password", credentials.Key: "key", credentials.SAS: "token",
		credentials.OAuth2: "access_token", credentials.ServicePrincipal: "client_secret", credentials.KeyPair: "private_key",
	} {
		ds := Datasource{CredentialType: typ, Source: Source{Version: v}}
		for _, f := range credentials.AllFields() {
			want := ""
			if f == pinned {
				want = v
			}
			if got := ds.PinnedVersion(f); got != want {
				t.Errorf("%s: PinnedVersion(%q) = %q, want %q", typ, f, got, want)
			}
		}
	}
	if got := (Datasource{CredentialType: credentials.WorkspaceIdentity, Source: Source{Version: v}}).PinnedVersion(""); got != "" {
		t.Errorf("WorkspaceIdentity: PinnedVersion = %q", got)
	}
}

func TestVersionedSecrets(t *testing.T) {
	kv := func(name string) Ref { return Ref{Kind: RefKeyVault, Name: name} }
	lit := func(v string) Ref { return Ref{Kind: RefLiteral, Name: v} }
	env := Ref{Kind: RefEnv, Name: "X"}
	src := func(kv ...any) Source {
		var fs Fields
		for i := 0; i < len(kv); i += 2 {
			fs = fs.set(kv[i].(string), kv[i+1].(Ref))
		}
		return Source{Fields: fs}
	}
	for name, tc := range map[string]struct {
		typ  credentials.Type
		src  Source
		want bool
	}{
		"basic, literal user":             {credentials.Basic, src("username", lit("svc"), "password", kv("p")), true},
		"basic, password from env":        {credentials.Basic, src("username", kv("u"), "password", env), false},
		"oauth_scope":                     {credentials.OAuth2, Source{OAuthScope: "s"}, false},
		"sp, literal ids":                 {credentials.ServicePrincipal, src("tenant_id", lit("t"), "client_id", lit("c"), "client_secret", kv("s")), true},
		"sp, secret from a file":          {credentials.ServicePrincipal, src("tenant_id", lit("t"), "client_id", lit("c"), "client_secret", Ref{Kind: RefFile, Name: "/f"}), false},
		"keypair without passphrase":      {credentials.KeyPair, src("identifier", lit("i"), "private_key", kv("k")), true},
		"keypair, passphrase from vault":  {credentials.KeyPair, src("identifier", lit("i"), "private_key", kv("k"), "passphrase", kv("p")), true},
		"keypair, passphrase from env":    {credentials.KeyPair, src("identifier", lit("i"), "private_key", kv("k"), "passphrase", env), false},
		"keypair, only the passphrase":    {credentials.KeyPair, src("identifier", lit("i"), "passphrase", kv("p")), false},
		"workspace identity: no secrets":  {credentials.WorkspaceIdentity, Source{}, false},
		"anonymous: nothing to roll back": {credentials.Anonymous, Source{}, false},
	} {
		if got := versionedSecrets(tc.src, tc.typ); got != tc.want {
			t.Errorf("%s: versionedSecrets = %v, want %v", name, got, tc.want)
		}
	}
}
