package credentials

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rotatord/rotatord/internal/secret"
)

// Type is a credential type, spelled as the Power BI REST API spells it
// (Fabric's API spells SAS differently; see FabricName).
type Type string

// The credential types of the Power BI gateway data source API, then those
// only Fabric's connections API serves.
const (
	Basic     Type = "Basic"
	Windows   Type = "Windows"
	Key       Type = "Key"
	OAuth2    Type = "OAuth2"
	SAS       Type = "SAS"
	Anonymous Type = "Anonymous"

	ServicePrincipal  Type = "ServicePrincipal"
	KeyPair           Type = "KeyPair"
	WorkspaceIdentity Type = "WorkspaceIdentity"
)

// Credential field names, in the configuration's spelling.
const (
	FieldUsername    = "username"
	FieldPassword    = "password"
	FieldKey         = "key"
	FieldToken       = "token"
	FieldAccessToken = "access_token"

	FieldTenantID     = "tenant_id"
	FieldClientID     = "client_id"
	FieldClientSecret = "client_secret"
	FieldIdentifier   = "identifier"
	FieldPrivateKey   = "private_key"
	FieldPassphrase   = "passphrase"
)

// AllFields returns every credential field name, in the configuration's
// spelling.
func AllFields() []string {
	return []string{
		FieldUsername, FieldPassword, FieldKey, FieldToken, FieldAccessToken,
		FieldTenantID, FieldClientID, FieldClientSecret, FieldIdentifier, FieldPrivateKey, FieldPassphrase,
	}
}

// IsLiteral reports whether field names a value that is no secret, which
// the inventory may write out: a user name, a service principal's tenant
// and client IDs, a key pair's identifier. The service may name them in an
// error to good purpose ("login failed for user ..."). Every other field
// is a secret.
func IsLiteral(field string) bool {
	switch field {
	case FieldUsername, FieldTenantID, FieldClientID, FieldIdentifier:
		return true
	}
	return false
}

// ParseField returns the field called name in the configuration's spelling,
// accepting the JSON one too (accessToken for access_token, privateKey for
// private_key); ok is false for a name that is no field.
func ParseField(name string) (field string, ok bool) {
	for _, f := range AllFields() {
		if name == f || name == jsonName(f) {
			return f, true
		}
	}
	return name, false
}

// Types returns every credential type, in a stable order: Power BI's, then
// the Fabric-only ones.
func Types() []Type {
	return []Type{Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity}
}

// FabricOnly reports whether t is served by Fabric's connections API only:
// Power BI's gateway data source API has no such credential type.
func (t Type) FabricOnly() bool {
	switch t {
	case ServicePrincipal, KeyPair, WorkspaceIdentity:
		return true
	}
	return false
}

// ParseType returns the Type spelled exactly s. Matching is case-sensitive
// because Power BI's enum values are, and a near miss is more likely a typo
// than intent.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown credential type %q; want one of %s", s, typeList())
}

