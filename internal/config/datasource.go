package config

import (
	"iter"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/pbi"
)

var (
	datasourceKeys = append([]string{"name", "gateway_id", "datasource_id", "connection_id", "credential_type", "encrypt", "source", "users"}, policyKeys...)
	userKeys       = []string{"email", "identifier", "principal_type", "access", "display_name"}
	principalTypes = []string{"None", "User", "Group", "App"}
	// Power BI also knows None, but a user cannot be added with it.
	accessRights = []string{"Read", "ReadOverrideEffectiveIdentity"}

	// A Fabric connection's users are role assignments of principals.
	roleKeys             = []string{"identifier", "principal_type", "role"}
	fabricPrincipalTypes = []string{"User", "Group", "ServicePrincipal", "ServicePrincipalProfile"}
	connectionRoles      = []string{"Owner", "User", "UserWithReshare"}
)

// strs spells typed names such as credential types as p.enum takes them.
func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// datasources reads the list and then checks what only the whole list
// shows: names and data sources claimed twice.
func (p *parser) datasources(e entry, base policy, vaults map[string]string) []Datasource {
	if e.val.Kind != yaml.SequenceNode {
		p.errorf(e.val.Line, "%s: must be a list, not %s", e.path, kindName(e.val))
		return nil
	}
	if len(e.val.Content) == 0 && !p.settings {
		p.errorf(e.val.Line, "%s: the list is empty: declare at least one data source", e.path)
		return nil
	}
	return p.datasourceList(e.path, slices.All(e.val.Content), len(e.val.Content), base, vaults)
}

// datasourceList reads the n data sources items yields, index and node.
func (p *parser) datasourceList(path string, items iter.Seq2[int, *yaml.Node], n int, base policy, vaults map[string]string) []Datasource {
	out := make([]Datasource, 0, n) // a fleet's worth of regrowth is megabytes
	byName := map[string]int{}      // name → line
	byTarget := map[string]int{}    // gateway/datasource, or connection, → index in out
	byID := map[string]int{}        // a data source's or connection's folded id → index in out
	for i, item := range items {
		ds, ok := p.datasource(p.resolve(item), indexPath(path, i), base, vaults)
		if !ok {
			continue
		}
		if first, dup := byName[ds.Name]; dup && ds.Name != "" {
			p.errorf(ds.Line, "%s: duplicate name %s (first at line %d)", indexPath(path, i), quote(ds.Name), first)
		} else if ds.Name != "" {
			byName[ds.Name] = ds.Line
		}
		// Two entries for one data source would overwrite each other's
		// credential on every tick.
		switch {
		case ds.ConnectionID != "":
			target := "connection:" + strings.ToLower(ds.ConnectionID)
			if j, dup := byTarget[target]; dup {
				p.errorf(ds.Line, "%s: connection_id %s is already rotated by %s (line %d)",
					indexPath(path, i), ds.ConnectionID, quote(out[j].Name), out[j].Line)
			} else {
				byTarget[target] = len(out)
				p.sameDataSource(path, i, ds, "connection_id", ds.ConnectionID, byID, out)
			}
		case ds.GatewayID != "" && ds.DatasourceID != "":
			target := strings.ToLower(ds.GatewayID + "/" + ds.DatasourceID)
			if j, dup := byTarget[target]; dup {
				p.errorf(ds.Line, "%s: datasource_id %s on gateway %s is already rotated by %s (line %d)",
					indexPath(path, i), ds.DatasourceID, ds.GatewayID, quote(out[j].Name), out[j].Line)
			} else {
				byTarget[target] = len(out)
				p.sameDataSource(path, i, ds, "datasource_id", ds.DatasourceID, byID, out)
			}
		}
		out = append(out, ds)
	}
	return out
}

