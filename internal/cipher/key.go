package cipher

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Key size limits. Power BI gateways send 2048-bit keys today (1024-bit ones
// before 2020). The lower bound is DESIGN's "keys under 1024 bits are
// refused"; the upper one stops a corrupt or hostile key from making every
// encryption arbitrarily slow.
const (
	MinKeyBits = 1024
	MaxKeyBits = 16384
)

// maxExponent keeps E within the int32 range that crypto/rsa (and .NET's
// RSAParameters) handle.
const maxExponent = 1<<31 - 1

// gatewayKey is GatewayPublicKey in the Power BI swagger.
type gatewayKey struct {
	Exponent *string `json:"exponent"`
	Modulus  *string `json:"modulus"`
}

// ParsePublicKey reads a gateway public key from either a Get Gateway
// response ({"id":...,"publicKey":{"exponent":"AQAB","modulus":"..."}}) or
// the bare {"exponent":...,"modulus":...} object, and validates it like
// PublicKeyFromBase64.
func ParsePublicKey(data []byte) (*rsa.PublicKey, error) {
	var doc struct {
		PublicKey *gatewayKey `json:"publicKey"`
		gatewayKey
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not valid JSON (syntax error at byte %d)", syn.Offset)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, typeError(typ)
		}
		return nil, err
	}
	k := doc.PublicKey
	if k == nil {
		if doc.Exponent == nil && doc.Modulus == nil {
			return nil, errors.New(`publicKey: missing; want a Get Gateway response or a {"exponent":...,"modulus":...} object`)
		}
		k = &doc.gatewayKey
	}
	if k.Exponent == nil {
		return nil, errors.New("publicKey.exponent: missing")
	}
	if k.Modulus == nil {
		return nil, errors.New("publicKey.modulus: missing")
	}
	return PublicKeyFromBase64(*k.Exponent, *k.Modulus)
}

// PublicKeyFromBase64 builds an RSA public key from the standard-base64,
// unsigned big-endian exponent and modulus Power BI returns. It refuses keys
// under MinKeyBits or over MaxKeyBits, an even modulus, and an exponent that
// is even, below 3 or above 2^31-1; each error names the field.
//
// Leading zero bytes (a sign byte some encoders add) are ignored: the
// modulus's size, and so the encryption scheme, comes from its numeric value.
// The SDK compares the raw decoded length with 128 instead, which differs
// only for a padded 1024-bit modulus; a gateway never sends one, and treating
// it as the 1024-bit key it is, is what the gateway can decrypt.
func PublicKeyFromBase64(exponent, modulus string) (*rsa.PublicKey, error) {
	eb, err := decodeField("publicKey.exponent", exponent)
	if err != nil {
		return nil, err
	}
	mb, err := decodeField("publicKey.modulus", modulus)
	if err != nil {
		return nil, err
	}

	e := new(big.Int).SetBytes(eb)
	if e.BitLen() > 31 || e.Int64() > maxExponent {
		return nil, errors.New("publicKey.exponent: larger than 2^31-1")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(mb), E: int(e.Int64())}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkPublicKey refuses what PublicKeyFromBase64 refuses, for keys that
// reach the encryption some other way.
func checkPublicKey(pub *rsa.PublicKey) error {
	switch {
	case pub.E > maxExponent:
		return errors.New("publicKey.exponent: larger than 2^31-1")
	case pub.E < 3:
		return fmt.Errorf("publicKey.exponent: %d is too small; want an odd number of at least 3", pub.E)
	case pub.E%2 == 0:
		return fmt.Errorf("publicKey.exponent: %d is even; an RSA exponent is odd", pub.E)
	}
	switch bits := pub.N.BitLen(); {
	case bits < MinKeyBits:
		return fmt.Errorf("publicKey.modulus: %d-bit key is too small; want at least %d bits", bits, MinKeyBits)
	case bits > MaxKeyBits:
		return fmt.Errorf("publicKey.modulus: %d-bit key is too large; want at most %d bits", bits, MaxKeyBits)
	case pub.N.Bit(0) == 0:
		return errors.New("publicKey.modulus: even; an RSA modulus is odd")
	}
	return nil
}

func decodeField(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%s: empty", name)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not standard base64: %w", name, err)
	}
	return b, nil
}

// typeError names the field a JSON value of the wrong type sits in, in the
// same publicKey.* spelling as the other errors, whichever form was given.
func typeError(e *json.UnmarshalTypeError) error {
	field, want := e.Field, "object"
	switch {
	case field == "":
		return fmt.Errorf("want a JSON object, got a JSON %s", e.Value)
	case strings.HasSuffix(field, "exponent"), strings.HasSuffix(field, "modulus"):
		// The bare form reports "exponent" or "gatewayKey.exponent".
		want = "string"
		field = "publicKey." + field[strings.LastIndex(field, ".")+1:]
	}
	return fmt.Errorf("%s: want a JSON %s, got a JSON %s", field, want, e.Value)
}
