package cipher

import (
	"context"
	"crypto/aes"
	gocipher "crypto/cipher"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Layout constants of the SDK's two schemes (research/encryption.md §1).
const (
	// legacyModulusBytes selects the segmented scheme: Asymmetric1024KeyEncryptionHelper.
	legacyModulusBytes = 128
	// SegmentBytes is how much plaintext one RSA-OAEP-SHA1 block carries
	// with a 1024-bit key (the SDK's SegmentLength; OAEP-SHA1 allows 86).
	SegmentBytes = 85

	aesKeyBytes  = 32 // AES-256
	macKeyBytes  = 64 // HMAC-SHA256 key, one SHA-256 block
	tagBytes     = sha256.Size
	ivBytes      = aes.BlockSize
	headerBytes  = 2                             // algorithm choices {Aes256CbcPkcs7, HMACSHA256} = {0, 0}
	keyBlobBytes = 2 + aesKeyBytes + macKeyBytes // {KeyLength32, KeyLength64} = {0, 1} || keyEnc || keyMac
	ivOffset     = headerBytes + tagBytes
	bodyOffset   = ivOffset + ivBytes
)

// ErrEmptyPlaintext is returned for an empty plaintext; the SDK refuses one too.
var ErrEmptyPlaintext = errors.New("cipher: empty plaintext")

// segmentCount is how many SegmentBytes segments n bytes make.
func segmentCount(n int) int { return (n + SegmentBytes - 1) / SegmentBytes }

// encrypt does the work for Pool.Encrypt; rnd supplies all randomness
// (crypto/rand.Reader there; tests pin or break it). Each RSA operation is
// bracketed by p.acquire and p.release rather than passed as a closure,
// which would cost an allocation per segment.
func encrypt(ctx context.Context, p *Pool, rnd io.Reader, pub *rsa.PublicKey, plaintext []byte) (string, error) {
	if pub == nil || pub.N == nil {
		return "", errors.New("cipher: no public key")
	}
	if len(plaintext) == 0 {
		return "", ErrEmptyPlaintext
	}
	if err := checkPublicKey(pub); err != nil {
		return "", fmt.Errorf("cipher: public key: %w", err)
	}
	if err := CheckFIPS(pub); err != nil {
		return "", err
	}
	// The SDK tests len(base64-decoded modulus) == 128; Size is that length
	// with any leading zero bytes dropped (see PublicKeyFromBase64).
	if pub.Size() == legacyModulusBytes {
		return encryptSegmented(ctx, p, rnd, pub, plaintext)
	}
	return encryptHybrid(ctx, p, rnd, pub, plaintext)
}

// encryptSegmented is Asymmetric1024KeyEncryptionHelper.Encrypt.
func encryptSegmented(ctx context.Context, p *Pool, rnd io.Reader, pub *rsa.PublicKey, plaintext []byte) (string, error) {
	n := segmentCount(len(plaintext))
	out := make([]byte, 0, n*pub.Size())
	h := sha1.New() // reused: rsa.EncryptOAEP resets it
	for i := 0; i < len(plaintext); i += SegmentBytes {
		if err := p.acquire(ctx); err != nil {
			return "", err
		}
		block, err := rsa.EncryptOAEP(h, rnd, pub, plaintext[i:min(i+SegmentBytes, len(plaintext))], nil)
		p.release(err == nil)
		if err != nil {
			return "", fmt.Errorf("cipher: RSA-OAEP-SHA1 segment %d of %d: %w", i/SegmentBytes+1, n, err)
		}
		out = append(out, block...)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// encryptHybrid is AsymmetricHigherKeyEncryptionHelper.Encrypt with
// AuthenticatedEncryption.Encrypt.
func encryptHybrid(ctx context.Context, p *Pool, rnd io.Reader, pub *rsa.PublicKey, plaintext []byte) (string, error) {
	keys := make([]byte, keyBlobBytes)
	defer clear(keys)
	keys[0], keys[1] = 0, 1
	if _, err := io.ReadFull(rnd, keys[2:]); err != nil {
		return "", fmt.Errorf("cipher: random AES and HMAC keys: %w", err)
	}
	keyEnc, keyMac := keys[2:2+aesKeyBytes], keys[2+aesKeyBytes:]

	pad := aes.BlockSize - len(plaintext)%aes.BlockSize // PKCS#7: 1..16, a full block when aligned
	payload := make([]byte, bodyOffset+len(plaintext)+pad)
	iv, body := payload[ivOffset:bodyOffset], payload[bodyOffset:]
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return "", fmt.Errorf("cipher: random IV: %w", err)
	}
	copy(body, plaintext)
	for i := len(plaintext); i < len(body); i++ {
		body[i] = byte(pad)
	}
	block, err := aes.NewCipher(keyEnc)
	if err != nil {
		return "", fmt.Errorf("cipher: AES-256: %w", err)
	}
	gocipher.NewCBCEncrypter(block, iv).CryptBlocks(body, body)

	mac := hmac.New(sha256.New, keyMac)
	mac.Write(payload[:headerBytes])
	mac.Write(payload[ivOffset:])
	mac.Sum(payload[headerBytes:headerBytes]) // the tag, written in its place

	if err := p.acquire(ctx); err != nil {
		return "", err
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rnd, pub, keys, nil)
	p.release(err == nil)
	if err != nil {
		if fips140.Enforced() {
			// Whatever else the module refuses (an exponent of 2^16 or less,
			// an odd key size) is a FIPS refusal too, not a broken key.
			return "", &FIPSError{Bits: pub.N.BitLen(), Err: err}
		}
		return "", fmt.Errorf("cipher: RSA-OAEP-SHA256 key wrap: %w", err)
	}
	enc := base64.StdEncoding
	out := make([]byte, enc.EncodedLen(len(wrapped))+enc.EncodedLen(len(payload)))
	enc.Encode(out, wrapped)
	enc.Encode(out[enc.EncodedLen(len(wrapped)):], payload)
	return string(out), nil
}