// sameDataSource refuses an entry whose id (key: connection_id or
// datasource_id) is another kind's id already in byID — in Fabric an
// on-premises gateway connection's id is its Power BI data source's, so a
// connection_id that is an entry's datasource_id names that entry's data
// source — and records the id otherwise. Two data sources of one id on
// two gateways, or two connections, are the duplicate checks' business.
func (p *parser) sameDataSource(path string, i int, ds Datasource, key, id string, byID map[string]int, out []Datasource) {
	k := strings.ToLower(id)
	j, seen := byID[k]
	switch {
	case !seen:
		byID[k] = len(out)
	case out[j].Fabric() != ds.Fabric():
		p.errorf(ds.Line, "%s: %s %s is the same data source as %s (line %d): two entries would overwrite each other's credential",
			indexPath(path, i), key, id, quote(out[j].Name), out[j].Line)
	}
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// datasource reads one list item; ok is false when it is not a mapping.
func (p *parser) datasource(n *yaml.Node, path string, base policy, vaults map[string]string) (Datasource, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s: must be a mapping with name, gateway_id, datasource_id, credential_type, encrypt and source", path)
		return Datasource{}, false
	}
	m, _ := p.mapping(n, path, n.Line, datasourceKeys...)
	ds := Datasource{Line: n.Line}
	var usersLine, invalidUsers int // a users list none of whose entries is valid
	kind := p.target(m, path)
	required := []string{"name", "gateway_id", "datasource_id", "credential_type", "encrypt"}
	if kind != targetPowerBI {
		// A connection takes no encrypt; an entry that is neither or both
		// has been told so, and what it needs besides depends on the fix.
		required = []string{"name", "credential_type"}
	}
	for _, key := range required {
		if !m.has(key) {
			p.errorf(n.Line, "%s: missing key %s", path, quote(key))
		}
	}
	if e, ok := m.get("name"); ok {
		if s, ok := p.required(e); ok {
			if isName(s) {
				ds.Name = s
			} else {
				p.errorf(e.val.Line, "%s: %s must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", e.path, quote(s))
			}
		}
	}
	ids := []struct {
		key string
		dst *string
	}{{"gateway_id", &ds.GatewayID}, {"datasource_id", &ds.DatasourceID}, {"connection_id", &ds.ConnectionID}}
	for _, id := range ids {
		if e, ok := m.get(id.key); ok && !isNull(e.val) {
			if s, ok := p.str(e); ok && pbi.IsUUID(s) {
				*id.dst = s
			} else if ok {
				p.errorf(e.val.Line, "%s: %s is not a UUID (e.g. 1f69e798-5852-4fdd-ab01-33bb14b6e934)", e.path, quote(s))
			}
		}
	}
	typeKnown := false
	if e, ok := m.get("credential_type"); ok && !isNull(e.val) {
		if s, ok := p.enum(e, strs(credentials.Types())...); ok {
			ds.CredentialType, typeKnown = credentials.Type(s), true
			switch t := ds.CredentialType; {
			case kind == targetPowerBI && t.FabricOnly():
				p.errorf(e.val.Line, "%s: %s is served by Fabric's API only: use connection_id (the Fabric connection's id) instead of gateway_id and datasource_id", e.path, t)
			case kind == targetFabric && t == credentials.OAuth2:
				p.errorf(e.val.Line, "%s: Fabric's API takes no OAuth2 credential: rotate it as a Power BI data source (gateway_id and datasource_id), whose API does", e.path)
			}
		}
	}
	if e, ok := m.get("encrypt"); ok && kind == targetFabric {
		p.errorf(e.key.Line, "%s: not set on a Fabric connection (connection_id): the connection's connectivity type decides: on-premises gateways encrypt, cloud and virtual-network ones do not", e.path)
	} else if ok && !isNull(e.val) {
		if s, ok := p.enum(e, string(EncryptGateway), string(EncryptNone)); ok {
			ds.Encrypt = EncryptMode(s)
		}
	}

	ds.Source = p.source(m, ds.CredentialType, typeKnown, vaults)

	if e, ok := m.get("users"); ok {
		ds.Users = p.users(e, kind == targetFabric || kind == targetBoth)
		if e.val.Kind == yaml.SequenceNode && len(ds.Users) == 0 {
			usersLine, invalidUsers = e.key.Line, len(e.val.Content)
		}
	}

	local := p.policy(m)
	pol := local.over(base)
	if local.initialBackoff.set || local.maxBackoff.set {
		p.checkRetry(pol)
	}
	ds.Schedule = pol.schedule.v
	ds.Jitter = pol.jitter.v
	ds.PrivacyLevel = pol.privacyLevel.v
	ds.EncryptedConnection = pol.encryptedConnection.v
	ds.Retry = Retry{Attempts: pol.attempts.v, InitialBackoff: pol.initialBackoff.v, MaxBackoff: pol.maxBackoff.v}
	ds.Prune = pol.prune.v
	fromVault := usesKeyVault(ds.Source)
	// skip_unchanged compares Key Vault secret versions; nothing else has one.
	// Set on the data source it must make sense; inherited from defaults it
	// applies where it can, so one defaults: fits a mixed inventory.
	if local.skipUnchanged.set && local.skipUnchanged.v && !fromVault && typeKnown {
		p.errorf(local.skipUnchanged.line, "%s: needs a field read from Key Vault (a *_secret or secret key): skip_unchanged compares Key Vault versions", local.skipUnchanged.path)
	}
	ds.SkipUnchanged = pol.skipUnchanged.v && fromVault
	ds.Verify, ds.VerifyEvery = pol.verify.v, pol.verifyEvery.v
	p.checkRollback(&ds, local, pol, typeKnown)
	// A prune without users would delete every user of the data source;
	// that must never be the accident of an inherited default.
	if ds.Prune && len(ds.Users) == 0 {
		if invalidUsers > 0 {
			// Saying "no users are declared" sent operators looking for a
			// list that is there; what is wrong is each of its entries.
			p.errorf(usersLine, "%s.users: prune is on but none of the %d users declared here is valid, so prune would remove every user (fix the errors below)", path, invalidUsers)
		} else if local.prune.set {
			p.errorf(local.prune.line, "%s: no users are declared, so prune would remove every user (declare users or drop prune)", local.prune.path)
		} else {
			p.errorf(n.Line, "%s: prune is on (%s, line %d) but no users are declared, so every user would be removed (declare users or set prune: false)", path, pol.prune.path, pol.prune.line)
		}
	}
	return ds, true
}

