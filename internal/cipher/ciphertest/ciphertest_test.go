package ciphertest_test

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/secret"
)

func TestPublicKeyJSONIsPowerBIShape(t *testing.T) {
	priv, err := ciphertest.GenerateKey(1024)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(ciphertest.PublicKeyJSON(&priv.PublicKey), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["exponent"] != "AQAB" {
		t.Fatalf("PublicKeyJSON = %v, want exactly exponent AQAB and modulus", got)
	}
	mod, err := base64.StdEncoding.DecodeString(got["modulus"])
	if err != nil || len(mod) != 128 || new(big.Int).SetBytes(mod).Cmp(priv.N) != 0 {
		t.Fatalf("modulus is not the 128-byte unsigned big-endian N: %d bytes, %v", len(mod), err)
	}
}

func TestDecryptRefusesOtherKey(t *testing.T) {
	for _, bits := range []int{1024, 2048} {
		a, errA := ciphertest.GenerateKey(bits)
		b, errB := ciphertest.GenerateKey(bits)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		out, err := cipher.NewPool(1).Encrypt(t.Context(), &a.PublicKey, secret.FromString(`{"credentialData":""}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ciphertest.Decrypt(a, out); err != nil || string(got) != `{"credentialData":""}` {
			t.Fatalf("rsa%d: own key: %q, %v", bits, got, err)
		}
		if _, err := ciphertest.Decrypt(b, out); err == nil {
			t.Errorf("rsa%d: decrypted with the wrong key", bits)
		}
	}
}

func TestOpenChecksKeySizes(t *testing.T) {
	if _, err := ciphertest.Open(make([]byte, 16), make([]byte, 64), make([]byte, 66)); err == nil {
		t.Error("Open accepted a 16-byte AES key")
	}
}
