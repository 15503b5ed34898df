package rotate

import (
	"cmp"
	"context"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/secret"
)

// Fabric is the part of the Fabric REST API a rotation of a connection
// (an inventory entry with connection_id) calls. *fabric.Client is the
// real one.
type Fabric interface {
	GetConnection(ctx context.Context, connectionID string) (fabric.Connection, error)
	GetGateway(ctx context.Context, gatewayID string) (fabric.Gateway, error)
	ListGatewayMembers(ctx context.Context, gatewayID string) ([]fabric.Member, error)
	UpdateConnectionCredentials(ctx context.Context, connectionID string, u fabric.CredentialUpdate) error
	TestConnection(ctx context.Context, connectionID string) error
	ListConnectionRoleAssignments(ctx context.Context, connectionID string) ([]fabric.RoleAssignment, error)
	AddConnectionRoleAssignment(ctx context.Context, connectionID string, p fabric.Principal, role string) error
	UpdateConnectionRoleAssignment(ctx context.Context, connectionID, assignmentID, role string) error
	DeleteConnectionRoleAssignment(ctx context.Context, connectionID, assignmentID string) error
}

var _ Fabric = (*fabric.Client)(nil)

// The connectivity types of Fabric connections that rotatord serves.
const (
	onPremises       = "OnPremisesGateway"
	onPremisesSolo   = "OnPremisesGatewayPersonal"
	streamingNetwork = "StreamingVirtualNetworkGateway"
)

// memberKey is one enabled member of an on-premises gateway cluster.
type memberKey struct {
	id  string
	pub *rsa.PublicKey
}

// fabricKeys caches the keys of the gateways Fabric connections go
// through: a cluster's members, a personal gateway's own key.
type fabricKeys struct {
	members  *keyCache[[]memberKey]
	personal *keyCache[*rsa.PublicKey]
}

func newFabricKeys(c Fabric, clk clock.Clock, ttl time.Duration) fabricKeys {
	members := func(ctx context.Context, gatewayID string) ([]memberKey, error) {
		list, err := c.ListGatewayMembers(ctx, gatewayID)
		if err != nil {
			return nil, err
		}
		var out []memberKey
		for _, m := range list {
			if !m.Enabled {
				continue // a disabled member serves no query: the service takes no value for it
			}
			pub, err := publicKey(m.ID, m.PublicKey.Exponent, m.PublicKey.Modulus)
			if err != nil {
				return nil, err
			}
			out = append(out, memberKey{id: m.ID, pub: pub})
		}
		if len(out) == 0 {
			return nil, errors.Join(errBadKey, errors.New("gateway "+gatewayID+" has no enabled member to encrypt for"))
		}
		return out, nil
	}
	personal := func(ctx context.Context, gatewayID string) (*rsa.PublicKey, error) {
		gw, err := c.GetGateway(ctx, gatewayID)
		if err != nil {
			return nil, err
		}
		if gw.PublicKey == nil {
			return nil, errors.Join(errBadKey, errors.New("gateway "+gatewayID+" has no public key"))
		}
		return publicKey(gatewayID, gw.PublicKey.Exponent, gw.PublicKey.Modulus)
	}
	return fabricKeys{members: newKeyCache(members, clk, ttl), personal: newKeyCache(personal, clk, ttl)}
}

// sameMembers reports whether two readings of a cluster list the same
// members with the same keys.
func sameMembers(a, b []memberKey) bool {
	return slices.EqualFunc(a, b, func(x, y memberKey) bool {
		return strings.EqualFold(x.id, y.id) && x.pub.Equal(y.pub)
	})
}

// connKind is what a rotation last read of a data source's connection.
type connKind struct{ id, connectivity string }

// connection reads the connection ds names, remembering its connectivity
// type for the checks that do not read it.
func (r *Rotator) connection(ctx context.Context, ds config.Datasource) (fabric.Connection, error) {
	c, err := r.o.Fabric.GetConnection(ctx, ds.ConnectionID)
	if err == nil {
		r.mu.Lock()
		r.conns[ds.Name] = connKind{id: ds.ConnectionID, connectivity: c.ConnectivityType}
		r.mu.Unlock()
	}
	return c, err
}

