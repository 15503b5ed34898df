package credentials

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rotatord/rotatord/internal/secret"
)

func fields(kv ...string) Fields {
	f := Fields{}
	for i := 0; i < len(kv); i += 2 {
		f[kv[i]] = secret.FromString(kv[i+1])
	}
	return f
}

func TestBuildMatchesSDK(t *testing.T) {
	keys := newTestKeys(t)
	tests := map[string]struct {
		typ    Type
		fields Fields
		want   string // exact plaintext; the SDK's CredentialsTests strings where one exists
	}{
		"basic":                  {Basic, fields("username", "user", "password", "pass"), `{"credentialData":[{"name":"username","value":"user"},{"name":"password","value":"pass"}]}`},
		"windows":                {Windows, fields("password", "pass", "username", `DOMAIN\user`), `{"credentialData":[{"name":"username","value":"DOMAIN\\user"},{"name":"password","value":"pass"}]}`},
		"key":                    {Key, fields("key", "TestKey"), `{"credentialData":[{"name":"key","value":"TestKey"}]}`},
		"oauth2":                 {OAuth2, fields("access_token", "TestToken"), `{"credentialData":[{"name":"accessToken","value":"TestToken"}]}`},
		"sas":                    {SAS, fields("token", "sp=rl&st=2024-01-01"), `{"credentialData":[{"name":"token","value":"sp=rl&st=2024-01-01"}]}`},
		"anonymous nil fields":   {Anonymous, nil, `{"credentialData":""}`},
		"anonymous empty fields": {Anonymous, Fields{}, `{"credentialData":""}`},
		"no html escaping":       {Key, fields("key", `<a&b>`), `{"credentialData":[{"name":"key","value":"<a&b>"}]}`},
		"quotes and controls":    {Key, fields("key", "\"q\"\n\t\x01"), `{"credentialData":[{"name":"key","value":"\"q\"\n\t\u0001"}]}`},
		"non-ascii raw":          {Basic, fields("username", "jörg", "password", "密码🔑"), `{"credentialData":[{"name":"username","value":"jörg"},{"name":"password","value":"密码🔑"}]}`},
		"service principal": {ServicePrincipal, fields("client_secret", "s<e>&c", "tenant_id", tenant, "client_id", client),
			`{"credentialData":[{"name":"tenantId","value":"` + tenant + `"},{"name":"servicePrincipalClientId","value":"` + client + `"},{"name":"servicePrincipalSecret","value":"s<e>&c"}]}`},
		"key pair, no passphrase": {KeyPair, fields("identifier", "svc@contoso", "private_key", keys.ec),
			`{"credentialData":[{"name":"identifier","value":"svc@contoso"},{"name":"privateKey","value":` + jsonString(keys.ec) + `}]}`},
		"key pair, encrypted": {KeyPair, fields("identifier", "svc", "private_key", keys.encrypted, "passphrase", "pass"),
			`{"credentialData":[{"name":"identifier","value":"svc"},{"name":"privateKey","value":` + jsonString(keys.encrypted) + `},{"name":"passphrase","value":"pass"}]}`},
		"workspace identity": {WorkspaceIdentity, nil, `{"credentialData":""}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Build(tc.typ, tc.fields)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got.RevealString() != tc.want {
				t.Errorf("Build =\n%s\nwant\n%s", got.RevealString(), tc.want)
			}
		})
	}
}

const (
	leak   = "s3cr3t-VALUE"
	tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	client = "0b5e3f1a-2c4d-4e6f-8a9b-1c2d3e4f5a6b"
)

// jsonString is s as a JSON string, without HTML escaping (as Build writes).
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestBuildErrors(t *testing.T) {
	tests := map[string]struct {
		typ    Type
		fields Fields
		want   string
	}{
		"unknown type":       {"basic", fields("username", leak), `credentials: unknown credential type "basic"; want one of Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity`},
		"missing password":   {Basic, fields("username", leak), `credentials: Basic credential: missing field "password"`},
		"missing username":   {Windows, fields("password", leak), `credentials: Windows credential: missing field "username"`},
		"empty key":          {Key, fields("key", ""), `credentials: Key credential: field "key" is empty`},
		"invalid utf8":       {SAS, Fields{"token": secret.New([]byte(leak + "\xff"))}, `credentials: SAS credential: field "token" is not valid UTF-8`},
		"unexpected field":   {Key, fields("key", leak, "password", leak), `credentials: Key credential: unexpected field "password" (takes key)`},
		"json name rejected": {OAuth2, fields("accessToken", leak), `credentials: OAuth2 credential: missing field "access_token"`},
		"anonymous extra":    {Anonymous, fields("password", leak), `credentials: Anonymous credential: unexpected field "password" (takes no fields)`},
		"sorted extras":      {Key, fields("key", "k", "zeta", leak, "alpha", leak), `credentials: Key credential: unexpected field "alpha" (takes key)`},
		"sp missing secret":  {ServicePrincipal, fields("tenant_id", tenant, "client_id", client), `credentials: ServicePrincipal credential: missing field "client_secret"`},
		"sp empty tenant":    {ServicePrincipal, fields("tenant_id", "", "client_id", client, "client_secret", leak), `credentials: ServicePrincipal credential: field "tenant_id" is empty`},
		"key pair no key":    {KeyPair, fields("identifier", "svc"), `credentials: KeyPair credential: missing field "private_key"`},
		"empty passphrase":   {KeyPair, fields("identifier", "svc", "private_key", leak, "passphrase", ""), `credentials: KeyPair credential: field "passphrase" is empty`},
		"key pair not pem":   {KeyPair, fields("identifier", "svc", "private_key", leak), `credentials: KeyPair credential: field "private_key" is not PEM (want a PKCS#8 key that starts with BEGIN PRIVATE KEY)`},
		"workspace extra":    {WorkspaceIdentity, fields("client_secret", leak), `credentials: WorkspaceIdentity credential: unexpected field "client_secret" (takes no fields)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Build(tc.typ, tc.fields)
			if err == nil {
				t.Fatalf("Build succeeded with %d bytes; want error", got.Len())
			}
			if err.Error() != tc.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error leaks the secret value: %v", err)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for _, typ := range Types() {
		got, err := ParseType(string(typ))
		if err != nil || got != typ {
			t.Errorf("ParseType(%q) = %q, %v", typ, got, err)
		}
	}
	for _, bad := range []string{"", "basic", "OAUTH2", "Oauth2", " Key", "Certificate"} {
		_, err := ParseType(bad)
		if err == nil {
			t.Errorf("ParseType(%q) succeeded", bad)
			continue
		}
		if !strings.Contains(err.Error(), "Basic, Windows, Key, OAuth2, SAS, Anonymous") {
			t.Errorf("ParseType(%q) error does not list allowed values: %v", bad, err)
		}
	}
}

func TestTypeFields(t *testing.T) {
	want := map[Type]string{
		Basic: "username,password", Windows: "username,password", Key: "key",
		SAS: "token", OAuth2: "access_token", Anonymous: "", "Bogus": "",
		ServicePrincipal: "tenant_id,client_id,client_secret", KeyPair: "identifier,private_key,passphrase", WorkspaceIdentity: "",
	}
	for typ, w := range want {
		if got := strings.Join(typ.Fields(), ","); got != w {
			t.Errorf("%s.Fields() = %q, want %q", typ, got, w)
		}
	}
	secrets := map[Type]string{
		Basic: "password", Windows: "password", Key: "key", SAS: "token", OAuth2: "access_token", Anonymous: "",
		ServicePrincipal: "client_secret", KeyPair: "private_key,passphrase", WorkspaceIdentity: "", "Bogus": "",
	}
	for typ, w := range secrets {
		if got := strings.Join(typ.SecretFields(), ","); got != w {
			t.Errorf("%s.SecretFields() = %q, want %q", typ, got, w)
		}
	}
}

func TestFieldKinds(t *testing.T) {
	literal := map[string]bool{"username": true, "tenant_id": true, "client_id": true, "identifier": true}
	for _, f := range AllFields() {
		if IsLiteral(f) != literal[f] {
			t.Errorf("IsLiteral(%q) = %v", f, IsLiteral(f))
		}
	}
	for _, typ := range append(Types(), "Bogus") {
		for _, f := range AllFields() {
			want := typ == KeyPair && f == FieldPassphrase
			if typ.Optional(f) != want {
				t.Errorf("%s.Optional(%q) = %v, want %v", typ, f, typ.Optional(f), want)
			}
		}
		wantFabric := typ == ServicePrincipal || typ == KeyPair || typ == WorkspaceIdentity
		if typ.FabricOnly() != wantFabric {
			t.Errorf("%s.FabricOnly() = %v", typ, typ.FabricOnly())
		}
	}
	for typ, want := range map[Type]string{SAS: "SharedAccessSignature", Basic: "Basic", KeyPair: "KeyPair", OAuth2: "OAuth2"} {
		if got := FabricName(typ); got != want {
			t.Errorf("FabricName(%s) = %q, want %q", typ, got, want)
		}
	}
}

// decode parses a credentials JSON back into name -> value, in order.
func decode(t *testing.T, b []byte) [][2]string {
	t.Helper()
	var doc struct {
		CredentialData []struct{ Name, Value string } `json:"credentialData"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("Build output is not JSON: %v", err)
	}
	var out [][2]string
	for _, p := range doc.CredentialData {
		out = append(out, [2]string{p.Name, p.Value})
	}
	return out
}

// FuzzBuild checks that any valid UTF-8 value survives Build and Typed and a
// JSON parse unchanged, and that anything else is refused rather than
// altered. Each type takes its fields from a, b and c in order; a KeyPair's
// private key is b, which must also pass the PEM check.
func FuzzBuild(f *testing.F) {
	f.Add("user", "pass", "")
	f.Add(`DOMAIN\user`, `"quoted" \ back\slash`, "x")
	f.Add("\x00\x01\x1f\x7f", "\u2028\u2029<>&", "\u2028")
	f.Add("jörg", "密码🔑", "🔑")
	f.Add("", "x", "y")
	f.Add("x", "\xff\xfe", "z")
	f.Add("x", "y", "\xff")
	f.Add("svc@contoso", encryptedPKCS8(f), "passphrase <&>")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		vals := []string{a, b, c}
		for _, typ := range Types() {
			in := Fields{}
			wantErr := false
			for i, name := range typ.Fields() {
				in[name] = secret.FromString(vals[i])
				wantErr = wantErr || vals[i] == "" || !utf8.ValidString(vals[i])
			}
			if typ == KeyPair && !wantErr {
				wantErr = checkPrivateKey([]byte(b), true) != nil
			}
			got, err := Build(typ, in)
			typed, typedErr := Typed(typ, in)
			if typ == OAuth2 && !errors.Is(typedErr, errNoOAuth2) {
				t.Fatalf("Typed(OAuth2) = %v, want the refusal", typedErr)
			}
			if wantErr {
				for _, e := range []error{err, typedErr} {
					if e == nil {
						t.Fatalf("%s: Build or Typed accepted an empty, invalid UTF-8 or non-PKCS#8 value", typ)
					}
					for _, v := range vals {
						if len(v) >= 32 && strings.Contains(e.Error(), v) {
							t.Fatalf("%s: error leaks a value: %v", typ, e)
						}
					}
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: Build: %v", typ, err)
			}
			if len(typ.Fields()) == 0 {
				if got.RevealString() != `{"credentialData":""}` {
					t.Fatalf("%s = %s", typ, got.RevealString())
				}
			} else {
				pairs := decode(t, got.Reveal())
				if len(pairs) != len(typ.Fields()) {
					t.Fatalf("%s: %d pairs, want %d", typ, len(pairs), len(typ.Fields()))
				}
				for i, name := range typ.Fields() {
					if pairs[i][0] != jsonName(name) || pairs[i][1] != vals[i] {
						t.Fatalf("%s: pair %d = %q, want %q=%q", typ, i, pairs[i], jsonName(name), vals[i])
					}
				}
			}
			if strings.ContainsRune(got.RevealString(), '\n') {
				t.Fatalf("%s: output is not compact: %q", typ, got.RevealString())
			}
			if typ == OAuth2 {
				continue
			}
			if typedErr != nil {
				t.Fatalf("%s: Typed: %v", typ, typedErr)
			}
			members := decodeTyped(t, typed.Reveal())
			if len(members) != len(typ.Fields())+1 || members[0] != [2]string{"credentialType", FabricName(typ)} {
				t.Fatalf("%s: Typed = %q", typ, members)
			}
			for i, name := range typ.Fields() {
				if members[i+1] != [2]string{jsonName(name), vals[i]} {
					t.Fatalf("%s: member %d = %q, want %q=%q", typ, i+1, members[i+1], jsonName(name), vals[i])
				}
			}
		}
	})
}

func TestParseField(t *testing.T) {
	for name, want := range map[string]string{
		"username": "username", "password": "password", "key": "key", "token": "token",
		"access_token": "access_token", "accessToken": "access_token", "Password": "", "": "",
		"tenant_id": "tenant_id", "tenantId": "tenant_id", "client_id": "client_id", "servicePrincipalClientId": "client_id",
		"client_secret": "client_secret", "servicePrincipalSecret": "client_secret", "identifier": "identifier",
		"private_key": "private_key", "privateKey": "private_key", "passphrase": "passphrase", "clientId": "",
	} {
		got, ok := ParseField(name)
		if ok != (want != "") || ok && got != want {
			t.Errorf("ParseField(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}
