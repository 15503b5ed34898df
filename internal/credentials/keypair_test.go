package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/secret"
)

// testKeys are private keys in the PEM forms people paste: PKCS#8 (what
// Fabric takes) and the forms it does not. Made per test, never shared: RSA
// is 2048 bits and EC P-256, so the tests pass under GODEBUG=fips140=on.
type testKeys struct {
	rsa, ec      string // PKCS#8, BEGIN PRIVATE KEY
	pkcs1, sec1  string // BEGIN RSA PRIVATE KEY, BEGIN EC PRIVATE KEY
	encrypted    string // BEGIN ENCRYPTED PRIVATE KEY
	openssh, pub string
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	must := func(der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	return testKeys{
		rsa:       pemString("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(rk))),
		ec:        pemString("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ek))),
		pkcs1:     pemString("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)),
		sec1:      pemString("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ek))),
		encrypted: encryptedPKCS8(t),
		openssh:   pemString("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00not really")),
		pub:       pemString("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&ek.PublicKey))),
	}
}

// encryptedPKCS8 builds an EncryptedPrivateKeyInfo by hand, the shape
// openssl pkcs8 -topk8 -v2 aes-256-cbc writes (PBES2, PBKDF2, AES-256-CBC),
// with random bytes for the ciphertext: only the shape is ever checked.
func encryptedPKCS8(t testing.TB) string {
	t.Helper()
	type pbkdf2Params struct {
		Salt       []byte
		Iterations int
	}
	type algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters any
	}
	type pbes2Params struct {
		KeyDerivationFunc algorithm
		EncryptionScheme  algorithm
	}
	salt, iv, data := make([]byte, 16), make([]byte, 16), make([]byte, 1232)
	for _, b := range [][]byte{salt, iv, data} {
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			t.Fatal(err)
		}
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: algorithm{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}, pbkdf2Params{salt, 2048}},
		EncryptionScheme:  algorithm{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, iv},
	})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return pemString("ENCRYPTED PRIVATE KEY", der)
}

func TestPrivateKeyCheck(t *testing.T) {
	k := newTestKeys(t)
	const field = `credentials: KeyPair credential: field "private_key" `
	garbledEncrypted := pemString("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	trailingDER := pemString("ENCRYPTED PRIVATE KEY", append(pemDER(t, k.encrypted), 0x05, 0x00))
	tests := map[string]struct {
		key        string
		passphrase bool
		want       string // "" accepts
	}{
		"rsa pkcs8":                  {key: k.rsa},
		"ec pkcs8":                   {key: k.ec},
		"crlf and blank lines":       {key: "\r\n" + strings.ReplaceAll(k.ec, "\n", "\r\n") + "\r\n\r\n"},
		"encrypted with passphrase":  {key: k.encrypted, passphrase: true},
		"pkcs1":                      {key: k.pkcs1, want: field + "is a PKCS#1 RSA key (BEGIN RSA PRIVATE KEY); Fabric needs PKCS#8: convert it with openssl pkcs8 -topk8"},
		"sec1":                       {key: k.sec1, want: field + "is a SEC 1 EC key (BEGIN EC PRIVATE KEY); Fabric needs PKCS#8: convert it with openssl pkcs8 -topk8"},
		"openssh":                    {key: k.openssh, want: field + "is an OpenSSH key (BEGIN OPENSSH PRIVATE KEY); Fabric needs PKCS#8: convert a copy with ssh-keygen -p -m PKCS8 -f FILE"},
		"public key":                 {key: k.pub, want: field + "is a PEM block BEGIN PUBLIC KEY, not a private key"},
		"other block":                {key: pemString("DSA PRIVATE KEY", []byte{1}), want: field + "is a PEM block BEGIN DSA PRIVATE KEY; want a PKCS#8 private key (BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY)"},
		"odd block type not shown":   {key: pemString("s3cr3t-VALUE", []byte{1}), want: field + "is a PEM block of an unknown type; want a PKCS#8 private key (BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY)"},
		"not pem":                    {key: leak, want: field + "is not PEM (want a PKCS#8 key that starts with BEGIN PRIVATE KEY)"},
		"base64 der without armour":  {key: strings.Join(strings.Split(k.ec, "\n")[1:4], ""), want: field + "is not PEM (want a PKCS#8 key that starts with BEGIN PRIVATE KEY)"},
		"text before the block":      {key: "key for " + leak + ":\n" + k.ec, want: field + "is not PEM (want a PKCS#8 key that starts with BEGIN PRIVATE KEY)"},
		"truncated":                  {key: k.ec[:len(k.ec)-20], want: field + "is not PEM (want a PKCS#8 key that starts with BEGIN PRIVATE KEY)"},
		"trailing text":              {key: k.ec + leak + "\n", want: field + "has data after its PEM block (PEM block BEGIN PRIVATE KEY); want the private key alone"},
		"two keys":                   {key: k.ec + k.rsa, want: field + "holds more than one PEM block (PEM block BEGIN PRIVATE KEY, then PEM block BEGIN PRIVATE KEY); want the private key alone"},
		"key then certificate":       {key: k.ec + pemString("CERTIFICATE", []byte{1}), want: field + "holds more than one PEM block (PEM block BEGIN PRIVATE KEY, then PEM block BEGIN CERTIFICATE); want the private key alone"},
		"pkcs8 label on pkcs1 bytes": {key: pemString("PRIVATE KEY", pemDER(t, k.pkcs1)), want: field + "is a PEM block BEGIN PRIVATE KEY that does not parse as a PKCS#8 private key"},
		"clear key with passphrase":  {key: k.ec, passphrase: true, want: `credentials: KeyPair credential: field "passphrase" is set but "private_key" is not encrypted (BEGIN PRIVATE KEY): remove the passphrase, or give the encrypted key (BEGIN ENCRYPTED PRIVATE KEY)`},
		"encrypted, no passphrase":   {key: k.encrypted, want: field + `is encrypted (BEGIN ENCRYPTED PRIVATE KEY) but no "passphrase" is given: add its source`},
		"encrypted, garbled":         {key: garbledEncrypted, passphrase: true, want: field + "is a PEM block BEGIN ENCRYPTED PRIVATE KEY that is not a PKCS#8 EncryptedPrivateKeyInfo"},
		"encrypted, trailing der":    {key: trailingDER, passphrase: true, want: field + "is a PEM block BEGIN ENCRYPTED PRIVATE KEY that is not a PKCS#8 EncryptedPrivateKeyInfo"},
		"encrypted label, clear key": {key: pemString("ENCRYPTED PRIVATE KEY", pemDER(t, k.ec)), passphrase: true, want: field + "is a PEM block BEGIN ENCRYPTED PRIVATE KEY that is not a PKCS#8 EncryptedPrivateKeyInfo"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkPrivateKey([]byte(tc.key), tc.passphrase)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				return
			case err == nil:
				t.Fatalf("accepted; want %s", tc.want)
			case err.Error() != tc.want:
				t.Errorf("error =\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error shows the value: %v", err)
			}
			// Both builders run the check, so a bad key fails at the
			// source stage whichever API the connection takes.
			f := fields("identifier", "svc", "private_key", tc.key)
			if tc.passphrase {
				f["passphrase"] = secret.FromString("pass")
			}
			_, berr := Build(KeyPair, f)
			_, terr := Typed(KeyPair, f)
			if berr == nil || terr == nil || berr.Error() != tc.want || terr.Error() != tc.want {
				t.Errorf("Build: %v; Typed: %v; want %s", berr, terr, tc.want)
			}
		})
	}
}