// target is what an inventory entry rotates, as its keys say.
type target int

const (
	targetPowerBI target = iota // gateway_id and datasource_id (or one of them)
	targetFabric                // connection_id
	targetBoth                  // connection_id and a gateway or data source id: refused
	targetNone                  // neither: refused
)

// target tells a Power BI data source from a Fabric connection by its
// keys, and refuses an entry that is both or neither. Neither kind's rules
// for encrypt and credential_type are applied to an entry that is both or
// neither, so that its one mistake is reported once; the users of one that
// is both are read as a connection's.
func (p *parser) target(m mapping, path string) target {
	fabric, powerbi := m.has("connection_id"), m.has("gateway_id") || m.has("datasource_id")
	switch {
	case fabric && powerbi:
		e, _ := m.get("connection_id")
		p.errorf(e.key.Line, "%s: set connection_id (a Fabric connection) or gateway_id and datasource_id (a Power BI data source), not both", e.path)
		return targetBoth
	case fabric:
		return targetFabric
	case !powerbi:
		p.errorf(m.line, "%s: set connection_id (a Fabric connection) or gateway_id and datasource_id (a Power BI data source)", path)
		return targetNone
	}
	return targetPowerBI
}

// checkRollback sets ds.Rollback. Like skip_unchanged, set on the data
// source it must make sense; inherited from defaults it applies where it
// can (Key Vault sources that verify), so that one defaults: fits a mixed
// inventory.
func (p *parser) checkRollback(ds *Datasource, local, pol policy, typeKnown bool) {
	if !pol.rollback.v {
		return
	}
	versioned := versionedSecrets(ds.Source, ds.CredentialType)
	switch {
	case local.rollback.set && !versioned && typeKnown:
		p.errorf(local.rollback.line, "%s: needs every secret field read from Key Vault (a *_secret or secret key): a rollback pushes an earlier Key Vault version, and files, the environment and oauth_scope tokens keep none", local.rollback.path)
	case local.rollback.set && !pol.verify.v:
		p.errorf(local.rollback.line, "%s: rollback needs verify: true (verify is false, from %s): only a verification can tell that a new credential is rejected", local.rollback.path, origin(pol.verify))
	}
	ds.Rollback = versioned && pol.verify.v
}

