package cipher

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"testing"
)

// TestEncryptOAEPMatchesTheStandardLibrary: from the same seed, encryptOAEP
// makes the very bytes rsa.EncryptOAEP makes, for every hash, key size and
// message length that fits; rsa.DecryptOAEP opens them.
func TestEncryptOAEPMatchesTheStandardLibrary(t *testing.T) {
	for _, bits := range []int{1024, 2048, 3072, 4096} {
		priv := testKey(t, bits)
		op, err := newPublicOp(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, hf := range []func() hash.Hash{sha1.New, sha256.New} {
			limit := priv.Size() - 2*hf().Size() - 2
			for _, n := range []int{0, 1, 16, 62, 85, 98, limit} {
				if n > limit {
					continue
				}
				msg := bytes.Repeat([]byte{byte(n)}, n)
				seed := bytes.Repeat([]byte{byte(bits)}, 64)
				got, err := op.encryptOAEP(hf(), bytes.NewReader(seed), msg)
				if err != nil {
					t.Fatalf("%d bits, %d bytes: %v", bits, n, err)
				}
				want, err := rsa.EncryptOAEP(hf(), bytes.NewReader(seed), &priv.PublicKey, msg, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%d bits, %d-byte hash, %d bytes: differs from rsa.EncryptOAEP", bits, hf().Size(), n)
				}
				plain, err := rsa.DecryptOAEP(hf(), nil, priv, got, nil)
				if err != nil || !bytes.Equal(plain, msg) {
					t.Errorf("%d bits, %d bytes: round trip failed: %v", bits, n, err)
				}
			}
			if _, err := op.encryptOAEP(hf(), rand.Reader, make([]byte, limit+1)); err != rsa.ErrMessageTooLong {
				t.Errorf("a message over the limit: err = %v", err)
			}
		}
	}
}

// BenchmarkOAEP1024 compares one 1024-bit segment through crypto/rsa and
// through the cached public operation.
func BenchmarkOAEP1024(b *testing.B) {
	priv := testKey(b, 1024)
	msg := make([]byte, SegmentBytes)
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, &priv.PublicKey, msg, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-modulus", func(b *testing.B) {
		op, err := newPublicOp(&priv.PublicKey)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := op.encryptOAEP(sha1.New(), rand.Reader, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
