package cipher

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/secret"
)

// randReader is a seeded, reproducible randomness source for tests.
func randReader() io.Reader { return rand.NewChaCha8([32]byte{'r', 'o', 't', 'a', 't', 'o', 'r', 'd'}) }

// wantLen is the exact length of a credentials string for an n-byte
// plaintext under a k-byte modulus.
func wantLen(k, n int) int {
	enc := base64.StdEncoding
	if k == 128 {
		return enc.EncodedLen(128 * ((n + 84) / 85))
	}
	return enc.EncodedLen(k) + enc.EncodedLen(2+32+16+16*(n/16+1))
}

func TestEncryptRoundTripLengths(t *testing.T) {
	lengths := []int{1, 15, 16, 17, 32, 84, 85, 86, 100, 169, 170, 171, 255, 256, 1000}
	for _, bits := range keySizes {
		priv := testKey(t, bits)
		for _, n := range lengths {
			t.Run(fmt.Sprintf("rsa%d/%dB", bits, n), func(t *testing.T) {
				plain := make([]byte, n)
				for i := range plain {
					plain[i] = byte('a' + i%26)
				}
				out, err := encryptRand(randReader(), &priv.PublicKey, plain)
				if err != nil {
					t.Fatalf("Encrypt: %v", err)
				}
				if len(out) != wantLen(priv.Size(), n) {
					t.Errorf("len = %d, want %d", len(out), wantLen(priv.Size(), n))
				}
				got, err := ciphertest.Decrypt(priv, out)
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(got, plain) {
					t.Errorf("round trip = %q, want %q", got, plain)
				}
			})
		}
	}
}

