package rotate

import (
	"context"
	"errors"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

// Plan is what a rotation of one data source would do. It holds no secret.
type Plan struct {
	Datasource string
	KeyBits    int // gateway key size; 0 for cloud data sources
	// Connectivity is a Fabric connection's connectivity type, and
	// MemberBits the key size of each enabled member of its on-premises
	// cluster.
	Connectivity  string
	MemberBits    []int
	SourceVersion string    // Key Vault version(s) that would be pushed
	ExpiresAt     time.Time // expiry of the credential that would be pushed
	Patch         bool      // false when skip_unchanged would skip the PATCH
	UsersToAdd    []pbi.DatasourceUser
	UsersToRemove []pbi.DatasourceUser
	// RolesToSet and RolesToRemove are a Fabric connection's role
	// assignments to add or change, and to remove.
	RolesToSet    []config.RoleAssignment
	RolesToRemove []config.RoleAssignment
	// Check says whether the credential Power BI holds now connects, when
	// ds.Verify; nil otherwise. It does not fail the plan.
	Check *Check
	// MissingSecrets, when the source failed for a Key Vault secret that
	// does not exist, names every secret of ds's source that does not:
	// what onboarding ds still has to create, not only the first.
	MissingSecrets []string
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
	} else if missing(err) {
		p.MissingSecrets = r.missingSecrets(ctx, ds)
	}
	return p, scrubbed(ctx, ds.Name, err)
}

// missing reports whether err is a source that does not exist.
func missing(err error) bool {
	var se *sources.Error
	return errors.As(err, &se) && se.Reason == sources.ReasonNotFound
}

// missingSecrets names the Key Vault secrets of ds's source that do not
// exist, reading each; the values read are dropped.
func (r *Rotator) missingSecrets(ctx context.Context, ds config.Datasource) []string {
	var names []string
	for _, f := range ds.Source.Fields {
		if f.Kind != config.RefKeyVault {
			continue
		}
		if _, err := r.srcs.Load().fetch(ctx, ds, f.Name, f.Ref, nil); missing(err) {
			names = append(names, f.Ref.Name)
		}
	}
	return names
}

func (r *Rotator) plan(ctx context.Context, ds config.Datasource, cred prepared, p *Plan) error {
	p.Patch = !r.unchanged(ds, cred.version)
	if ds.Fabric() {
		return r.planConnection(ctx, ds, p)
	}
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

// planConnection is plan for a Fabric connection.
func (r *Rotator) planConnection(ctx context.Context, ds config.Datasource, p *Plan) error {
	conn, err := r.connection(ctx, ds)
	if err != nil {
		return fail(ds.Name, StagePatch, err)
	}
	p.Connectivity = conn.ConnectivityType
	switch conn.ConnectivityType {
	case onPremises:
		members, err := r.fab.members.get(ctx, conn.GatewayID)
		if err != nil {
			return fail(ds.Name, StageEncrypt, err)
		}
		for _, m := range members {
			p.MemberBits = append(p.MemberBits, m.pub.N.BitLen())
		}
	case onPremisesSolo:
		pub, err := r.fab.personal.get(ctx, conn.GatewayID)
		if err != nil {
			return fail(ds.Name, StageEncrypt, err)
		}
		p.KeyBits = pub.N.BitLen()
	}
	if ds.ManagesUsers() {
		add, update, remove, err := r.roleChanges(ctx, ds)
		if err != nil {
			return fail(ds.Name, StageUsers, err)
		}
		p.RolesToSet, p.RolesToRemove = append(add, update...), remove
	}
	if ds.Verify {
		if c := r.Check(ctx, ds); !c.At.IsZero() {
			p.Check = &c
		}
	}
	return nil
}
