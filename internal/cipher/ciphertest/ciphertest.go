package ciphertest

import (
	"crypto/aes"
	gocipher "crypto/cipher"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Layout of the SDK's schemes (research/encryption.md §1).
const (
	legacyModulusBytes = 128
	keyBlobBytes       = 2 + 32 + 64
	tagBytes           = sha256.Size
	ivOffset           = 2 + tagBytes
	bodyOffset         = ivOffset + aes.BlockSize
)

// GenerateKey returns a new RSA key pair of the given size, like a gateway's.
//
// The gateway's side is not rotatord's: under GODEBUG=fips140=only an
// emulated gateway still has the 1024-bit key a real old one has, and
// decrypts with it, so that rotatord's own refusal of it can be seen.
func GenerateKey(bits int) (key *rsa.PrivateKey, err error) {
	fips140.WithoutEnforcement(func() { key, err = rsa.GenerateKey(rand.Reader, bits) })
	return key, err
}

// PublicKeyJSON returns pub as Power BI's GatewayPublicKey object,
// {"exponent":"AQAB","modulus":"..."}: standard base64 of the unsigned
// big-endian bytes.
func PublicKeyJSON(pub *rsa.PublicKey) []byte {
	b, err := json.Marshal(struct {
		Exponent string `json:"exponent"`
		Modulus  string `json:"modulus"`
	}{
		Exponent: base64.StdEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		Modulus:  base64.StdEncoding.EncodeToString(pub.N.Bytes()),
	})
	if err != nil {
		panic(err) // two strings always marshal
	}
	return b
}

// Decrypt returns the plaintext of a credentials string encrypted for priv's
// public key, choosing the scheme by key size as the gateway does. It
// refuses anything a strict gateway would: bad base64, wrong lengths, wrong
// fixed bytes, a bad HMAC tag, or bad PKCS#7 padding.
// Like GenerateKey, it runs without FIPS 140-3 enforcement.
func Decrypt(priv *rsa.PrivateKey, credentials string) (plain []byte, err error) {
	fips140.WithoutEnforcement(func() {
		if priv.Size() == legacyModulusBytes {
			plain, err = decryptSegmented(priv, credentials)
		} else {
			plain, err = decryptHybrid(priv, credentials)
		}
	})
	return plain, err
}

func decryptSegmented(priv *rsa.PrivateKey, credentials string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(credentials)
	if err != nil {
		return nil, fmt.Errorf("ciphertest: credentials: not standard base64: %w", err)
	}
	k := priv.Size()
	if len(raw) == 0 || len(raw)%k != 0 {
		return nil, fmt.Errorf("ciphertest: credentials: %d bytes is not a positive multiple of %d", len(raw), k)
	}
	var out []byte
	for i := 0; i < len(raw); i += k {
		seg, err := rsa.DecryptOAEP(sha1.New(), nil, priv, raw[i:i+k], nil)
		if err != nil {
			return nil, fmt.Errorf("ciphertest: segment %d: RSA-OAEP-SHA1: %w", i/k+1, err)
		}
		out = append(out, seg...)
	}
	return out, nil
}

func decryptHybrid(priv *rsa.PrivateKey, credentials string) ([]byte, error) {
	k := priv.Size()
	// Split by length, not by searching for '=': a 3072-bit key's part has no padding.
	n := 4 * ((k + 2) / 3)
	if len(credentials) <= n {
		return nil, fmt.Errorf("ciphertest: credentials: %d characters, want more than the %d-character key part", len(credentials), n)
	}
	wrapped, err := base64.StdEncoding.DecodeString(credentials[:n])
	if err != nil {
		return nil, fmt.Errorf("ciphertest: wrapped keys: not standard base64: %w", err)
	}
	if len(wrapped) != k {
		return nil, fmt.Errorf("ciphertest: wrapped keys: %d bytes, want %d", len(wrapped), k)
	}
	keys, err := rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, nil)
	if err != nil {
		return nil, fmt.Errorf("ciphertest: wrapped keys: RSA-OAEP-SHA256: %w", err)
	}
	if len(keys) != keyBlobBytes || keys[0] != 0 || keys[1] != 1 {
		return nil, fmt.Errorf("ciphertest: wrapped keys: want %d bytes starting 00 01", keyBlobBytes)
	}
	payload, err := base64.StdEncoding.DecodeString(credentials[n:])
	if err != nil {
		return nil, fmt.Errorf("ciphertest: payload: not standard base64: %w", err)
	}
	return Open(keys[2:34], keys[34:], payload)
}

// Open checks and decrypts a hybrid-scheme payload
// (00 00 || HMAC tag || IV || AES-256-CBC ciphertext) with the AES and HMAC
// keys unwrapped from its key part. Tests that unwrap the keys some other
// way (with OpenSSL, say) finish the job with it.
func Open(keyEnc, keyMac, payload []byte) ([]byte, error) {
	if len(keyEnc) != 32 || len(keyMac) != 64 {
		return nil, errors.New("ciphertest: want a 32-byte AES key and a 64-byte HMAC key")
	}
	if len(payload) < bodyOffset+aes.BlockSize || (len(payload)-bodyOffset)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("ciphertest: payload: %d bytes is not a header, tag, IV and whole AES blocks", len(payload))
	}
	if payload[0] != 0 || payload[1] != 0 {
		return nil, fmt.Errorf("ciphertest: payload: algorithm bytes %02x %02x, want 00 00", payload[0], payload[1])
	}
	mac := hmac.New(sha256.New, keyMac)
	mac.Write(payload[:2])
	mac.Write(payload[ivOffset:])
	if subtle.ConstantTimeCompare(mac.Sum(nil), payload[2:ivOffset]) != 1 {
		return nil, errors.New("ciphertest: payload: HMAC-SHA256 tag mismatch")
	}
	block, err := aes.NewCipher(keyEnc)
	if err != nil {
		return nil, fmt.Errorf("ciphertest: AES-256: %w", err)
	}
	body := append([]byte(nil), payload[bodyOffset:]...)
	gocipher.NewCBCDecrypter(block, payload[ivOffset:bodyOffset]).CryptBlocks(body, body)
	pad := int(body[len(body)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, errors.New("ciphertest: payload: bad PKCS#7 padding")
	}
	for _, b := range body[len(body)-pad:] {
		if int(b) != pad {
			return nil, errors.New("ciphertest: payload: bad PKCS#7 padding")
		}
	}
	return body[:len(body)-pad], nil
}