// The key part of a hybrid string has the length the gateway splits on.
func TestHybridKeyPartLength(t *testing.T) {
	for bits, want := range map[int]struct {
		chars int
		tail  string
	}{2048: {344, "=="}, 3072: {512, ""}, 4096: {684, "="}} {
		out, err := encryptRand(randReader(), &testKey(t, bits).PublicKey, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		key := out[:want.chars]
		if !strings.HasSuffix(key, want.tail) || strings.HasSuffix(key, want.tail+"=") {
			t.Errorf("rsa%d: key part %q does not end in exactly %q", bits, key[len(key)-4:], want.tail)
		}
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != bits/8 {
			t.Errorf("rsa%d: key part decodes to %d bytes, %v; want %d", bits, len(raw), err, bits/8)
		}
	}
}

func TestEncryptEveryCredentialType(t *testing.T) {
	values := []string{"svc_powerbi", `p"a\ss<&>` + "\n\t\x01 ünïcødé 🔑", `CONTOSO\svc`}
	for _, typ := range credentials.Types() {
		f := credentials.Fields{}
		for i, name := range typ.Fields() {
			switch {
			case typ.Optional(name):
			case name == credentials.FieldPrivateKey:
				f[name] = pkcs8(t)
			default:
				f[name] = secret.FromString(values[i] + strings.Repeat("z", 90)) // push 1024-bit keys past one segment
			}
		}
		plain, err := credentials.Build(typ, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bits := range keySizes {
			t.Run(fmt.Sprintf("%s/rsa%d", typ, bits), func(t *testing.T) {
				priv := testKey(t, bits)
				out, err := NewPool(1).Encrypt(t.Context(), &priv.PublicKey, plain)
				if err != nil {
					t.Fatalf("Encrypt: %v", err)
				}
				got, err := ciphertest.Decrypt(priv, out)
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(got, plain.Reveal()) {
					t.Errorf("round trip changed the credentials JSON")
				}
			})
		}
	}
}

// pkcs8 is a private key as a KeyPair credential holds it: PKCS#8 PEM.
func pkcs8(t *testing.T) secret.Secret {
	der, err := x509.MarshalPKCS8PrivateKey(testKey(t, 2048))
	if err != nil {
		t.Fatal(err)
	}
	return secret.New(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Every byte of the hybrid format is checked: flipping any one of them, in
// the key part or the payload, must make the gateway refuse the string.
func TestDecryptRejectsTampering(t *testing.T) {
	for _, bits := range keySizes {
		priv := testKey(t, bits)
		out, err := encryptRand(randReader(), &priv.PublicKey, bytes.Repeat([]byte("secret-json "), 20))
		if err != nil {
			t.Fatal(err)
		}
		n := len(out)
		if bits != 1024 {
			n = base64.StdEncoding.EncodedLen(priv.Size())
		}
		parts := []string{out[:n], out[n:]}
		for p, part := range parts {
			if part == "" {
				continue
			}
			raw, _ := base64.StdEncoding.DecodeString(part)
			for _, i := range []int{0, 1, 2, 33, 34, 49, 50, len(raw) / 2, len(raw) - 1} {
				if i >= len(raw) {
					continue
				}
				bad := append([]byte(nil), raw...)
				bad[i] ^= 0x01
				var tampered string
				if p == 0 {
					tampered = base64.StdEncoding.EncodeToString(bad) + parts[1]
				} else {
					tampered = parts[0] + base64.StdEncoding.EncodeToString(bad)
				}
				if _, err := ciphertest.Decrypt(priv, tampered); err == nil {
					t.Errorf("rsa%d: part %d byte %d flipped: Decrypt accepted it", bits, p, i)
				}
			}
		}
		for name, bad := range map[string]string{
			"truncated": out[:len(out)-4], "extended": out + "AAAA", "not base64": out[:len(out)-1] + "!",
			"key part only": out[:n], "empty": "",
		} {
			if bits == 1024 && name == "key part only" {
				continue
			}
			if _, err := ciphertest.Decrypt(priv, bad); err == nil {
				t.Errorf("rsa%d: %s: Decrypt accepted it", bits, name)
			}
		}
	}
}

func TestEncryptErrorsNeverContainPlaintext(t *testing.T) {
	const value = "hunter2-Sup3rSecret"
	plain := []byte(`{"credentialData":[{"name":"key","value":"` + value + `"}]}`)
	small := &rsa.PublicKey{N: new(big.Int).SetBytes(testKey(t, 1024).N.Bytes()[:64]), E: 65537}
	evenE := &rsa.PublicKey{N: testKey(t, 2048).N, E: 4}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := map[string]func() (string, error){
		"nil key":         func() (string, error) { return encryptRand(randReader(), nil, plain) },
		"512-bit key":     func() (string, error) { return encryptRand(randReader(), small, plain) },
		"even exponent":   func() (string, error) { return encryptRand(randReader(), evenE, plain) },
		"failing rand":    func() (string, error) { return encryptRand(failingReader{}, &testKey(t, 1024).PublicKey, plain) },
		"failing rand 2k": func() (string, error) { return encryptRand(failingReader{}, &testKey(t, 2048).PublicKey, plain) },
		"empty plaintext": func() (string, error) { return encryptRand(randReader(), &testKey(t, 2048).PublicKey, nil) },
		"pool small key":  func() (string, error) { return NewPool(1).Encrypt(t.Context(), small, secret.New(plain)) },
		"pool canceled": func() (string, error) {
			return NewPool(1).Encrypt(canceled, &testKey(t, 2048).PublicKey, secret.New(plain))
		},
		"pool empty input": func() (string, error) {
			return NewPool(1).Encrypt(t.Context(), &testKey(t, 1024).PublicKey, secret.Secret{})
		},
	}
	for name, run := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := run()
			if err == nil {
				t.Fatalf("succeeded with %d chars; want an error", len(out))
			}
			if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "credentialData") {
				t.Errorf("error leaks the plaintext: %v", err)
			}
		})
	}
	if _, err := encryptRand(randReader(), &testKey(t, 2048).PublicKey, nil); !errors.Is(err, ErrEmptyPlaintext) {
		t.Errorf("empty plaintext: %v, want ErrEmptyPlaintext", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source broken") }

func FuzzEncryptRoundTrip(f *testing.F) {
	f.Add([]byte(`{"credentialData":[{"name":"username","value":"user"},{"name":"password","value":"pass"}]}`), false)
	f.Add(bytes.Repeat([]byte{0xff}, 85), false)
	f.Add(bytes.Repeat([]byte{0}, 170), true)
	f.Add([]byte("\x00"), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, plain []byte, hybrid bool) {
		priv := testKey(t, 1024)
		if hybrid {
			priv = testKey(t, 2048)
		}
		out, err := encryptRand(randReader(), &priv.PublicKey, plain)
		if len(plain) == 0 {
			if !errors.Is(err, ErrEmptyPlaintext) {
				t.Fatalf("empty plaintext: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != wantLen(priv.Size(), len(plain)) {
			t.Fatalf("len = %d, want %d", len(out), wantLen(priv.Size(), len(plain)))
		}
		got, err := ciphertest.Decrypt(priv, out)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