// versionedSecrets reports whether every secret field of s (not the
// literals: a user name, a tenant ID) that it sets is a Key Vault secret,
// and there is one: what a rollback can fetch at an earlier version. An
// optional field left out (a key pair's passphrase) is no obstacle; a
// required one left out is.
func versionedSecrets(s Source, t credentials.Type) bool {
	n := 0
	for _, field := range t.SecretFields() {
		r, ok := s.Fields.Get(field)
		if !ok && t.Optional(field) {
			continue
		}
		if !ok || r.Kind != RefKeyVault {
			return false
		}
		n++
	}
	return n > 0 && s.OAuthScope == ""
}

func usesKeyVault(s Source) bool {
	for _, r := range s.Fields {
		if r.Kind == RefKeyVault {
			return true
		}
	}
	return false
}

// users reads a users list: a Power BI data source's, or with fabric a
// Fabric connection's role assignments.
func (p *parser) users(e entry, fabric bool) []User {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.SequenceNode {
		p.errorf(e.val.Line, "%s: must be a list, not %s", e.path, kindName(e.val))
		return nil
	}
	var out []User
	seen := map[string]int{}
	for i, item := range e.val.Content {
		path := indexPath(e.path, i)
		n := p.resolve(item)
		switch {
		case n.Kind != yaml.MappingNode && fabric:
			p.errorf(item.Line, "%s: must be a mapping like {identifier: OBJECT_ID, principal_type: Group, role: User}", path)
			continue
		case n.Kind != yaml.MappingNode:
			p.errorf(item.Line, "%s: must be a mapping like {email: someone@contoso.com, access: Read}", path)
			continue
		}
		var u User
		var ok bool
		if fabric {
			u, ok = p.roleUser(n, path)
		} else {
			u, ok = p.user(n, path)
		}
		if !ok {
			continue
		}
		if first, dup := seen[u.Key()]; dup {
			p.errorf(n.Line, "%s: duplicate user %s (first at line %d)", path, quote(u.ID()), first)
			continue
		}
		seen[u.Key()] = n.Line
		out = append(out, u)
	}
	return out
}

// user reads one user of a Power BI data source.
func (p *parser) user(n *yaml.Node, path string) (u User, ok bool) {
	m := p.userKeys(n, path, userKeys, false)
	ok = true
	get := func(k string) string {
		if e, found := m.get(k); found {
			s, good := p.str(e)
			ok = ok && good
			return strings.TrimSpace(s)
		}
		return ""
	}
	u.Email, u.Identifier, u.DisplayName = get("email"), get("identifier"), get("display_name")
	switch {
	case u.Email == "" && u.Identifier == "":
		p.errorf(n.Line, "%s: set one of email or identifier", path)
		ok = false
	case u.Email != "" && u.Identifier != "":
		e, _ := m.get("identifier")
		p.errorf(e.key.Line, "%s: set email or identifier, not both", path)
		ok = false
	case u.Email != "" && (!strings.Contains(u.Email, "@") || strings.ContainsAny(u.Email, " \t")):
		e, _ := m.get("email")
		p.errorf(e.val.Line, "%s: %s is not an email address", e.path, quote(u.Email))
		ok = false
	}
	if e, found := m.get("access"); found && !isNull(e.val) {
		if s, good := p.enum(e, accessRights...); good {
			u.Access = s
		} else {
			ok = false
		}
	} else {
		p.errorf(n.Line, "%s: missing key \"access\" (Read or ReadOverrideEffectiveIdentity)", path)
		ok = false
	}
	if e, found := m.get("principal_type"); found && !isNull(e.val) {
		if s, good := p.enum(e, principalTypes...); good {
			u.PrincipalType = s
		} else {
			ok = false
		}
	}
	switch {
	case u.PrincipalType == "" && u.Email != "":
		u.PrincipalType = "User"
	case u.PrincipalType == "" && u.Identifier != "":
		p.errorf(n.Line, "%s: identifier needs principal_type (User, Group or App)", path)
		ok = false
	case u.PrincipalType == "App" && u.Email != "":
		e, _ := m.get("principal_type")
		p.errorf(e.val.Line, "%s: principal_type App needs identifier (the service principal's object ID), not email", path)
		ok = false
	case u.PrincipalType == "App" && u.Identifier != "" && !pbi.IsUUID(u.Identifier):
		e, _ := m.get("identifier")
		p.errorf(e.val.Line, "%s: %s is not a UUID (an App is identified by its service principal's object ID)", e.path, quote(u.Identifier))
		ok = false
	}
	return u, ok
}

