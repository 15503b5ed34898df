package discover

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/fabric"
)

// Placeholders Render writes where an inventory needs a value the service
// does not tell: a service principal's tenant and client IDs (UUIDs, so
// that `rotatord check` accepts them) and a key pair's identifier. Each is
// written with a comment saying to set it.
const (
	PlaceholderTenantID   = "00000000-0000-0000-0000-000000000000"
	PlaceholderClientID   = "00000000-0000-0000-0000-000000000000"
	PlaceholderIdentifier = "REPLACE-ME"
)

// The connectivity types rotatord rotates a connection through, as Fabric
// spells them; the rest (PersonalCloud, Automatic, None) it cannot.
const (
	shareableCloud        = "ShareableCloud"
	virtualNetwork        = "VirtualNetworkGateway"
	streamingNetwork      = "StreamingVirtualNetworkGateway"
	personalCloud         = "PersonalCloud"
	onPremises            = fabric.OnPremisesGateway
	onPremisesPersonal    = fabric.OnPremisesGatewayPersonal
	fabricCredentialTypes = "Basic, Windows, Key, SharedAccessSignature, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity"
)

// item is one data source of the printed inventory: a Power BI data
// source, a Fabric connection, or both, when a connection's id is that of
// a data source the Power BI listing found (in Fabric an on-premises
// gateway connection is its Power BI data source). Both are written once:
// as the Power BI entry, unless the connection's credential type is one
// only Fabric serves.
type item struct {
	ds   *Datasource        // the Power BI data source, if any
	conn *fabric.Connection // the Fabric connection, if any
	// fabric: written with connection_id (conn is set); else with
	// gateway_id and datasource_id (ds is set).
	fabric bool
	name   string
	// roles are the connection's role assignments when it is written with
	// connection_id and they were read (rolesKnown).
	roles      []fabric.RoleAssignment
	rolesKnown bool
}

// items lays e out as the inventory's entries, in order: the Power BI data
// sources, then the connections that are not one of them, each with its
// name, unique across all of them.
func items(e *Estate) []item {
	byID := make(map[string]*Datasource, len(e.Datasources))
	shared := map[string]bool{} // ids of several data sources, on several gateways
	for _, d := range e.Datasources {
		k := strings.ToLower(d.ID)
		if byID[k] != nil {
			shared[k] = true
			continue
		}
		byID[k] = d
	}
	twin := map[*Datasource]*fabric.Connection{}
	asFabric := map[*Datasource]bool{}
	for i := range e.Connections {
		c := &e.Connections[i]
		d := byID[strings.ToLower(c.ID)]
		if d == nil || twin[d] != nil {
			continue
		}
		twin[d] = c
		// Written as the connection, it would share its id with the
		// other data sources' entries, which check refuses.
		asFabric[d] = preferFabric(d, c) && !shared[strings.ToLower(d.ID)]
	}
	var out []item
	claimed := map[*fabric.Connection]bool{}
	for _, d := range e.Datasources {
		c := twin[d]
		if c != nil {
			claimed[c] = true
		}
		if !asFabric[d] {
			out = append(out, item{ds: d, conn: c})
		}
	}
	for i := range e.Connections {
		c := &e.Connections[i]
		if !claimed[c] {
			out = append(out, item{conn: c, fabric: true})
			continue
		}
		if d := byID[strings.ToLower(c.ID)]; asFabric[d] && twin[d] == c {
			out = append(out, item{ds: d, conn: c, fabric: true})
		}
	}
	base := make([]string, len(out))
	ids := make([]string, len(out))
	for i, it := range out {
		if it.fabric {
			base[i], ids[i] = connectionBaseName(it.conn), it.conn.ID
		} else {
			base[i], ids[i] = baseName(it.ds), it.ds.ID
		}
	}
	for i, name := range uniqueNames(base, ids) {
		out[i].name = name
		if out[i].fabric {
			out[i].roles, out[i].rolesKnown = e.Roles[strings.ToLower(out[i].conn.ID)]
		}
	}
	return out
}

