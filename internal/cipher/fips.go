package cipher

import (
	"crypto/fips140"
	"crypto/rsa"
	"fmt"
)

// FIPSError is a gateway key the encryption cannot use while Go's FIPS 140-3
// module is enforced (GODEBUG=fips140=only). The key itself is sound: the
// gateway must be given an approved one.
type FIPSError struct {
	Bits int   // the gateway key's modulus size
	Err  error // crypto/rsa's refusal, if it made one
}

func (e *FIPSError) Error() string {
	if e.Bits == legacyModulusBytes*8 {
		return fmt.Sprintf("cipher: the gateway's %d-bit RSA key needs RSA-OAEP with SHA-1, "+
			"which FIPS 140-3 does not approve (GODEBUG=fips140=only): update the gateway so that it has "+
			"a 2048-bit key (current on-premises data gateways do), or run without fips140=only", e.Bits)
	}
	return fmt.Sprintf("cipher: the gateway's %d-bit RSA key is not approved by FIPS 140-3 "+
		"(GODEBUG=fips140=only): %v; give the gateway a 2048-bit or larger key with exponent 65537", e.Bits, e.Err)
}

func (e *FIPSError) Unwrap() error { return e.Err }

// CheckFIPS returns a *FIPSError for a 1024-bit key while FIPS 140-3 is
// enforced: the SDK's segmented scheme for such keys is built on SHA-1 OAEP,
// and the short key is not approved either. Other refusals are crypto/rsa's
// own, made when the key is used. Without enforcement it returns nil.
func CheckFIPS(pub *rsa.PublicKey) error {
	if fips140.Enforced() && pub.Size() == legacyModulusBytes {
		return &FIPSError{Bits: pub.N.BitLen()}
	}
	return nil
}

// FIPSMode names the mode Go's FIPS 140-3 module runs in, as GODEBUG's
// fips140 setting spells it: "off", "on" or "only" (enforced), with the
// module's version when it is on. Logs and `rotatord version` show it, so an
// operator can tell that a GODEBUG setting took effect.
func FIPSMode() string {
	switch {
	case fips140.Enforced():
		return "only (module " + fips140.Version() + ")"
	case fips140.Enabled():
		return "on (module " + fips140.Version() + ")"
	}
	return "off"
}
