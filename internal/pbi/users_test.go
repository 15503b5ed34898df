package pbi

import "testing"

func TestUserIDAndKey(t *testing.T) {
	tests := map[string]struct {
		u       DatasourceUser
		id, key string
	}{
		"email":         {u: DatasourceUser{EmailAddress: "John@Contoso.com"}, id: "John@Contoso.com", key: "email:john@contoso.com"},
		"identifier":    {u: DatasourceUser{Identifier: "3D9B93C6-7B6D-4801-A491-1738910904FD"}, id: "3D9B93C6-7B6D-4801-A491-1738910904FD", key: "id:3d9b93c6-7b6d-4801-a491-1738910904fd"},
		"email wins":    {u: DatasourceUser{EmailAddress: "a@contoso.com", Identifier: "x"}, id: "a@contoso.com", key: "email:a@contoso.com"},
		"neither":       {u: DatasourceUser{DisplayName: "nobody"}, id: "", key: "id:"},
		"email-like id": {u: DatasourceUser{Identifier: "a@contoso.com"}, id: "a@contoso.com", key: "id:a@contoso.com"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.u.ID(); got != tc.id {
				t.Errorf("ID() = %q, want %q", got, tc.id)
			}
			if got := tc.u.Key(); got != tc.key {
				t.Errorf("Key() = %q, want %q", got, tc.key)
			}
		})
	}
}
