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
	datasourceKeys = append([]string{"name", "gateway_id", "datasource_id", "credential_type", "encrypt", "source", "users"}, policyKeys...)
	userKeys       = []string{"email", "identifier", "principal_type", "access", "display_name"}
	principalTypes = []string{"None", "User", "Group", "App"}
	// Power BI also knows None, but a user cannot be added with it.
	accessRights = []string{"Read", "ReadOverrideEffectiveIdentity"}
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
	byTarget := map[string]int{}    // gateway/datasource → index in out
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
		target := strings.ToLower(ds.GatewayID + "/" + ds.DatasourceID)
		if j, dup := byTarget[target]; dup && ds.GatewayID != "" && ds.DatasourceID != "" {
			p.errorf(ds.Line, "%s: datasource_id %s on gateway %s is already rotated by %s (line %d)",
				indexPath(path, i), ds.DatasourceID, ds.GatewayID, quote(out[j].Name), out[j].Line)
		} else {
			byTarget[target] = len(out)
		}
		out = append(out, ds)
	}
	return out
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
	for _, key := range []string{"name", "gateway_id", "datasource_id", "credential_type", "encrypt"} {
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
	}{{"gateway_id", &ds.GatewayID}, {"datasource_id", &ds.DatasourceID}}
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
		}
	}
	if e, ok := m.get("encrypt"); ok && !isNull(e.val) {
		if s, ok := p.enum(e, string(EncryptGateway), string(EncryptNone)); ok {
			ds.Encrypt = EncryptMode(s)
		}
	}

	ds.Source = p.source(m, ds.CredentialType, typeKnown, vaults)

	if e, ok := m.get("users"); ok {
		ds.Users = p.users(e)
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

// versionedSecrets reports whether every secret field of s (all but the
// user name) is a Key Vault secret, and there is one: what a rollback can
// fetch at an earlier version.
func versionedSecrets(s Source, t credentials.Type) bool {
	n := 0
	for _, field := range t.Fields() {
		if field == credentials.FieldUsername {
			continue
		}
		r, ok := s.Fields.Get(field)
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

func (p *parser) users(e entry) []User {
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
		if n.Kind != yaml.MappingNode {
			p.errorf(item.Line, "%s: must be a mapping like {email: someone@contoso.com, access: Read}", path)
			continue
		}
		u, ok := p.user(n, path)
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

// user reads one user.
func (p *parser) user(n *yaml.Node, path string) (u User, ok bool) {
	m, _ := p.mapping(n, path, n.Line, userKeys...)
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