func typeList() string {
	names := make([]string, 0, len(Types()))
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// Fields returns the names of the fields t takes, in the order they
// appear in the credentials JSON, optional ones included (see Optional).
// Anonymous and WorkspaceIdentity take none; an unknown type returns nil.
func (t Type) Fields() []string {
	switch t {
	case Basic, Windows:
		return []string{FieldUsername, FieldPassword}
	case Key:
		return []string{FieldKey}
	case SAS:
		return []string{FieldToken}
	case OAuth2:
		return []string{FieldAccessToken}
	case ServicePrincipal:
		return []string{FieldTenantID, FieldClientID, FieldClientSecret}
	case KeyPair:
		return []string{FieldIdentifier, FieldPrivateKey, FieldPassphrase}
	}
	return nil
}

// SecretFields returns the fields of t that are secrets (not IsLiteral),
// in the order of Fields.
func (t Type) SecretFields() []string {
	var out []string
	for _, f := range t.Fields() {
		if !IsLiteral(f) {
			out = append(out, f)
		}
	}
	return out
}

// Optional reports whether field may be left out of a credential of type
// t: only a KeyPair's passphrase, which an unencrypted private key has
// none of.
func (t Type) Optional(field string) bool {
	return t == KeyPair && field == FieldPassphrase
}

func (t Type) known() bool { return slices.Contains(Types(), t) }

// jsonName maps a configuration field name to the name the credentials JSON
// uses: the SDK's credentialData names (its OAuth2Credentials says
// "accessToken") and Fabric's typed credentials' property names, which
// agree.
func jsonName(field string) string {
	switch field {
	case FieldAccessToken:
		return "accessToken"
	case FieldTenantID:
		return "tenantId"
	case FieldClientID:
		return "servicePrincipalClientId"
	case FieldClientSecret:
		return "servicePrincipalSecret"
	case FieldPrivateKey:
		return "privateKey"
	}
	return field
}

// Fields holds the values of one credential, keyed by configuration field
// name (username, password, key, token, access_token, tenant_id, ...).
type Fields map[string]secret.Secret

// nameValue is the SDK's NameValuePair.
type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type credentialList struct {
	CredentialData []nameValue `json:"credentialData"`
}

// anonymous uses the REST documentation's form; the SDK sends [] instead,
// which the service also accepts.
type anonymous struct {
	CredentialData string `json:"credentialData"`
}

// Build returns the compact credentials JSON for t from f, the form a
// gateway decrypts. Every field t.Fields() names must be present unless
// t.Optional says it may be left out, a field present must be non-empty and
// valid UTF-8 (JSON cannot carry anything else without silently changing
// it), and f may hold no other field. A KeyPair's private key must be
// PKCS#8 PEM (see checkPrivateKey). Errors name the field and type, never a
// value.
func Build(t Type, f Fields) (secret.Secret, error) {
	if !t.known() {
		return secret.Secret{}, fmt.Errorf("credentials: unknown credential type %q; want one of %s", t, typeList())
	}
	want := t.Fields()
	if err := check(t, f); err != nil {
		return secret.Secret{}, err
	}

	var doc any = anonymous{}
	if len(want) > 0 {
		list := credentialList{CredentialData: make([]nameValue, 0, len(want))}
		for _, name := range want {
			if v, ok := f[name]; ok {
				list.CredentialData = append(list.CredentialData, nameValue{Name: jsonName(name), Value: v.RevealString()})
			}
		}
		doc = list
	}
	// No attempt to wipe the intermediate copies: encoding/json keeps its
	// own pooled buffers and Go's heap gives no such guarantee. What
	// protects the value is that it only travels as a secret.Secret.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Newtonsoft (the SDK) writes <, > and & as themselves; match it byte for byte.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return secret.Secret{}, fmt.Errorf("credentials: encode %s credentials JSON: %w", t, err)
	}
	return secret.New(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// check is what Build and Typed require of f: the fields checkFields
// wants, and a KeyPair's private key in the form Fabric takes.
func check(t Type, f Fields) error {
	if err := checkFields(t, t.Fields(), f); err != nil {
		return err
	}
	if t == KeyPair {
		_, hasPassphrase := f[FieldPassphrase]
		return checkPrivateKey(f[FieldPrivateKey].Reveal(), hasPassphrase)
	}
	return nil
}

func checkFields(t Type, want []string, f Fields) error {
	for _, name := range want {
		v, ok := f[name]
		switch {
		case !ok && t.Optional(name):
		case !ok:
			return fmt.Errorf("credentials: %s credential: missing field %q", t, name)
		case v.IsZero():
			return fmt.Errorf("credentials: %s credential: field %q is empty", t, name)
		case !utf8.Valid(v.Reveal()):
			return fmt.Errorf("credentials: %s credential: field %q is not valid UTF-8", t, name)
		}
	}
	var extra []string
	for name := range f {
		if !slices.Contains(want, name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		allowed := "no fields"
		if len(want) > 0 {
			allowed = strings.Join(want, ", ")
		}
		return fmt.Errorf("credentials: %s credential: unexpected field %q (takes %s)", t, extra[0], allowed)
	}
	return nil
}