// pemDER is the bytes of the one PEM block in s.
func pemDER(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("not PEM")
	}
	return b.Bytes
}

// decodeTyped parses Typed's output into its members, in order.
func decodeTyped(t *testing.T, b []byte) [][2]string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var out [][2]string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("Typed output is not a JSON object: %s", b)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("Typed output: %v", err)
		}
		v, err := dec.Token()
		ks, kok := k.(string)
		vs, vok := v.(string)
		if err != nil || !kok || !vok {
			t.Fatalf("Typed output: member %v: %v %v", k, v, err)
		}
		out = append(out, [2]string{ks, vs})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		t.Fatalf("Typed output does not end its object: %s", b)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("Typed output has data after the object: %s", b)
	}
	return out
}

func TestTyped(t *testing.T) {
	k := newTestKeys(t)
	tests := map[string]struct {
		typ    Type
		fields Fields
		want   string // exact bytes Fabric's API is sent
	}{
		"basic":             {Basic, fields("password", "pa<s>s&", "username", "svc"), `{"credentialType":"Basic","username":"svc","password":"pa<s>s&"}`},
		"windows":           {Windows, fields("username", `CONTOSO\svc`, "password", "p\"w"), `{"credentialType":"Windows","username":"CONTOSO\\svc","password":"p\"w"}`},
		"key":               {Key, fields("key", "k=="), `{"credentialType":"Key","key":"k=="}`},
		"sas":               {SAS, fields("token", "sp=rl&st=2024-01-01"), `{"credentialType":"SharedAccessSignature","token":"sp=rl&st=2024-01-01"}`},
		"service principal": {ServicePrincipal, fields("client_id", client, "client_secret", "s3c", "tenant_id", tenant), `{"credentialType":"ServicePrincipal","tenantId":"` + tenant + `","servicePrincipalClientId":"` + client + `","servicePrincipalSecret":"s3c"}`},
		"key pair":          {KeyPair, fields("identifier", "svc", "private_key", k.rsa), `{"credentialType":"KeyPair","identifier":"svc","privateKey":` + jsonString(k.rsa) + `}`},
		"key pair, encrypted": {KeyPair, fields("passphrase", "pa&ss", "identifier", "svc", "private_key", k.encrypted),
			`{"credentialType":"KeyPair","identifier":"svc","privateKey":` + jsonString(k.encrypted) + `,"passphrase":"pa&ss"}`},
		"workspace identity": {WorkspaceIdentity, nil, `{"credentialType":"WorkspaceIdentity"}`},
		"anonymous":          {Anonymous, Fields{}, `{"credentialType":"Anonymous"}`},
		"controls, unicode":  {Key, fields("key", "\x01\u2028密"), `{"credentialType":"Key","key":"\u0001\u2028密"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Typed(tc.typ, tc.fields)
			if err != nil {
				t.Fatalf("Typed: %v", err)
			}
			if got.RevealString() != tc.want {
				t.Errorf("Typed =\n%s\nwant\n%s", got.RevealString(), tc.want)
			}
			if !json.Valid(got.Reveal()) {
				t.Errorf("Typed output is not JSON: %s", got.RevealString())
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	tests := map[string]struct {
		typ    Type
		fields Fields
		want   string
	}{
		"oauth2":           {OAuth2, fields("access_token", leak), "credentials: Fabric's API takes no OAuth2 credential"},
		"unknown":          {"SharedAccessSignature", fields("token", leak), `credentials: unknown credential type "SharedAccessSignature"; want one of Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity`},
		"missing password": {Basic, fields("username", "svc"), `credentials: Basic credential: missing field "password"`},
		"invalid utf8":     {ServicePrincipal, Fields{"tenant_id": secret.FromString(tenant), "client_id": secret.FromString(client), "client_secret": secret.New([]byte(leak + "\xff"))}, `credentials: ServicePrincipal credential: field "client_secret" is not valid UTF-8`},
		"extra":            {WorkspaceIdentity, fields("key", leak), `credentials: WorkspaceIdentity credential: unexpected field "key" (takes no fields)`},
		"anonymous extra":  {Anonymous, fields("password", leak), `credentials: Anonymous credential: unexpected field "password" (takes no fields)`},
		"sp extra":         {ServicePrincipal, fields("tenant_id", tenant, "client_id", client, "client_secret", leak, "password", leak), `credentials: ServicePrincipal credential: unexpected field "password" (takes tenant_id, client_id, client_secret)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Typed(tc.typ, tc.fields)
			if err == nil {
				t.Fatalf("Typed succeeded with %d bytes; want error", got.Len())
			}
			if err.Error() != tc.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error leaks the secret value: %v", err)
			}
		})
	}
	if _, err := Typed(OAuth2, fields("access_token", "t")); !errors.Is(err, errNoOAuth2) {
		t.Errorf("Typed(OAuth2) = %v, want errNoOAuth2", err)
	}
}

