package config

import (
	"slices"
	"strings"

	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/sources"
)

// refSuffixes turn a field name into a source key: password_secret, password_file, password_env.
var refSuffixes = []struct {
	suffix string
	kind   RefKind
}{{"_secret", RefKeyVault}, {"_file", RefFile}, {"_env", RefEnv}}

// shorthand keys name the main secret field of a type without spelling it.
var shorthand = map[string]RefKind{"secret": RefKeyVault, "file": RefFile, "env": RefEnv}

// secretField is the field the shorthand keys and version: refer to: the
// type's first secret field (password, key, token, access_token,
// client_secret, private_key), never a literal such as the user name.
func secretField(t credentials.Type) string {
	if fs := t.SecretFields(); len(fs) > 0 {
		return fs[0]
	}
	return ""
}

// literalOnly reports whether field can only be written out in the
// inventory: a service principal's tenant and client IDs and a key pair's
// identifier, which are no secrets and are written next to the connection
// they belong to. A user name may also come from a secret, as it always
// could.
func literalOnly(field string) bool {
	return credentials.IsLiteral(field) && field != credentials.FieldUsername
}

// isSecret reports whether field is a credential field whose value must
// never be written in the inventory.
func isSecret(field string) bool {
	return slices.Contains(credentials.AllFields(), field) && !credentials.IsLiteral(field)
}

// sourceKeys lists the keys a source of type t may hold, in the order the
// documentation gives them; for an unknown type, every key of any type.
func sourceKeys(t credentials.Type, known bool) []string {
	fields := t.Fields()
	if !known {
		fields = credentials.AllFields()
	}
	keys := []string{"keyvault", "version"}
	if !known || t == credentials.OAuth2 {
		keys = append(keys, "oauth_scope")
	}
	for _, f := range fields {
		if credentials.IsLiteral(f) {
			keys = append(keys, f)
		}
		if literalOnly(f) {
			continue
		}
		for _, s := range refSuffixes {
			keys = append(keys, f+s.suffix)
		}
	}
	return append(keys, "secret", "file", "env")
}

// refKey says which field a source key sets and how; ok is false for keys
// that are not references (keyvault, version, oauth_scope, literal secrets).
func refKey(name string, t credentials.Type) (field string, kind RefKind, ok bool) {
	if credentials.IsLiteral(name) {
		return name, RefLiteral, true
	}
	if k, ok := shorthand[name]; ok {
		return secretField(t), k, true
	}
	for _, s := range refSuffixes {
		if f, found := strings.CutSuffix(name, s.suffix); found && slices.Contains(credentials.AllFields(), f) && !literalOnly(f) {
			return f, s.kind, true
		}
	}
	return "", 0, false
}

// idName names a service principal's literal field in messages.
func idName(field string) string {
	if field == credentials.FieldTenantID {
		return "tenant ID"
	}
	return "client (application) ID"
}

// requiredFields lists the fields of t a source must set, for messages:
// "username and password", "tenant_id, client_id and client_secret".
func requiredFields(t credentials.Type) string {
	var fs []string
	for _, f := range t.Fields() {
		if !t.Optional(f) {
			fs = append(fs, f)
		}
	}
	if len(fs) <= 1 {
		return strings.Join(fs, "")
	}
	return strings.Join(fs[:len(fs)-1], ", ") + " and " + fs[len(fs)-1]
}

