package config

import (
	"testing"

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
