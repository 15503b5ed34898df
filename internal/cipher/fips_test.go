package cipher

import (
	"crypto/fips140"
	"crypto/rsa"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/secret"
)

// runUnder runs the calling test again in a child test binary with
// GODEBUG=fips140=mode, since the mode is fixed when a program starts; it
// reports whether this process is already that child.
func runUnder(t *testing.T, mode string) bool {
	t.Helper()
	if os.Getenv("ROTATORD_FIPS_CHILD") == mode {
		return true
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140="+mode, "ROTATORD_FIPS_CHILD="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("under GODEBUG=fips140=%s: %v\n%s", mode, err, out)
	}
	return false
}

// TestFIPSOnly: with the module enforced, 2048-bit and larger gateway keys
// encrypt as always, and a 1024-bit key fails with a *FIPSError that names
// its size and what to do, before any RSA operation is counted.
func TestFIPSOnly(t *testing.T) {
	if !runUnder(t, "only") {
		return
	}
	if !fips140.Enforced() {
		t.Fatal("the child runs without fips140=only enforced")
	}
	plain := secret.FromString(`{"credentialData":[{"name":"key","value":"k"}]}`)
	p := NewPool(1)
	for _, bits := range []int{2048, 3072, 4096} {
		priv := testKey(t, bits)
		out, err := p.Encrypt(t.Context(), &priv.PublicKey, plain)
		if err != nil {
			t.Fatalf("rsa%d: %v", bits, err)
		}
		if got, err := ciphertest.Decrypt(priv, out); err != nil || string(got) != plain.RevealString() {
			t.Fatalf("rsa%d: round trip: %v", bits, err)
		}
	}
	counted := p.Segments()

	_, err := p.Encrypt(t.Context(), &testKey(t, 1024).PublicKey, plain)
	var fe *FIPSError
	if !errors.As(err, &fe) || fe.Bits != 1024 {
		t.Fatalf("rsa1024: err = %v, want a *FIPSError for 1024 bits", err)
	}
	for _, want := range []string{"1024-bit", "SHA-1", "fips140=only", "2048-bit key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rsa1024 error %q does not say %q", err, want)
		}
	}
	if CheckFIPS(&testKey(t, 1024).PublicKey) == nil {
		t.Error("CheckFIPS(rsa1024) = nil under fips140=only")
	}
	if p.Segments() != counted {
		t.Errorf("the refused key counted %d RSA operations", p.Segments()-counted)
	}

	// What crypto/rsa itself refuses in this mode is a FIPS refusal too.
	smallE := &rsa.PublicKey{N: testKey(t, 2048).N, E: 3}
	if _, err := p.Encrypt(t.Context(), smallE, plain); !errors.As(err, &fe) || !strings.Contains(err.Error(), "2048-bit") {
		t.Errorf("rsa2048 with e=3: err = %v, want a *FIPSError", err)
	}
}

// TestFIPSOn: fips140=on runs every key size through the validated module,
// 1024-bit keys included: nothing is refused, only enforcement refuses.
func TestFIPSOn(t *testing.T) {
	if !runUnder(t, "on") {
		return
	}
	if !fips140.Enabled() || fips140.Enforced() {
		t.Fatalf("fips140.Enabled()=%v Enforced()=%v, want true false", fips140.Enabled(), fips140.Enforced())
	}
	for _, bits := range keySizes {
		priv := testKey(t, bits)
		out, err := NewPool(1).Encrypt(t.Context(), &priv.PublicKey, benchCredential)
		if err != nil {
			t.Fatalf("rsa%d: %v", bits, err)
		}
		if got, err := ciphertest.Decrypt(priv, out); err != nil || string(got) != benchCredential.RevealString() {
			t.Fatalf("rsa%d: round trip: %v", bits, err)
		}
		if CheckFIPS(&priv.PublicKey) != nil {
			t.Errorf("CheckFIPS(rsa%d) refuses without enforcement", bits)
		}
	}
}
