package cipher

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// TestOpenSSLDecrypts checks our output against an independent RSA-OAEP
// implementation: OpenSSL unwraps every RSA block, and only the AES/HMAC
// layer is finished in Go, with the keys OpenSSL returned.
func TestOpenSSLDecrypts(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("openssl not on PATH")
		}
		t.Fatalf("openssl is required under CI: %v", err)
	}
	plain := bytes.Repeat([]byte(`{"name":"password","value":"p\"ä<&>"}`), 7) // 273 bytes: 4 segments at 1024 bits
	for _, bits := range keySizes {
		t.Run(fmt.Sprintf("rsa%d", bits), func(t *testing.T) {
			priv := testKey(t, bits)
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(t.TempDir(), "k.pem")
			if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := encryptRand(randReader(), &priv.PublicKey, plain)
			if err != nil {
				t.Fatal(err)
			}
			pkeyutl := func(in []byte, md ...string) []byte {
				args := []string{"pkeyutl", "-decrypt", "-inkey", keyFile, "-pkeyopt", "rsa_padding_mode:oaep"}
				for _, m := range md {
					args = append(args, "-pkeyopt", m)
				}
				cmd := exec.CommandContext(t.Context(), openssl, args...)
				cmd.Stdin = bytes.NewReader(in)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				got, err := cmd.Output()
				if err != nil {
					t.Fatalf("openssl %v: %v: %s", md, err, stderr.Bytes())
				}
				return got
			}

			if bits == 1024 {
				raw, err := base64.StdEncoding.DecodeString(out)
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				for i := 0; i < len(raw); i += 128 {
					got = append(got, pkeyutl(raw[i:i+128], "rsa_oaep_md:sha1")...)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("OpenSSL decrypted %q, want %q", got, plain)
				}
				return
			}

			n := base64.StdEncoding.EncodedLen(priv.Size())
			wrapped, err := base64.StdEncoding.DecodeString(out[:n])
			if err != nil {
				t.Fatal(err)
			}
			keys := pkeyutl(wrapped, "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256")
			if len(keys) != 98 || keys[0] != 0 || keys[1] != 1 {
				t.Fatalf("OpenSSL unwrapped %d bytes starting % x, want 98 starting 00 01", len(keys), keys[:min(2, len(keys))])
			}
			payload, err := base64.StdEncoding.DecodeString(out[n:])
			if err != nil {
				t.Fatal(err)
			}
			got, err := ciphertest.Open(keys[2:34], keys[34:], payload)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("decrypted %q, want %q", got, plain)
			}
		})
	}
}
