package cipher

import (
	"encoding/json"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/secret"
)

// FuzzCredentialsEncrypt is the whole path of a credential: the credentials
// JSON built from two field values, encrypted for a gateway, decrypted as the
// gateway does, and parsed back to the same values.
func FuzzCredentialsEncrypt(f *testing.F) {
	f.Add(`CONTOSO\svc`, `p"a\ss<w>&ord`, false)
	f.Add("user", "ünïcødé 🔑", true)
	f.Add("u", string(make([]byte, 200)), false)
	f.Fuzz(func(t *testing.T, username, password string, hybrid bool) {
		plain, err := credentials.Build(credentials.Basic, credentials.Fields{
			"username": secret.FromString(username),
			"password": secret.FromString(password),
		})
		if err != nil {
			return // empty or invalid UTF-8: refused, as Build's own tests check
		}
		priv := testKey(t, 1024)
		if hybrid {
			priv = testKey(t, 2048)
		}
		out, err := encryptRand(randReader(), &priv.PublicKey, plain.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		got, err := ciphertest.Decrypt(priv, out)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			CredentialData []struct{ Name, Value string } `json:"credentialData"`
		}
		if err := json.Unmarshal(got, &doc); err != nil {
			t.Fatalf("decrypted credentials are not JSON: %v", err)
		}
		if len(doc.CredentialData) != 2 || doc.CredentialData[0].Value != username || doc.CredentialData[1].Value != password {
			t.Fatal("the values did not survive build, encrypt and decrypt")
		}
	})
}
