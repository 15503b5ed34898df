// Package cipher encrypts credentials JSON with a Power BI gateway's public
// key, byte for byte as the Power BI .NET SDK does, so an on-premises gateway
// can decrypt it.
//
// The scheme follows the key size, as in the SDK's AsymmetricKeyEncryptor:
//
//   - A 1024-bit modulus: the plaintext is cut into 85-byte segments, each
//     encrypted with RSA-OAEP (SHA-1, MGF1-SHA-1), and the 128-byte blocks are
//     concatenated and base64-encoded.
//   - Any larger modulus: a hybrid scheme. Random AES-256 and HMAC-SHA256 keys
//     encrypt and authenticate the plaintext (AES-256-CBC, PKCS#7), the keys
//     are wrapped with RSA-OAEP-SHA256, and the result is
//     base64(wrapped keys) + base64(payload).
//
// Every primitive is the standard library's (crypto/rsa.EncryptOAEP,
// crypto/aes, crypto/hmac), so GODEBUG=fips140=on runs the encryption inside
// Go's FIPS 140-3 module. Under fips140=only a 1024-bit key is refused with a
// *FIPSError: its scheme needs SHA-1 OAEP, which the module does not approve.
//
// The RSA operations are the expensive part, so every rotation shares one
// bounded Pool that caps how many run at once and counts them for metrics.
//
// Package ciphertest holds the matching decryptor, for emulators and tests.
package cipher
