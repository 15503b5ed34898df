package cipher

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/big"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParsePublicKeyAccepts(t *testing.T) {
	pub := &testKey(t, 2048).PublicKey
	mod, exp := b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	bare := ciphertest.PublicKeyJSON(pub)
	tests := map[string][]byte{
		"get gateway response": fmt.Appendf(nil, `{"id":"1f69e798-5852-4fdd-ab01-33bb14b6e934","name":"gw","type":"Resource","publicKey":{"exponent":%q,"modulus":%q}}`, exp, mod),
		"bare publicKey":       bare,
		"ciphertest output":    ciphertest.PublicKeyJSON(pub),
		"whitespace":           fmt.Appendf(nil, "{\n  \"publicKey\": {\n    \"exponent\": %q,\n    \"modulus\": %q\n  }\n}\n", exp, mod),
		"leading zero bytes":   fmt.Appendf(nil, `{"exponent":%q,"modulus":%q}`, b64([]byte{0, 1, 0, 1}), b64(append([]byte{0}, pub.N.Bytes()...))),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePublicKey(data)
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if !got.Equal(pub) {
				t.Errorf("ParsePublicKey = %d-bit key with E=%d, want the test key", got.N.BitLen(), got.E)
			}
		})
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	mod1024 := b64(testKey(t, 1024).N.Bytes())
	small := new(big.Int).Lsh(big.NewInt(1), 1022) // 1023 bits
	small.SetBit(small, 0, 1)
	even := new(big.Int).Set(testKey(t, 1024).N)
	even.SetBit(even, 0, 0)
	huge := new(big.Int).Lsh(big.NewInt(1), MaxKeyBits) // 16385 bits
	huge.SetBit(huge, 0, 1)
	key := func(e, m string) []byte { return fmt.Appendf(nil, `{"publicKey":{"exponent":%q,"modulus":%q}}`, e, m) }
	tests := map[string]struct {
		data []byte
		want string
	}{
		"not json":           {[]byte("exponent=AQAB"), "not valid JSON (syntax error at byte 1)"},
		"empty input":        {nil, "not valid JSON (syntax error at byte 0)"},
		"array":              {[]byte(`[]`), "want a JSON object, got a JSON array"},
		"publicKey string":   {[]byte(`{"publicKey":"AQAB"}`), "publicKey: want a JSON object, got a JSON string"},
		"numeric exponent":   {[]byte(`{"publicKey":{"exponent":65537,"modulus":"AQAB"}}`), "publicKey.exponent: want a JSON string, got a JSON number"},
		"bare numeric mod":   {[]byte(`{"exponent":"AQAB","modulus":12}`), "publicKey.modulus: want a JSON string, got a JSON number"},
		"no key at all":      {[]byte(`{"id":"x"}`), `publicKey: missing; want a Get Gateway response or a {"exponent":...,"modulus":...} object`},
		"null publicKey":     {[]byte(`{"publicKey":null}`), `publicKey: missing; want a Get Gateway response or a {"exponent":...,"modulus":...} object`},
		"missing exponent":   {[]byte(`{"publicKey":{"modulus":"AQAB"}}`), "publicKey.exponent: missing"},
		"missing modulus":    {[]byte(`{"exponent":"AQAB"}`), "publicKey.modulus: missing"},
		"empty modulus":      {key("AQAB", ""), "publicKey.modulus: empty"},
		"url base64 modulus": {key("AQAB", "ab-_"), "publicKey.modulus: not standard base64: illegal base64 data at input byte 2"},
		"bad exponent b64":   {key("AQAB!", mod1024), "publicKey.exponent: not standard base64: illegal base64 data at input byte 4"},
		"exponent 1":         {key(b64([]byte{1}), mod1024), "publicKey.exponent: 1 is too small; want an odd number of at least 3"},
		"exponent 0":         {key(b64([]byte{0}), mod1024), "publicKey.exponent: 0 is too small; want an odd number of at least 3"},
		"exponent even":      {key(b64([]byte{1, 0, 0}), mod1024), "publicKey.exponent: 65536 is even; an RSA exponent is odd"},
		"exponent 2^31+1":    {key(b64([]byte{0x80, 0, 0, 1}), mod1024), "publicKey.exponent: larger than 2^31-1"},
		"exponent 2^64+1":    {key(b64([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1}), mod1024), "publicKey.exponent: larger than 2^31-1"},
		"1023-bit modulus":   {key("AQAB", b64(small.Bytes())), "publicKey.modulus: 1023-bit key is too small; want at least 1024 bits"},
		"512-bit modulus":    {key("AQAB", b64(testKey(t, 1024).N.Bytes()[:64])), "publicKey.modulus: 512-bit key is too small; want at least 1024 bits"},
		"even modulus":       {key("AQAB", b64(even.Bytes())), "publicKey.modulus: even; an RSA modulus is odd"},
		"huge modulus":       {key("AQAB", b64(huge.Bytes())), "publicKey.modulus: 16385-bit key is too large; want at most 16384 bits"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePublicKey(tc.data)
			if err == nil {
				t.Fatalf("ParsePublicKey accepted a %d-bit key", got.N.BitLen())
			}
			if err.Error() != tc.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

// A modulus sent with a leading 0x00 sign byte decodes to 129 bytes. The SDK
// would compare 129 with 128 and pick the hybrid scheme; we strip the zero
// and use the segmented scheme a 1024-bit gateway key calls for.
func TestLeadingZeroModulusKeepsSegmentedScheme(t *testing.T) {
	priv := testKey(t, 1024)
	padded := append([]byte{0, 0}, priv.N.Bytes()...)
	pub, err := PublicKeyFromBase64("AQAB", b64(padded))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Size() != 128 {
		t.Fatalf("Size() = %d, want 128", pub.Size())
	}
	plain := bytes.Repeat([]byte("x"), 100)
	out, err := encryptRand(randReader(), pub, plain)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2*128 {
		t.Fatalf("ciphertext is %d bytes, want 256 (two OAEP-SHA1 segments)", len(raw))
	}
	got, err := ciphertest.Decrypt(priv, out)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, bits := range []int{1024, 2048} {
		pub := &testKey(f, bits).PublicKey
		f.Add(ciphertest.PublicKeyJSON(pub))
		f.Add(fmt.Appendf(nil, `{"id":"g","publicKey":%s}`, ciphertest.PublicKeyJSON(pub)))
	}
	f.Add([]byte(`{"publicKey":{"exponent":"AQAB","modulus":"AQAB"}}`))
	f.Add([]byte(`{"exponent":"AA==","modulus":""}`))
	f.Add([]byte(`{"publicKey":{"exponent":"gAAAAQ==","modulus":"/////w=="}}`))
	f.Add([]byte(`{"publicKey":null,"exponent":"AQAB"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKey(data)
		if err != nil {
			return
		}
		if bits := pub.N.BitLen(); bits < MinKeyBits || bits > MaxKeyBits {
			t.Fatalf("accepted a %d-bit modulus", bits)
		}
		if pub.E < 3 || pub.E%2 == 0 || pub.N.Bit(0) == 0 {
			t.Fatalf("accepted exponent %d / even modulus", pub.E)
		}
		again, err := ParsePublicKey(ciphertest.PublicKeyJSON(pub))
		if err != nil || !again.Equal(pub) {
			t.Fatalf("accepted key does not survive a PublicKeyJSON round trip: %v", err)
		}
	})
}
