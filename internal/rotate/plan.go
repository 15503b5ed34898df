package rotate

import (
	"context"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
)

// Plan is what a rotation of one data source would do. It holds no secret.
type Plan struct {
	Datasource    string
	KeyBits       int       // gateway key size; 0 for cloud data sources
	SourceVersion string    // Key Vault version(s) that would be pushed
	ExpiresAt     time.Time // expiry of the credential that would be pushed
	Patch         bool      // false when skip_unchanged would skip the PATCH
	UsersToAdd    []pbi.DatasourceUser
	UsersToRemove []pbi.DatasourceUser
	// Check says whether the credential Power BI holds now connects, when
	// ds.Verify; nil otherwise. It does not fail the plan.
	Check *Check
}

// Plan resolves ds's source and gateway key and compares its users, changing
// nothing: no PATCH, POST or DELETE is sent. Its error is scrubbed as
// Rotate's is.
func (r *Rotator) Plan(ctx context.Context, ds config.Datasource) (Plan, error) {
	p := Plan{Datasource: ds.Name}
	cred, err := r.prepare(ctx, ds)
	p.SourceVersion, p.ExpiresAt = cred.version, cred.expiresAt
	ctx = secret.WithValues(ctx, cred.values...)
	if err == nil {
		err = r.plan(ctx, ds, cred, &p)
	}
	return p, scrubbed(ctx, ds.Name, err)
}

func (r *Rotator) plan(ctx context.Context, ds config.Datasource, cred prepared, p *Plan) error {
	p.Patch = !r.unchanged(ds, cred.version)
	if ds.Encrypt == config.EncryptGateway {
		pub, err := r.keys.get(ctx, ds.GatewayID)
		if err != nil {
			return fail(ds.Name, StageEncrypt, err)
		}
		p.KeyBits = pub.N.BitLen()
	}
	if ds.ManagesUsers() {
		have, err := r.o.PowerBI.GetDatasourceUsers(ctx, ds.GatewayID, ds.DatasourceID)
		if err != nil {
			return fail(ds.Name, StageUsers, err)
		}
		p.UsersToAdd, p.UsersToRemove = ds.UserChanges(have)
	}
	if ds.Verify {
		c := r.Check(ctx, ds)
		p.Check = &c
	}
	return nil
}