// preferFabric reports whether data source d, which is also connection c,
// is to be written as the connection: when c can be rotated through Fabric
// and either its credential type is one only Fabric serves or Power BI
// cannot rotate d (its type is Fabric-only there too, or unknown).
func preferFabric(d *Datasource, c *fabric.Connection) bool {
	if connectionUnserved(c) != "" {
		return false
	}
	t, _ := fabricType(c.CredentialDetails.CredentialType)
	return t.FabricOnly() || unserved(d) != ""
}

// unserved says why rotatord cannot rotate it, or "" when it can. A Power
// BI data source that is also a connection is one neither API can rotate
// (else it would be written as the other).
func (it item) unserved() string {
	if it.fabric {
		return connectionUnserved(it.conn)
	}
	why := unserved(it.ds)
	if why == "" || it.conn == nil {
		return why
	}
	if t, err := credentials.ParseType(it.ds.CredentialType); err == nil && t.FabricOnly() {
		return fmt.Sprintf("credential type %s is served by Fabric's connections API only, and as Fabric connection ID %s it cannot be rotated either: %s",
			t, it.conn.ID, connectionUnserved(it.conn))
	}
	return fmt.Sprintf("%s; as Fabric connection ID %s, %s", why, it.conn.ID, connectionUnserved(it.conn))
}

// id names it in the comments and the diff's lines.
func (it item) id() string {
	if it.fabric {
		return "connection " + it.conn.ID
	}
	return it.ds.Pair().String()
}

// describe says what it is.
func (it item) describe() string {
	if it.fabric {
		return describeConnection(it.conn)
	}
	return describe(it.ds)
}

// credentialType is its credential type as the service spells it.
func (it item) credentialType() string {
	if it.fabric {
		return it.conn.CredentialDetails.CredentialType
	}
	return it.ds.CredentialType
}

// fabricType is the inventory's credential type that Fabric spells s
// (SharedAccessSignature is SAS); ok is false for one the inventory has
// not, or that Fabric's API cannot set (OAuth2).
func fabricType(s string) (t credentials.Type, ok bool) {
	for _, t := range credentials.Types() {
		if t != credentials.OAuth2 && credentials.FabricName(t) == s {
			return t, true
		}
	}
	return "", false
}

// connectionUnserved says why rotatord cannot rotate connection c, or ""
// when it can.
func connectionUnserved(c *fabric.Connection) string {
	if !azrest.IsUUID(c.ID) {
		return fmt.Sprintf("its id %q is not a UUID", clip(c.ID, 40))
	}
	ct := c.CredentialDetails.CredentialType
	onPrem := false
	switch c.ConnectivityType {
	case onPremises, onPremisesPersonal:
		onPrem = true
	case shareableCloud, virtualNetwork, streamingNetwork:
	case personalCloud:
		return "a PersonalCloud connection is one user's own sign-in: rotatord rotates shareable cloud, gateway and virtual-network connections"
	default:
		return fmt.Sprintf("connectivity type %q has no credentials that Fabric's Update Connection sets", clip(c.ConnectivityType, 40))
	}
	t, ok := fabricType(ct)
	switch {
	case ct == string(credentials.OAuth2):
		return "Fabric's API takes no OAuth2 credential (Fabric signs OAuth2 in interactively): if Power BI lists the data source, rotate it there, with gateway_id and datasource_id"
	case ct == "WindowsWithoutImpersonation":
		return "the inventory has no WindowsWithoutImpersonation credential type (its Windows impersonates)"
	case !ok:
		return fmt.Sprintf("credential type %q is not one rotatord rotates through Fabric (%s)", clip(ct, 40), fabricCredentialTypes)
	case onPrem && t.FabricOnly():
		return fmt.Sprintf("Fabric does not accept %s credentials on %s connections", t, c.ConnectivityType)
	}
	return ""
}

// describeConnection says what c is, for the comment above its entry.
func describeConnection(c *fabric.Connection) string {
	var b strings.Builder
	b.WriteString("Fabric connection, " + clip(c.ConnectivityType, 40))
	if d := c.ConnectionDetails; d.Type != "" || d.Path != "" {
		b.WriteString(": " + strings.TrimSpace(clip(d.Type, 40)+" "+clip(d.Path, 160)))
	}
	if c.DisplayName != "" {
		fmt.Fprintf(&b, " (%q)", clip(c.DisplayName, 80))
	}
	if c.GatewayID != "" {
		b.WriteString(", gateway " + clip(c.GatewayID, 40))
	}
	return b.String()
}

