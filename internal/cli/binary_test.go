package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// TestBinaryEncryptPipeline builds the real binary and uses it the way a
// newcomer would: save the Get Gateway response, pipe the fields in, and
// paste the output into a PATCH. The gateway side is ciphertest.
func TestBinaryEncryptPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rotatord")
	build := exec.CommandContext(t.Context(), goTool, "build",
		"-ldflags", "-X github.com/rotatord/rotatord/internal/cli.Version=v0.0.0-test",
		"-o", bin, "github.com/rotatord/rotatord/cmd/rotatord")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var godebug string // GODEBUG of the next runs
	rotatord := func(stdin string, args ...string) (int, string, string) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil && cmd.ProcessState == nil {
			t.Fatalf("run %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	if code, out, _ := rotatord("", "version"); code != 0 || !strings.HasPrefix(out, "rotatord v0.0.0-test (go") {
		t.Errorf("version: exit %d, %q; want the -ldflags version", code, out)
	}

	priv := mustKey(t, key2048)
	gateway := filepath.Join(dir, "gateway.json")
	resp := `{"id":"1f69e798-5852-4fdd-ab01-33bb14b6e934","name":"My_Sample_Gateway","type":"Resource","publicKey":` +
		string(ciphertest.PublicKeyJSON(&priv.PublicKey)) + `}`
	if err := os.WriteFile(gateway, []byte(resp), 0o600); err != nil {
		t.Fatal(err)
	}
	fields := `{"username": "CONTOSO\\svc_powerbi", "password": "` + secretValue + ` ü<&>\"\\"}` + "\n"
	code, out, stderr := rotatord(fields, "encrypt", "--gateway-key", gateway, "--type", "Windows")
	if code != 0 || stderr != "" {
		t.Fatalf("encrypt: exit %d, stderr %q", code, stderr)
	}
	plain, err := ciphertest.Decrypt(priv, strings.TrimSuffix(out, "\n"))
	if err != nil {
		t.Fatalf("the gateway cannot decrypt the output: %v", err)
	}
	var doc struct {
		CredentialData []struct{ Name, Value string } `json:"credentialData"`
	}
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.CredentialData) != 2 ||
		doc.CredentialData[0].Name != "username" || doc.CredentialData[0].Value != `CONTOSO\svc_powerbi` ||
		doc.CredentialData[1].Name != "password" || doc.CredentialData[1].Value != secretValue+` ü<&>"\` {
		t.Errorf("decrypted %+v", doc.CredentialData)
	}

	code, out, stderr = rotatord(`{"username":"svc","pasword":"`+secretValue+`"}`, "encrypt", "--gateway-key", gateway, "--type", "Basic")
	if code != 2 || out != "" || stderr != "rotatord encrypt: credentials: Basic credential: missing field \"password\"\n" {
		t.Errorf("typo in field: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if code, _, stderr := rotatord("", "frobnicate"); code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}

	godebug = "fips140=on"
	if code, out, _ := rotatord("", "version"); code != 0 || !strings.HasSuffix(out, "; fips140 on (module latest))\n") {
		t.Errorf("version under fips140=on: exit %d, %q; want it to say the mode and the module", code, out)
	}

	// Under FIPS 140-3 enforcement a 2048-bit gateway key still works, and a
	// 1024-bit one is refused before stdin is read, with exit 2: no retry or
	// other input makes that key usable.
	godebug = "fips140=only"
	if code, out, stderr := rotatord(`{"key":"`+secretValue+`"}`, "encrypt", "--gateway-key", gateway, "--type", "Key"); code != 0 {
		t.Errorf("fips140=only, 2048-bit key: exit %d, stderr %q", code, stderr)
	} else if got, err := ciphertest.Decrypt(priv, strings.TrimSuffix(out, "\n")); err != nil || !strings.Contains(string(got), secretValue) {
		t.Errorf("fips140=only, 2048-bit key: the gateway cannot decrypt the output: %v", err)
	}
	old := filepath.Join(dir, "gateway1024.json")
	if err := os.WriteFile(old, ciphertest.PublicKeyJSON(&mustKey(t, key1024).PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = rotatord(`{"key":"`+secretValue+`"}`, "encrypt", "--gateway-key", old, "--type", "Key")
	want := "rotatord encrypt: cipher: the gateway's 1024-bit RSA key needs RSA-OAEP with SHA-1, which FIPS 140-3 " +
		"does not approve (GODEBUG=fips140=only): update the gateway so that it has a 2048-bit key " +
		"(current on-premises data gateways do), or run without fips140=only\n"
	if code != 2 || out != "" || stderr != want {
		t.Errorf("fips140=only, 1024-bit key: exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, stderr, want)
	}
}