// userKeys checks the keys of a user mapping against allowed, the keys of
// the kind of user it is (fabric: a connection's role assignment). A key
// of the other kind gets its own message: copying a users list from a
// Power BI data source to a connection is the likely mistake, and
// "unknown key" would not say what to write instead. As with any unknown
// key, the rest of the user is still read.
func (p *parser) userKeys(n *yaml.Node, path string, allowed []string, fabric bool) mapping {
	m, _ := p.keys(n, path, n.Line)
	for _, e := range m.entries {
		if slices.Contains(allowed, e.name) {
			continue
		}
		delete(m.byName, e.name)
		switch {
		case fabric && e.name == "access":
			p.errorf(e.key.Line, "%s: a Fabric connection's users take role (%s), not access", e.path, strings.Join(connectionRoles, ", "))
		case fabric && e.name == "email":
			p.errorf(e.key.Line, "%s: a Fabric connection's users are principals named by identifier (their object ID), not email", e.path)
		case fabric && e.name == "display_name":
			p.errorf(e.key.Line, "%s: a Fabric connection's users take no display_name (the service knows its principals' names)", e.path)
		case !fabric && e.name == "role":
			p.errorf(e.key.Line, "%s: role is for a Fabric connection's users (connection_id); a Power BI data source's take access (%s)", e.path, strings.Join(accessRights, " or "))
		default:
			p.unknownKey(e, path, allowed)
		}
	}
	return m
}

// roleUser reads one user of a Fabric connection: a role assignment of a
// principal, by object ID.
func (p *parser) roleUser(n *yaml.Node, path string) (u User, ok bool) {
	m := p.userKeys(n, path, roleKeys, true)
	ok = true
	if e, found := m.get("identifier"); found && !isNull(e.val) {
		s, good := p.str(e)
		s = strings.TrimSpace(s)
		switch {
		case !good:
			ok = false
		case !pbi.IsUUID(s):
			p.errorf(e.val.Line, "%s: %s is not a UUID (a Fabric connection's user is named by its Entra object ID)", e.path, quote(s))
			ok = false
		default:
			u.Identifier = s
		}
	} else {
		p.errorf(n.Line, "%s: missing key \"identifier\" (the principal's Entra object ID)", path)
		ok = false
	}
	if e, found := m.get("principal_type"); found && !isNull(e.val) {
		if s, good := p.enum(e, fabricPrincipalTypes...); good {
			u.PrincipalType = s
		} else {
			ok = false
		}
	} else {
		p.errorf(n.Line, "%s: missing key \"principal_type\" (%s)", path, strings.Join(fabricPrincipalTypes, ", "))
		ok = false
	}
	if e, found := m.get("role"); found && !isNull(e.val) {
		if s, good := p.enum(e, connectionRoles...); good {
			u.Role = s
		} else {
			ok = false
		}
	} else {
		p.errorf(n.Line, "%s: missing key \"role\" (%s)", path, strings.Join(connectionRoles, ", "))
		ok = false
	}
	return u, ok
}
