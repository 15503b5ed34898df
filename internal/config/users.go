package config

import (
	"strings"

	"github.com/rotatord/rotatord/internal/pbi"
)

// UserChanges compares the users a data source has with those ds declares:
// add holds every declared user it lacks or holds with another access right,
// remove (only with Prune) every user ds does not declare. The rotation
// applies them; discover --diff reports them.
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