// connectionEntry is the inventory entry of it, a Fabric connection; self
// is the object id of the identity rotatord runs as, "" when unknown.
func connectionEntry(it item, vault, self string) *yaml.Node {
	c := it.conn
	t, _ := fabricType(c.CredentialDetails.CredentialType)
	m := mapping("name", it.name, "connection_id", c.ID, "credential_type", string(t))
	notes := []string{describeConnection(c)}
	if s := c.CredentialDetails.SingleSignOnType; s != "" && s != "None" {
		notes = append(notes, "single sign-on: "+clip(s, 40))
	}
	if it.ds != nil {
		why := "Power BI's API does not serve " + string(t)
		if !t.FabricOnly() {
			why = "through Power BI, " + unserved(it.ds)
		}
		notes = append(notes, fmt.Sprintf("also Power BI data source %s, %s: written once, as the Fabric connection, as %s",
			it.ds.Pair(), describe(it.ds), why))
		if len(it.ds.Users) > 0 {
			notes = append(notes, "its Power BI users are not written: a connection's users are its role assignments")
		}
	}
	if src, note := secretSource(t, it.name, vault); src != nil {
		setValue(m, "source", src)
		if note != "" {
			notes = append(notes, note)
		}
	}
	if it.rolesKnown {
		users, skipped := connectionUsers(it.roles, self)
		if len(users.Content) > 0 {
			setValue(m, "users", users)
		}
		notes = append(notes, skipped...)
	} else {
		notes = append(notes, "its role assignments could not be read: no users are listed")
	}
	m.HeadComment = comment(notes)
	return m
}

// The principal types and roles of a connection's users, as the inventory
// and Fabric spell them.
var (
	connectionPrincipalTypes = []string{"User", "Group", "ServicePrincipal", "ServicePrincipalProfile"}
	connectionRoles          = []string{"Owner", "User", "UserWithReshare"}
)

// connectionUsers turns a connection's role assignments into the
// inventory's users, leaving out the identity rotatord runs as (self, when
// known: a rotation never removes it nor changes its role), and says which
// it leaves out.
func connectionUsers(have []fabric.RoleAssignment, self string) (users *yaml.Node, skipped []string) {
	users = &yaml.Node{Kind: yaml.SequenceNode}
	seen := map[string]bool{}
	for _, a := range have {
		id := a.Principal.ID
		who := clip(id, 80)
		typ, typeOK := spelled(connectionPrincipalTypes, a.Principal.Type)
		role, roleOK := spelled(connectionRoles, a.Role)
		switch {
		case self != "" && strings.EqualFold(id, self):
			skipped = append(skipped, fmt.Sprintf("rotatord's own identity %s (%s) is not listed: a rotation never removes it nor changes its role",
				who, clip(a.Role, 40)))
			continue
		case !azrest.IsUUID(id):
			skipped = append(skipped, fmt.Sprintf("principal %q left out: its id is not a UUID", who))
			continue
		case !typeOK:
			skipped = append(skipped, fmt.Sprintf("principal %s left out: principal type %q cannot be written in the inventory (%s)",
				who, clip(a.Principal.Type, 40), strings.Join(connectionPrincipalTypes, ", ")))
			continue
		case !roleOK:
			skipped = append(skipped, fmt.Sprintf("principal %s left out: role %q is not %s", who, clip(a.Role, 40), strings.Join(connectionRoles, ", ")))
			continue
		case seen[strings.ToLower(id)]:
			skipped = append(skipped, fmt.Sprintf("principal %s left out as %s: Fabric lists it twice, and the first is written", who, role))
			continue
		}
		seen[strings.ToLower(id)] = true
		n := mapping("identifier", id, "principal_type", typ, "role", role)
		n.Style = yaml.FlowStyle
		users.Content = append(users.Content, n)
	}
	return users, skipped
}

// spelled is the one of names that s is, whatever its case, as names
// spells it.
func spelled(names []string, s string) (string, bool) {
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return n, true
		}
	}
	return "", false
}