// pushConnection delivers a credential to a Fabric connection, as its
// connectivity type wants it: encrypted once per enabled member of an
// on-premises cluster, once for a personal gateway, in clear (over TLS)
// for cloud and virtual-network connections. Where the service can, it
// tests the credential before storing it (skipTestConnection false): a
// credential the data source refuses is then never stored.
func (r *Rotator) pushConnection(ctx context.Context, ds config.Datasource, cred prepared, res *Result) error {
	t := r.o.Clock.Now()
	conn, err := r.connection(ctx, ds)
	if err != nil {
		r.observe(res, StagePatch, t)
		return fail(ds.Name, StagePatch, err)
	}
	u := fabric.CredentialUpdate{
		ConnectivityType: conn.ConnectivityType,
		CredentialType:   credentials.FabricName(ds.CredentialType),
	}
	if conn.ConnectivityType != streamingNetwork {
		f := false
		u.SkipTestConnection = &f
	}
	switch conn.ConnectivityType {
	case onPremises:
		return r.pushCluster(ctx, ds, conn.GatewayID, cred.plain, u, res)
	case onPremisesSolo:
		return r.pushPersonal(ctx, ds, conn.GatewayID, cred.plain, u, res)
	}
	u.Typed = cred.typed
	return r.update(ctx, ds, u, res)
}

// pushCluster encrypts for every enabled member of the cluster and PATCHes,
// again once with the members read anew if the cluster changed (a member
// added, removed or re-keyed since they were read).
func (r *Rotator) pushCluster(ctx context.Context, ds config.Datasource, gatewayID string, plain secret.Secret, u fabric.CredentialUpdate, res *Result) error {
	return sealAndSend(ctx, r, ds, res, sealing[[]memberKey]{
		gatewayID: gatewayID,
		keys:      r.fab.members,
		same:      sameMembers,
		seal: func(ctx context.Context, members []memberKey) (err error) {
			u.Values, err = r.encryptMembers(ctx, members, plain)
			return err
		},
		send:    func(ctx context.Context) error { return r.update(ctx, ds, u, res) },
		changed: "gateway cluster changed, encrypting again",
	})
}

