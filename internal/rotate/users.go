package rotate

import (
	"context"
	"strings"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/pbi"
)

// userDiff compares the users Power BI has with those the inventory wants.
// Users not declared are removed only with prune.
func userDiff(ds config.Datasource, have []pbi.DatasourceUser) (add []pbi.DatasourceUser, remove []pbi.DatasourceUser) {
	key := func(email, id string) string {
		if email != "" {
			return "e:" + strings.ToLower(email)
		}
		return "i:" + strings.ToLower(id)
	}
	current := make(map[string]pbi.DatasourceUser, len(have))
	for _, u := range have {
		current[key(u.EmailAddress, u.Identifier)] = u
		if u.EmailAddress != "" && u.Identifier != "" {
			current[key("", u.Identifier)] = u // apps are declared by identifier
		}
	}
	declared := make(map[string]bool, len(ds.Users))
	for _, want := range ds.Users {
		k := key(want.Email, want.Identifier)
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
		if declared[key(u.EmailAddress, u.Identifier)] || (u.Identifier != "" && declared[key("", u.Identifier)]) {
			continue
		}
		remove = append(remove, u)
	}
	return add, remove
}

// managesUsers reports whether rotatord looks after ds's users at all.
func managesUsers(ds config.Datasource) bool { return len(ds.Users) > 0 || ds.Prune }

// reconcileUsers makes the data source's users match the inventory.
func (r *Rotator) reconcileUsers(ctx context.Context, ds config.Datasource) (added, removed int, err error) {
	if !managesUsers(ds) {
		r.setDrift(ds.Name, 0)
		return 0, 0, nil
	}
	have, err := r.o.PowerBI.GetDatasourceUsers(ctx, ds.GatewayID, ds.DatasourceID)
	if err != nil {
		return 0, 0, err
	}
	add, remove := userDiff(ds, have)
	drift := len(add) + len(remove)
	r.setDrift(ds.Name, drift)
	for _, u := range add {
		if err := r.o.PowerBI.AddDatasourceUser(ctx, ds.GatewayID, ds.DatasourceID, u); err != nil {
			return added, removed, err
		}
		added++
		r.setDrift(ds.Name, drift-added-removed)
	}
	for _, u := range remove {
		who := u.EmailAddress
		if who == "" {
			who = u.Identifier
		}
		if err := r.o.PowerBI.DeleteDatasourceUser(ctx, ds.GatewayID, ds.DatasourceID, who); err != nil {
			return added, removed, err
		}
		removed++
		r.setDrift(ds.Name, drift-added-removed)
	}
	if added+removed > 0 {
		r.o.Logger.Info("datasource users reconciled", "datasource", ds.Name, "users_added", added, "users_removed", removed)
	}
	return added, removed, nil
}

func (r *Rotator) setDrift(name string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drift[name] = n
}
