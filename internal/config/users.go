package config

import (
	"strings"

	"github.com/rotatord/rotatord/internal/pbi"
)

// UserChanges compares the users a data source has with those ds declares:
// add holds every declared user it lacks or holds with another access right,
// remove (only with Prune) every user ds does not declare. The rotation
// applies them; discover --diff reports them. For a Fabric connection,
// whose users are role assignments, see RoleChanges.
func (ds Datasource) UserChanges(have []pbi.DatasourceUser) (add []pbi.DatasourceUser, remove []pbi.DatasourceUser) {
	current := make(map[string]pbi.DatasourceUser, len(have))
	for _, u := range have {
		current[u.Key()] = u
		if u.EmailAddress != "" && u.Identifier != "" {
			current[pbi.UserKey("", u.Identifier)] = u // apps are declared by identifier
		}
	}
	declared := make(map[string]bool, len(ds.Users))
	for _, want := range ds.Users {
		k := want.Key()
		declared[k] = true
		got, ok := current[k]
		if ok && strings.EqualFold(got.DatasourceAccessRight, want.Access) {
			continue
		}
		add = append(add, pbi.DatasourceUser{
			DatasourceAccessRight: want.Access,
			EmailAddress:          want.Email,
			Identifier:            want.Identifier,
			PrincipalType:         want.PrincipalType,
			DisplayName:           want.DisplayName,
		})
	}
	if !ds.Prune {
		return add, nil
	}
	for _, u := range have {
		if declared[u.Key()] || (u.Identifier != "" && declared[pbi.UserKey("", u.Identifier)]) {
			continue
		}
		remove = append(remove, u)
	}
	return add, remove
}

// ManagesUsers reports whether rotatord looks after ds's users at all.
func (ds Datasource) ManagesUsers() bool { return len(ds.Users) > 0 || ds.Prune }

// RoleAssignment is one principal's role on a Fabric connection: what
// GET /v1/connections/{id}/roleAssignments lists and RoleChanges plans.
type RoleAssignment struct {
	ID            string // the service's id of the assignment; empty for one to add
	PrincipalID   string // the principal's Entra object ID
	PrincipalType string // User, Group, ServicePrincipal or ServicePrincipalProfile
	Role          string // Owner, User or UserWithReshare
}

// RoleChanges compares the role assignments a Fabric connection has with
// the users d declares. add holds every declared principal that has no
// assignment (ID empty); update every one assigned another role, with the
// service's ID and the declared role; remove (only with Prune) every
// assignment of a principal d does not declare. Principal IDs and roles
// are compared case-insensitively, as the service does.
//
// remove may name rotatord's own identity, which an inventory rarely
// declares: the caller must leave that one out, or the next rotation
// would find itself locked out of the connection.
func (d Datasource) RoleChanges(have []RoleAssignment) (add, update, remove []RoleAssignment) {
	current := make(map[string]RoleAssignment, len(have))
	for _, a := range have {
		current[strings.ToLower(a.PrincipalID)] = a
	}
	declared := make(map[string]bool, len(d.Users))
	for _, u := range d.Users {
		k := strings.ToLower(u.Identifier)
		declared[k] = true
		got, ok := current[k]
		switch {
		case !ok:
			add = append(add, RoleAssignment{PrincipalID: u.Identifier, PrincipalType: u.PrincipalType, Role: u.Role})
		case !strings.EqualFold(got.Role, u.Role):
			update = append(update, RoleAssignment{ID: got.ID, PrincipalID: got.PrincipalID, PrincipalType: got.PrincipalType, Role: u.Role})
		}
	}
	if !d.Prune {
		return add, update, nil
	}
	for _, a := range have {
		if !declared[strings.ToLower(a.PrincipalID)] {
			remove = append(remove, a)
		}
	}
	return add, update, remove
}