// encryptMembers encrypts plain for each member on the shared pool, all at
// once: a cluster of three 2048-bit members costs one encryption's time.
func (r *Rotator) encryptMembers(ctx context.Context, members []memberKey, plain secret.Secret) ([]fabric.EncryptedValue, error) {
	out := make([]fabric.EncryptedValue, len(members))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range members {
		g.Go(func() error {
			enc, err := r.encrypt(gctx, m.pub, plain)
			out[i] = fabric.EncryptedValue{GatewayID: m.id, EncryptedCredentials: enc}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// pushPersonal encrypts for a personal gateway and PATCHes, again once with
// the key read anew if it changed, as for a Power BI gateway.
func (r *Rotator) pushPersonal(ctx context.Context, ds config.Datasource, gatewayID string, plain secret.Secret, u fabric.CredentialUpdate, res *Result) error {
	return sealAndSend(ctx, r, ds, res, sealing[*rsa.PublicKey]{
		gatewayID: gatewayID,
		keys:      r.fab.personal,
		same:      sameKey,
		seal: func(ctx context.Context, pub *rsa.PublicKey) (err error) {
			u.Encrypted, err = r.encrypt(ctx, pub, plain)
			return err
		},
		send:    func(ctx context.Context) error { return r.update(ctx, ds, u, res) },
		changed: "gateway key changed, encrypting again",
	})
}

func (r *Rotator) update(ctx context.Context, ds config.Datasource, u fabric.CredentialUpdate, res *Result) error {
	t := r.o.Clock.Now()
	err := r.o.Fabric.UpdateConnectionCredentials(ctx, ds.ConnectionID, u)
	r.observe(res, StagePatch, t)
	if err != nil {
		// The PATCH tested the credential: say why it did not connect.
		e := fail(ds.Name, StagePatch, err)
		var fe *fabric.Error
		if errors.As(err, &fe) {
			e.Reason = cmp.Or(fe.ConnectionFailure(), e.Reason)
		}
		return e
	}
	return nil
}

// checkConnection asks Fabric to test the connection with the credential it
// holds. Fabric cannot test a streaming virtual-network connection: that
// check is not made (a zero Check), and the PATCH's own test is all there is.
func (r *Rotator) checkConnection(ctx context.Context, ds config.Datasource) (Check, error) {
	r.mu.Lock()
	last, known := r.conns[ds.Name]
	r.mu.Unlock()
	kind := last.connectivity
	if !known || !strings.EqualFold(last.id, ds.ConnectionID) { // a reload may point the name elsewhere
		c, err := r.connection(ctx, ds)
		if err != nil {
			return Check{}, err
		}
		kind = c.ConnectivityType
	}
	if kind == streamingNetwork {
		return Check{}, nil
	}
	return Check{At: r.o.Clock.Now()}, r.o.Fabric.TestConnection(ctx, ds.ConnectionID)
}

// roleChanges reads a connection's role assignments and compares them with
// the inventory's users. The identity rotatord runs as is never removed nor
// given another role: it would lock itself out of the connection.
func (r *Rotator) roleChanges(ctx context.Context, ds config.Datasource) (add, update, remove []config.RoleAssignment, err error) {
	list, err := r.o.Fabric.ListConnectionRoleAssignments(ctx, ds.ConnectionID)
	if err != nil {
		return nil, nil, nil, err
	}
	have := make([]config.RoleAssignment, len(list))
	for i, a := range list {
		have[i] = config.RoleAssignment{ID: a.ID, PrincipalID: a.Principal.ID, PrincipalType: a.Principal.Type, Role: a.Role}
	}
	add, update, remove = ds.RoleChanges(have)
	self := r.self(ctx)
	if self == "" {
		// Any of them might be rotatord itself: take nobody's rights away.
		if len(remove) > 0 {
			r.o.Logger.Warn("identity unknown: no role assignment removed", "datasource", ds.Name, "would_remove", len(remove))
		}
		owners := roles(have)
		update = slices.DeleteFunc(update, func(a config.RoleAssignment) bool { return strings.EqualFold(owners[a.ID], "Owner") })
		return add, update, nil, nil
	}
	isSelf := func(a config.RoleAssignment) bool { return strings.EqualFold(a.PrincipalID, self) }
	return add, slices.DeleteFunc(update, isSelf), slices.DeleteFunc(remove, isSelf), nil
}

// roles maps role assignment ids to their roles.
func roles(list []config.RoleAssignment) map[string]string {
	m := make(map[string]string, len(list))
	for _, a := range list {
		m[a.ID] = a.Role
	}
	return m
}

// self is the object id of rotatord's identity, "" when unknown.
func (r *Rotator) self(ctx context.Context) string {
	if r.o.Self == nil {
		return ""
	}
	id, err := r.o.Self(ctx)
	if err != nil {
		r.o.Logger.Warn("cannot tell the identity's object id", "err", err)
		return ""
	}
	return id
}

// reconcileRoles makes a connection's role assignments match the inventory.
func (r *Rotator) reconcileRoles(ctx context.Context, ds config.Datasource) (added, removed int, err error) {
	add, update, remove, err := r.roleChanges(ctx, ds)
	if err != nil {
		return 0, 0, err
	}
	drift := len(add) + len(update) + len(remove)
	r.setDrift(ds.Name, drift)
	for _, a := range add {
		if err := r.o.Fabric.AddConnectionRoleAssignment(ctx, ds.ConnectionID, fabric.Principal{ID: a.PrincipalID, Type: a.PrincipalType}, a.Role); err != nil {
			return added, removed, err
		}
		added++
		r.setDrift(ds.Name, drift-added-removed)
	}
	for _, a := range update {
		if err := r.o.Fabric.UpdateConnectionRoleAssignment(ctx, ds.ConnectionID, a.ID, a.Role); err != nil {
			return added, removed, err
		}
		added++
		r.setDrift(ds.Name, drift-added-removed)
	}
	for _, a := range remove {
		if err := r.o.Fabric.DeleteConnectionRoleAssignment(ctx, ds.ConnectionID, a.ID); err != nil {
			return added, removed, err
		}
		removed++
		r.setDrift(ds.Name, drift-added-removed)
	}
	if added+removed > 0 {
		r.o.Logger.Info("connection role assignments reconciled", "datasource", ds.Name, "users_added", added, "users_removed", removed)
	}
	return added, removed, nil
}
