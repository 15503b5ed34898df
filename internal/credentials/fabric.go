package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rotatord/rotatord/internal/secret"
)

// errNoOAuth2 is Typed's refusal of OAuth2: Fabric's typed credentials
// have no member for an access token, so such a connection cannot be
// rotated through that API.
var errNoOAuth2 = errors.New("credentials: Fabric's API takes no OAuth2 credential")

// FabricName returns t as Fabric's connections API spells it: SAS is
// SharedAccessSignature there, every other type is spelled as Power BI
// spells it.
func FabricName(t Type) string {
	if t == SAS {
		return "SharedAccessSignature"
	}
	return string(t)
}

// Typed returns the typed credentials object Fabric's connections API
// takes in clear over TLS for a cloud or virtual-network connection, as
// compact JSON: credentialType first, then t's fields in the order of
// t.Fields() under their JSON names, an absent optional field left out:
//
//	{"credentialType":"Basic","username":"...","password":"..."}
//	{"credentialType":"ServicePrincipal","tenantId":"...","servicePrincipalClientId":"...","servicePrincipalSecret":"..."}
//	{"credentialType":"WorkspaceIdentity"}
//
// f is checked as Build checks it. OAuth2 is refused: the API has no
// OAuth2 credential to set.
func Typed(t Type, f Fields) (secret.Secret, error) {
	switch {
	case !t.known():
		return secret.Secret{}, fmt.Errorf("credentials: unknown credential type %q; want one of %s", t, typeList())
	case t == OAuth2:
		return secret.Secret{}, errNoOAuth2
	}
	if err := check(t, f); err != nil {
		return secret.Secret{}, err
	}
	// Written by hand, member by member, because the order is part of the
	// contract (tests and captures compare bytes) and a map would lose it.
	// As in Build, the intermediate copies are not wiped: what protects
	// the value is that it only leaves as a secret.Secret.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as Build: <, > and & travel as themselves
	str := func(s string) error {
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("credentials: encode %s typed credentials: %w", t, err)
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		return nil
	}
	buf.WriteString(`{"credentialType":`)
	if err := str(FabricName(t)); err != nil {
		return secret.Secret{}, err
	}
	for _, name := range t.Fields() {
		v, ok := f[name]
		if !ok {
			continue // optional, checked above
		}
		buf.WriteString(`,"` + jsonName(name) + `":`)
		if err := str(v.RevealString()); err != nil {
			return secret.Secret{}, err
		}
	}
	buf.WriteByte('}')
	return secret.New(buf.Bytes()), nil
}