// source reads the source: of data source ds. t is only trusted when known.
func (p *parser) source(ds mapping, t credentials.Type, known bool, vaults map[string]string) Source {
	var out Source
	e, present := ds.get("source")
	if !present || isNull(e.val) {
		switch {
		case !known || len(t.Fields()) == 0:
		case t == credentials.OAuth2:
			p.errorf(ds.line, "%s: missing key \"source\" (credential_type OAuth2 needs oauth_scope or an access_token source in it)", ds.path)
		default:
			p.errorf(ds.line, "%s: missing key \"source\" (credential_type %s reads %s from it)", ds.path, t, requiredFields(t))
		}
		return out
	}
	m, ok := p.keys(e.val, e.path, e.key.Line)
	if !ok {
		return out
	}
	if known && len(t.Fields()) == 0 { // Anonymous, WorkspaceIdentity
		if len(m.entries) > 0 {
			p.errorf(e.key.Line, "%s: credential_type %s takes no source fields (remove source)", e.path, t)
		}
		return out
	}
	allowed := sourceKeys(t, known)
	setBy := map[string]entry{} // field → the key that set it
	var vaultRefs []entry
	// tried records fields and Key Vault use that some key aimed at, even a
	// rejected one, so a mistake is reported once and not again as
	// "no source for password" or "keyvault is unused".
	tried := map[string]bool{}
	for _, f := range m.entries {
		if field, kind, ok := refKey(f.name, t); ok {
			tried[field] = true
			if kind == RefKeyVault {
				tried["keyvault"], tried["keyvault:"+field] = true, true
			}
		}
		switch {
		case f.name == "oauth_scope":
			tried[credentials.FieldAccessToken] = true
		case isSecret(f.name):
			// A literal secret: its message already says to use F_secret.
			tried[f.name], tried["keyvault"], tried["keyvault:"+f.name] = true, true, true
		}
		if !slices.Contains(allowed, f.name) {
			p.badSourceKey(f, m.path, t, allowed)
			continue
		}
		switch f.name {
		case "keyvault":
			if s, ok := p.required(f); ok {
				out.KeyVault = s
				if _, declared := vaults[s]; !declared {
					p.errorf(f.val.Line, "%s: key vault %s is not declared under keyvaults (declared: %s)", f.path, quote(s), names(vaults))
				}
			}
		case "version":
			if s, ok := p.str(f); ok && s != "" {
				// The Key Vault source's own rule: a version it would refuse
				// must not pass check and then fail every rotation.
				if sources.IsSecretVersion(s) {
					out.Version = s
				} else {
					p.errorf(f.val.Line, "%s: %s is not a Key Vault secret version (%s, the last part of the version's identifier; leave version empty for the latest)", f.path, quote(s), sources.SecretVersionRule)
				}
			}
		case "oauth_scope":
			if s, ok := p.required(f); ok {
				if strings.ContainsAny(s, " \t\n") {
					p.errorf(f.val.Line, "%s: one scope only, e.g. https://storage.azure.com/.default", f.path)
				} else {
					out.OAuthScope = s
				}
			}
		default:
			field, kind, _ := refKey(f.name, t)
			ref, ok := p.ref(f, kind)
			if !ok || !known {
				continue
			}
			if first, dup := setBy[field]; dup {
				p.errorf(f.key.Line, "%s: %s is already set by %s at line %d (use one)", f.path, field, first.name, first.key.Line)
				continue
			}
			setBy[field] = f
			out.Fields = out.Fields.set(field, ref)
			if kind == RefKeyVault {
				vaultRefs = append(vaultRefs, f)
			}
		}
	}
	if !known {
		return out
	}
	p.sourceComplete(m, t, out, setBy, tried, vaultRefs, vaults)
	return out
}

// badSourceKey explains a key the type does not take, without ever
// printing its value: `password: hunter2` must not reach a CI log.
func (p *parser) badSourceKey(f entry, path string, t credentials.Type, allowed []string) {
	switch {
	case isSecret(f.name) && slices.Contains(t.Fields(), f.name):
		p.errorf(f.key.Line, "%s: literal secret not allowed: use %s_secret, %s_file or %s_env", f.path, f.name, f.name, f.name)
	case slices.Contains(sourceKeys("", false), f.name):
		p.errorf(f.key.Line, "%s: not a field of credential_type %s (allowed: %s)", f.path, t, strings.Join(allowed, ", "))
	default:
		p.unknownKey(f, path, allowed)
	}
}

