package cipher

import (
	"crypto/rsa"
	"errors"
	"hash"
	"io"
	"sync"

	"filippo.io/bigmod"
)

// publicOp is the RSA public-key operation for one key, with its Montgomery
// modulus computed once. crypto/rsa computes it again on every EncryptOAEP
// call, about a quarter of the cost of encrypting a 1024-bit segment; a
// gateway key encrypts many segments and many credentials.
type publicOp struct {
	n *bigmod.Modulus
	e uint
	k int
}

func newPublicOp(pub *rsa.PublicKey) (*publicOp, error) {
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	n, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return nil, err
	}
	return &publicOp{n: n, e: uint(pub.E), k: pub.Size()}, nil
}

// encryptOAEP is RSAES-OAEP-ENCRYPT (RFC 8017 §7.1.1) with MGF1 over h and
// an empty label: byte for byte what rsa.EncryptOAEP makes from the same
// random seed (the tests check), computed as crypto/rsa computes it — the
// same constant-time arithmetic (filippo.io/bigmod is the standard library's
// own bigmod, published), with a short public exponent.
func (op *publicOp) encryptOAEP(h hash.Hash, rnd io.Reader, msg []byte) ([]byte, error) {
	hLen := h.Size()
	if len(msg) > op.k-2*hLen-2 {
		return nil, rsa.ErrMessageTooLong
	}
	h.Reset()
	em := make([]byte, op.k)
	seed, db := em[1:1+hLen], em[1+hLen:]
	h.Sum(db[:0]) // lHash, the hash of the empty label
	db[len(db)-len(msg)-1] = 0x01
	copy(db[len(db)-len(msg):], msg)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, errors.New("reading random seed: " + err.Error())
	}
	mgf1XOR(db, h, seed)
	mgf1XOR(seed, h, db)

	// em < 2^(8(k-1)) <= N, so it is a valid element modulo N.
	m, err := bigmod.NewNat().SetBytes(em, op.n)
	if err != nil {
		return nil, err
	}
	c := bigmod.NewNat().ExpShortVarTime(m, op.e, op.n)
	return c.Bytes(op.n), nil
}

// mgf1XOR XORs out with MGF1(seed) (RFC 8017 §B.2.1).
func mgf1XOR(out []byte, h hash.Hash, seed []byte) {
	var counter [4]byte
	var digest []byte
	for done := 0; done < len(out); {
		h.Reset()
		h.Write(seed)
		h.Write(counter[:])
		digest = h.Sum(digest[:0])
		done += xorInto(out[done:], digest)
		for i := 3; i >= 0; i-- {
			if counter[i]++; counter[i] != 0 {
				break
			}
		}
	}
}

func xorInto(dst, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] ^= src[i]
	}
	return n
}

// maxCachedKeys bounds the cache: keys are few (one per gateway), but a
// changed gateway key is a new *rsa.PublicKey and the old one must not stay
// forever.
const maxCachedKeys = 256

// publicOps caches the public operation per key.
type publicOps struct {
	mu  sync.Mutex
	ops map[*rsa.PublicKey]*publicOp
}

func (c *publicOps) get(pub *rsa.PublicKey) (*publicOp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op, ok := c.ops[pub]; ok {
		return op, nil
	}
	op, err := newPublicOp(pub)
	if err != nil {
		return nil, err
	}
	if c.ops == nil || len(c.ops) >= maxCachedKeys {
		c.ops = make(map[*rsa.PublicKey]*publicOp)
	}
	c.ops[pub] = op
	return op, nil
}
