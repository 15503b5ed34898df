package credentials

import (
	"encoding/json"
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

const leak = "s3cr3t-VALUE"

func TestBuildErrors(t *testing.T) {
	tests := map[string]struct {
		typ    Type
		fields Fields
		want   string
	}{
		"unknown type":       {"basic", fields("username", leak), `credentials: unknown credential type "basic"; want one of Basic, Windows, Key, OAuth2, SAS, Anonymous`},
		"missing password":   {Basic, fields("username", leak), `credentials: Basic credential: missing field "password"`},
		"missing username":   {Windows, fields("password", leak), `credentials: Windows credential: missing field "username"`},
		"empty key":          {Key, fields("key", ""), `credentials: Key credential: field "key" is empty`},
		"invalid utf8":       {SAS, Fields{"token": secret.New([]byte(leak + "\xff"))}, `credentials: SAS credential: field "token" is not valid UTF-8`},
		"unexpected field":   {Key, fields("key", leak, "password", leak), `credentials: Key credential: unexpected field "password" (takes key)`},
		"json name rejected": {OAuth2, fields("accessToken", leak), `credentials: OAuth2 credential: missing field "access_token"`},
		"anonymous extra":    {Anonymous, fields("password", leak), `credentials: Anonymous credential: unexpected field "password" (takes no fields)`},
		"sorted extras":      {Key, fields("key", "k", "zeta", leak, "alpha", leak), `credentials: Key credential: unexpected field "alpha" (takes key)`},
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
	}
	for typ, w := range want {
		if got := strings.Join(typ.Fields(), ","); got != w {
			t.Errorf("%s.Fields() = %q, want %q", typ, got, w)
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

// FuzzBuild checks that any valid UTF-8 value survives Build and a JSON parse
// unchanged, and that anything else is refused rather than altered.
func FuzzBuild(f *testing.F) {
	f.Add("user", "pass")
	f.Add(`DOMAIN\user`, `"quoted" \ back\slash`)
	f.Add("\x00\x01\x1f\x7f", "\u2028\u2029<>&")
	f.Add("jörg", "密码🔑")
	f.Add("", "x")
	f.Add("x", "\xff\xfe")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, typ := range Types() {
			in := Fields{}
			vals := []string{a, b}
			for i, name := range typ.Fields() {
				in[name] = secret.FromString(vals[i])
			}
			got, err := Build(typ, in)
			wantErr := false
			for i := range typ.Fields() {
				if vals[i] == "" || !utf8.ValidString(vals[i]) {
					wantErr = true
				}
			}
			if wantErr {
				if err == nil {
					t.Fatalf("%s: Build accepted an empty or invalid UTF-8 value", typ)
				}
				for _, v := range vals {
					if len(v) >= 4 && strings.Contains(err.Error(), v) {
						t.Fatalf("%s: error leaks a value: %v", typ, err)
					}
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: Build: %v", typ, err)
			}
			if typ == Anonymous {
				if got.RevealString() != `{"credentialData":""}` {
					t.Fatalf("Anonymous = %s", got.RevealString())
				}
				continue
			}
			pairs := decode(t, got.Reveal())
			if len(pairs) != len(typ.Fields()) {
				t.Fatalf("%s: %d pairs, want %d", typ, len(pairs), len(typ.Fields()))
			}
			for i, name := range typ.Fields() {
				if pairs[i][0] != jsonName(name) || pairs[i][1] != vals[i] {
					t.Fatalf("%s: pair %d = %q, want %q=%q", typ, i, pairs[i], jsonName(name), vals[i])
				}
			}
			if strings.ContainsRune(got.RevealString(), '\n') {
				t.Fatalf("%s: output is not compact: %q", typ, got.RevealString())
			}
		}
	})
}

func TestParseField(t *testing.T) {
	for name, want := range map[string]string{
		"username": "username", "password": "password", "key": "key", "token": "token",
		"access_token": "access_token", "accessToken": "access_token", "Password": "", "": "",
	} {
		got, ok := ParseField(name)
		if ok != (want != "") || ok && got != want {
			t.Errorf("ParseField(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}
