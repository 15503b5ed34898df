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
		if err := r.o.PowerBI.DeleteDatasourceUser(ctx, ds.GatewayID, ds.DatasourceID, u.ID()); err != nil {
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
