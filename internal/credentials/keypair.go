package credentials

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
)

// PEM block types a KeyPair's private key may be: PKCS#8, in clear or
// encrypted (RFC 5958).
const (
	pemPKCS8          = "PRIVATE KEY"
	pemPKCS8Encrypted = "ENCRYPTED PRIVATE KEY"
)

// encryptedPrivateKeyInfo is PKCS#8's EncryptedPrivateKeyInfo (RFC 5958
// section 3): the shape is all that is checked, the standard library has no
// PBES2 to decrypt it with, and rotatord has no business decrypting it.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

// checkPrivateKey refuses a KeyPair private key Fabric would refuse, so the
// mistake shows at the source stage with a way to fix it rather than as a
// 400 from the service: exactly one PEM block, PKCS#8 in clear ("PRIVATE
// KEY", which must parse) or encrypted ("ENCRYPTED PRIVATE KEY", which
// needs a passphrase). Messages say what was found, never any of the
// value.
func checkPrivateKey(v []byte, hasPassphrase bool) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("credentials: KeyPair credential: field %q "+format, append([]any{FieldPrivateKey}, args...)...)
	}
	trimmed := bytes.TrimSpace(v)
	block, rest := pem.Decode(trimmed)
	switch {
	case block == nil || !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")):
		// pem.Decode skips text before a block; a key pasted after a
		// comment or a certificate's description is still not one key.
		return fail("is not PEM (want a PKCS#8 key that starts with BEGIN PRIVATE KEY)")
	case len(bytes.TrimSpace(rest)) > 0:
		if next, _ := pem.Decode(rest); next != nil {
			return fail("holds more than one PEM block (%s, then %s); want the private key alone", blockName(block.Type), blockName(next.Type))
		}
		return fail("has data after its PEM block (%s); want the private key alone", blockName(block.Type))
	}
	switch block.Type {
	case pemPKCS8:
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			// err is not shown: it is about the bytes of the key.
			return fail("is a PEM block BEGIN PRIVATE KEY that does not parse as a PKCS#8 private key")
		}
		if hasPassphrase {
			return fmt.Errorf("credentials: KeyPair credential: field %q is set but %q is not encrypted (BEGIN PRIVATE KEY): remove the passphrase, or give the encrypted key (BEGIN ENCRYPTED PRIVATE KEY)", FieldPassphrase, FieldPrivateKey)
		}
		return nil
	case pemPKCS8Encrypted:
		var info encryptedPrivateKeyInfo
		rest, err := asn1.Unmarshal(block.Bytes, &info)
		if err != nil || len(rest) > 0 || len(info.Algorithm.Algorithm) == 0 || len(info.EncryptedData) == 0 {
			return fail("is a PEM block BEGIN ENCRYPTED PRIVATE KEY that is not a PKCS#8 EncryptedPrivateKeyInfo")
		}
		if !hasPassphrase {
			return fail("is encrypted (BEGIN ENCRYPTED PRIVATE KEY) but no %q is given: add its source", FieldPassphrase)
		}
		return nil
	case "RSA PRIVATE KEY":
		return fail("is a PKCS#1 RSA key (BEGIN RSA PRIVATE KEY); Fabric needs PKCS#8: convert it with openssl pkcs8 -topk8")
	case "EC PRIVATE KEY":
		return fail("is a SEC 1 EC key (BEGIN EC PRIVATE KEY); Fabric needs PKCS#8: convert it with openssl pkcs8 -topk8")
	case "OPENSSH PRIVATE KEY":
		return fail("is an OpenSSH key (BEGIN OPENSSH PRIVATE KEY); Fabric needs PKCS#8: convert a copy with ssh-keygen -p -m PKCS8 -f FILE")
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return fail("is a %s, not a private key", blockName(block.Type))
	}
	return fail("is a %s; want a PKCS#8 private key (BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY)", blockName(block.Type))
}

// blockName describes a PEM block by its type, as "PEM block BEGIN TYPE".
// The type is shown only when it looks like one (capitals, digits, spaces,
// at most 40): pem.Decode takes any text there, and a value pasted into the
// wrong field must not end up in a log.
func blockName(typ string) string {
	if len(typ) == 0 || len(typ) > 40 {
		return "PEM block of an unknown type"
	}
	for _, c := range []byte(typ) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '#' || c == '-') {
			return "PEM block of an unknown type"
		}
	}
	return "PEM block BEGIN " + typ
}
