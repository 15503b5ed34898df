package cipher

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// keySizes are the gateway key sizes under test; testdata holds one
// committed key of each, so no test pays for 3072/4096-bit key generation.
var keySizes = []int{1024, 2048, 3072, 4096}

var testKeys = sync.OnceValues(func() (map[int]*rsa.PrivateKey, error) {
	keys := map[int]*rsa.PrivateKey{}
	for _, bits := range keySizes {
		path := filepath.Join("testdata", fmt.Sprintf("rsa%d.pem", bits))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok || priv.N.BitLen() != bits {
			return nil, fmt.Errorf("%s: not a %d-bit RSA key", path, bits)
		}
		keys[bits] = priv
	}
	return keys, nil
})

func testKey(tb testing.TB, bits int) *rsa.PrivateKey {
	tb.Helper()
	keys, err := testKeys()
	if err != nil {
		tb.Fatal(err)
	}
	return keys[bits]
}

// encryptRand is Pool.Encrypt with rnd for its randomness, so that tests
// can pin it or make it fail.
func encryptRand(rnd io.Reader, pub *rsa.PublicKey, plaintext []byte) (string, error) {
	return encrypt(context.Background(), NewPool(1), rnd, pub, plaintext)
}
