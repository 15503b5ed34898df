package rotate

import (
	"context"

	"github.com/rotatord/rotatord/internal/config"
)

// reconcileUsers makes the data source's users match the inventory.
func (r *Rotator) reconcileUsers(ctx context.Context, ds config.Datasource) (added, removed int, err error) {
	if !ds.ManagesUsers() {
		r.setDrift(ds.Name, 0)
		return 0, 0, nil
	}
	if ds.Fabric() {
		return r.reconcileRoles(ctx, ds)
	}
	have, err := r.o.PowerBI.GetDatasourceUsers(ctx, ds.GatewayID, ds.DatasourceID)
	if err != nil {
		return 0, 0, err
	}
	add, remove := ds.UserChanges(have)
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
