// Package ciphertest is the gateway's side of package cipher: it generates
// gateway key pairs and decrypts credentials strings the way an on-premises
// Power BI gateway does, checking every fixed byte and the HMAC. The emulator
// and tests use it; nothing on a production path does.
package ciphertest