// ref reads where one field comes from and checks the name fits its kind.
func (p *parser) ref(f entry, kind RefKind) (Ref, bool) {
	s, ok := p.required(f)
	if !ok {
		return Ref{}, false
	}
	switch {
	case kind == RefKeyVault && !sources.IsSecretName(s):
		// Checked here with the Key Vault source's rule, so a typo like
		// sales_sql is a config error instead of a failure at 3 am. The value
		// is not quoted: one that is no name may be the secret itself, pasted
		// in the wrong key.
		p.errorf(f.val.Line, "%s: not a Key Vault secret name (%s; the value is not shown, it may be a secret)", f.path, sources.SecretNameRule)
		return Ref{}, false
	case kind == RefEnv && !isEnvName(s):
		p.errorf(f.val.Line, "%s: not an environment variable name (letters, digits and '_'; the value is not shown, it may be a secret)", f.path)
		return Ref{}, false
	case kind == RefFile && strings.ContainsRune(s, 0):
		p.errorf(f.val.Line, "%s: a path cannot contain NUL", f.path)
		return Ref{}, false
	case (f.name == credentials.FieldTenantID || f.name == credentials.FieldClientID) && !pbi.IsUUID(strings.TrimSpace(s)):
		// A literal, no secret: the value is shown.
		p.errorf(f.val.Line, "%s: %s is not a UUID (the service principal's %s, e.g. 1f69e798-5852-4fdd-ab01-33bb14b6e934)", f.path, quote(s), idName(f.name))
		return Ref{}, false
	case literalOnly(f.name):
		s = strings.TrimSpace(s)
	}
	return Ref{Kind: kind, Name: s}, true
}

// sourceComplete checks the source as a whole once every key is read.
func (p *parser) sourceComplete(m mapping, t credentials.Type, out Source, setBy map[string]entry, tried map[string]bool, vaultRefs []entry, vaults map[string]string) {
	for _, field := range t.Fields() {
		if tried[field] || t.Optional(field) {
			continue
		}
		switch {
		case field == credentials.FieldAccessToken:
			p.errorf(m.line, "%s: OAuth2 needs oauth_scope or an access token from access_token_secret, access_token_file, access_token_env, secret, file or env", m.path)
		case field == credentials.FieldUsername:
			p.errorf(m.line, "%s: no source for username (set username, username_secret, username_file or username_env)", m.path)
		case field == credentials.FieldIdentifier:
			p.errorf(m.line, "%s: missing key \"identifier\" (the user or account the key pair signs in as)", m.path)
		case literalOnly(field):
			p.errorf(m.line, "%s: missing key %s (the service principal's %s, a UUID)", m.path, quote(field), idName(field))
		case field == secretField(t):
			p.errorf(m.line, "%s: no source for %s (set %s_secret, %s_file, %s_env, secret, file or env)", m.path, field, field, field, field)
		default:
			p.errorf(m.line, "%s: no source for %s (set %s_secret, %s_file or %s_env)", m.path, field, field, field, field)
		}
	}
	if tok, ok := setBy[credentials.FieldAccessToken]; ok && out.OAuthScope != "" {
		scope, _ := m.get("oauth_scope")
		at := tok
		if scope.key.Line > tok.key.Line {
			at = scope
		}
		p.errorf(at.key.Line, "%s: oauth_scope and %s are mutually exclusive: rotatord either gets a token for oauth_scope itself or reads one kept fresh elsewhere", m.path, tok.name)
	}
	if len(vaultRefs) > 0 && !m.has("keyvault") {
		p.errorf(vaultRefs[0].key.Line, "%s: needs keyvault: naming one of the key vaults under keyvaults (declared: %s)", vaultRefs[0].path, names(vaults))
	}
	if e, ok := m.get("keyvault"); ok && !tried["keyvault"] {
		p.errorf(e.key.Line, "%s: no field is read from Key Vault (use a *_secret key or secret), so keyvault is unused", e.path)
	}
	if e, ok := m.get("version"); ok && out.Version != "" {
		sf := secretField(t)
		if !tried["keyvault:"+sf] {
			p.errorf(e.key.Line, "%s: pins the Key Vault secret of %s, but %s is not read from Key Vault (use %s_secret or secret)", e.path, sf, sf, sf)
		}
	}
}