// FuzzPrivateKey: the check never panics on any input, accepts only what
// pem and x509 accept, and never quotes a long run of its input.
func FuzzPrivateKey(f *testing.F) {
	// Seeds from files, not newTestKeys: under the fuzzer's coverage
	// instrumentation generating an RSA key takes each worker minutes.
	keys, err := filepath.Glob("testdata/keys/*")
	if err != nil || len(keys) == 0 {
		f.Fatalf("no seed keys in testdata/keys: %v", err)
	}
	seeds := []string{"", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", pemString("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00not really"))}
	for _, name := range keys {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(b), string(b)+string(b))
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, v []byte, passphrase bool) {
		err := checkPrivateKey(v, passphrase)
		if err == nil {
			b, _ := pem.Decode(v)
			if b == nil || b.Type != "PRIVATE KEY" && b.Type != "ENCRYPTED PRIVATE KEY" {
				t.Fatalf("accepted something that is no PKCS#8 PEM block: %q", v)
			}
			if _, perr := x509.ParsePKCS8PrivateKey(b.Bytes); b.Type == "PRIVATE KEY" && (perr != nil || passphrase) {
				t.Fatalf("accepted a PRIVATE KEY that does not parse or with a passphrase: %v", perr)
			}
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "credentials: KeyPair credential: field ") || strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("malformed error: %q", msg)
		}
		if s := strings.TrimSpace(string(v)); len(s) >= 32 && strings.Contains(msg, s) {
			t.Fatalf("error quotes the value: %q", msg)
		}
	})
}
