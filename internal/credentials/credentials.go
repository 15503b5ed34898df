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

// Type is a Power BI credential type, spelled as the REST API spells it.
type Type string

// The credential types of the Power BI gateway data source API.
const (
	Basic     Type = "Basic"
	Windows   Type = "Windows"
	Key       Type = "Key"
	OAuth2    Type = "OAuth2"
	SAS       Type = "SAS"
	Anonymous Type = "Anonymous"
)

// Secret field names, in the configuration's spelling.
const (
	FieldUsername    = "username"
	FieldPassword    = "password"
	FieldKey         = "key"
	FieldToken       = "token"
	FieldAccessToken = "access_token"
)

// AllFields returns every secret field name, in the configuration's spelling.
func AllFields() []string {
	return []string{FieldUsername, FieldPassword, FieldKey, FieldToken, FieldAccessToken}
}

// ParseField returns the field called name in the configuration's spelling,
// accepting the SDK's too (accessToken for access_token); ok is false for a
// name that is no field.
func ParseField(name string) (field string, ok bool) {
	if name == jsonName(FieldAccessToken) {
		return FieldAccessToken, true
	}
	return name, slices.Contains(AllFields(), name)
}

// Types returns every credential type, in a stable order.
func Types() []Type {
	return []Type{Basic, Windows, Key, OAuth2, SAS, Anonymous}
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

// Fields returns the names of the secret fields t needs, in the order they
// appear in the credentials JSON. Anonymous needs none; an unknown type
// returns nil.
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
	}
	return nil
}

func (t Type) known() bool { return slices.Contains(Types(), t) }

// jsonName maps a configuration field name to the name the SDK puts in
// credentialData. Only access_token differs (the SDK's OAuth2Credentials
// uses "accessToken").
func jsonName(field string) string {
	if field == FieldAccessToken {
		return "accessToken"
	}
	return field
}

// Fields holds the secret values of one credential, keyed by configuration
// field name (username, password, key, token, access_token).
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

// Build returns the compact credentials JSON for t from f. Every field
// t.Fields() names must be present, non-empty and valid UTF-8 (JSON cannot
// carry anything else without silently changing it), and f may hold no other
// field. Errors name the field and type, never a value.
func Build(t Type, f Fields) (secret.Secret, error) {
	if !t.known() {
		return secret.Secret{}, fmt.Errorf("credentials: unknown credential type %q; want one of %s", t, typeList())
	}
	want := t.Fields()
	if err := checkFields(t, want, f); err != nil {
		return secret.Secret{}, err
	}

	var doc any = anonymous{}
	if t != Anonymous {
		list := credentialList{CredentialData: make([]nameValue, 0, len(want))}
		for _, name := range want {
			list.CredentialData = append(list.CredentialData, nameValue{Name: jsonName(name), Value: f[name].RevealString()})
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

func checkFields(t Type, want []string, f Fields) error {
	for _, name := range want {
		v, ok := f[name]
		switch {
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
