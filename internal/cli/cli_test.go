package cli

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// secretValue is in every stdin of the error cases; it must never reach
// stdout or stderr.
const secretValue = "Hunter2-s3cr3t"

// run runs the CLI in-process and returns exit code, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var (
	key1024 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return ciphertest.GenerateKey(1024) })
	key2048 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return ciphertest.GenerateKey(2048) })
)

func mustKey(t *testing.T, f func() (*rsa.PrivateKey, error)) *rsa.PrivateKey {
	t.Helper()
	k, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyFiles writes the gateway key files the tests use into a fresh working
// directory, so error lines can name them exactly.
func keyFiles(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
	files := map[string]string{
		"gw1024.json":    fmt.Sprintf(`{"id":"1f69e798-5852-4fdd-ab01-33bb14b6e934","name":"gw","publicKey":%s}`, ciphertest.PublicKeyJSON(&mustKey(t, key1024).PublicKey)),
		"gw2048.json":    string(ciphertest.PublicKeyJSON(&mustKey(t, key2048).PublicKey)),
		"small.json":     `{"publicKey":{"exponent":"AQAB","modulus":"` + strings.Repeat("A", 80) + `"}}`,
		"nomodulus.json": `{"publicKey":{"exponent":"AQAB"}}`,
		"badb64.json":    `{"exponent":"AQAB","modulus":"not-base64!"}`,
		"notjson.json":   "-----BEGIN PUBLIC KEY-----\n",
	}
	for name, data := range files {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTopLevel(t *testing.T) {
	tests := map[string]struct {
		args       []string
		code       int
		stdoutHas  string
		wantStderr string // exact; "*" = the usage
	}{
		"no command":      {nil, ExitUsage, "", "*"},
		"help":            {[]string{"-h"}, ExitOK, "\n  encrypt   print a data source's credentials string, encrypted with a gateway key\n", ""},
		"help word":       {[]string{"help"}, ExitOK, "  version   print rotatord's version\n", ""},
		"unknown command": {[]string{"rotate"}, ExitUsage, "", "rotatord: unknown command \"rotate\"; run 'rotatord -h' for the list\n"},
		"version":         {[]string{"version"}, ExitOK, "rotatord devel (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "; fips140 off)\n", ""},
		"version extra":   {[]string{"version", "now"}, ExitUsage, "", "rotatord version: takes no arguments\n"},
		"version flag":    {[]string{"version", "--short"}, ExitUsage, "", "rotatord version: flag provided but not defined: -short (see -h)\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d", code, tc.code)
			}
			if !strings.Contains(stdout, tc.stdoutHas) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tc.stdoutHas)
			}
			if tc.wantStderr == "*" {
				if !strings.HasPrefix(stderr, "Usage: rotatord COMMAND") {
					t.Errorf("stderr = %q, want the usage", stderr)
				}
			} else if stderr != tc.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tc.wantStderr)
			}
		})
	}
}

func TestEncryptHelp(t *testing.T) {
	for _, args := range [][]string{{"encrypt", "-h"}, {"encrypt", "--help"}, {"help", "encrypt"}} {
		code, stdout, stderr := run(t, "", args...)
		if code != ExitOK || stdout != "" || !strings.HasPrefix(stderr, "Usage: rotatord encrypt --type TYPE") || !strings.Contains(stderr, "-gateway-key FILE") {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestEncryptPlain(t *testing.T) {
	tests := map[string]struct {
		typ, stdin, want string
	}{
		"basic":             {"Basic", `{"username":"svc","password":"p<&>\"x"}`, `{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"p<&>\"x"}]}`},
		"windows order":     {"Windows", `{"password":"pw","username":"CONTOSO\\svc"}`, `{"credentialData":[{"name":"username","value":"CONTOSO\\svc"},{"name":"password","value":"pw"}]}`},
		"key":               {"Key", ` {"key": "k3y"} ` + "\n", `{"credentialData":[{"name":"key","value":"k3y"}]}`},
		"oauth2 sdk name":   {"OAuth2", `{"accessToken":"eyJ0"}`, `{"credentialData":[{"name":"accessToken","value":"eyJ0"}]}`},
		"oauth2 config":     {"OAuth2", `{"access_token":"eyJ0"}`, `{"credentialData":[{"name":"accessToken","value":"eyJ0"}]}`},
		"sas":               {"SAS", `{"token":"sp=rl&sig=x"}`, `{"credentialData":[{"name":"token","value":"sp=rl&sig=x"}]}`},
		"anonymous":         {"Anonymous", `{}`, `{"credentialData":""}`},
		"anonymous no data": {"Anonymous", "", `{"credentialData":""}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.stdin, "encrypt", "--type", tc.typ)
			if code != ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if stdout != tc.want+"\n" {
				t.Errorf("stdout = %q, want %q", stdout, tc.want+"\n")
			}
		})
	}
}

func TestEncryptWithGatewayKey(t *testing.T) {
	keyFiles(t)
	for file, priv := range map[string]*rsa.PrivateKey{"gw1024.json": mustKey(t, key1024), "gw2048.json": mustKey(t, key2048)} {
		t.Run(file, func(t *testing.T) {
			stdin := `{"username":"CONTOSO\\svc","password":"` + secretValue + `ü\"<&>"}`
			code, stdout, stderr := run(t, stdin, "encrypt", "--gateway-key", file, "--type", "Windows")
			if code != ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if strings.Contains(stdout, secretValue) || !strings.HasSuffix(stdout, "\n") || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("stdout is not one line of ciphertext: %q", stdout)
			}
			plain, err := ciphertest.Decrypt(priv, strings.TrimSuffix(stdout, "\n"))
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			var doc struct {
				CredentialData []struct{ Name, Value string } `json:"credentialData"`
			}
			if err := json.Unmarshal(plain, &doc); err != nil {
				t.Fatal(err)
			}
			want := `[{username CONTOSO\svc} {password ` + secretValue + `ü"<&>}]`
			if got := fmt.Sprint(doc.CredentialData); got != want {
				t.Errorf("decrypted %s, want %s", got, want)
			}
		})
	}
}

// TestEncryptErrors: each bad invocation exits 2 with exactly one line on
// stderr, nothing on stdout, and never the secret from stdin.
func TestEncryptErrors(t *testing.T) {
	keyFiles(t)
	basic := `{"username":"svc","password":"` + secretValue + `"}`
	tests := map[string]struct {
		args  []string
		stdin string
		want  string
	}{
		"no type":          {[]string{}, basic, "--type is required: Basic, Windows, Key, OAuth2, SAS or Anonymous (see -h)"},
		"unknown type":     {[]string{"--type", "Password"}, basic, `unknown credential type "Password"; want one of Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity`},
		"lowercase type":   {[]string{"--type", "basic"}, basic, `unknown credential type "basic"; want one of Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity`},
		"unknown flag":     {[]string{"--type", "Basic", "--password", secretValue}, basic, "flag provided but not defined: -password (see -h)"},
		"flag no value":    {[]string{"--type"}, basic, "flag needs an argument: -type (see -h)"},
		"secret as arg":    {[]string{"--type", "Key", secretValue}, `{"key":"k"}`, "unexpected arguments; secret fields are read from stdin or --env variables, never from arguments (see -h)"},
		"missing key file": {[]string{"--type", "Basic", "--gateway-key", "nope.json"}, basic, "gateway key: open nope.json: no such file or directory"},
		"key file is dir":  {[]string{"--type", "Basic", "--gateway-key", "."}, basic, "gateway key .: read .: is a directory"},
		"key not json":     {[]string{"--type", "Basic", "--gateway-key", "notjson.json"}, basic, "gateway key notjson.json: not valid JSON (syntax error at byte 2)"},
		"key no modulus":   {[]string{"--type", "Basic", "--gateway-key", "nomodulus.json"}, basic, "gateway key nomodulus.json: publicKey.modulus: missing"},
		"key bad base64":   {[]string{"--type", "Basic", "--gateway-key", "badb64.json"}, basic, "gateway key badb64.json: publicKey.modulus: not standard base64: illegal base64 data at input byte 3"},
		"key too small":    {[]string{"--type", "Basic", "--gateway-key", "small.json"}, basic, "gateway key small.json: publicKey.modulus: 0-bit key is too small; want at least 1024 bits"},
		"empty stdin":      {[]string{"--type", "Basic"}, " \n", `stdin: empty; want a JSON object with the Basic fields {"username":"...","password":"..."}`},
		"not json":         {[]string{"--type", "Key"}, "key=" + secretValue, "stdin: not valid JSON (syntax error at byte 1)"},
		"unquoted secret":  {[]string{"--type", "Key"}, `{"key":` + secretValue + `}`, "stdin: not valid JSON (syntax error at byte 8)"},
		"truncated":        {[]string{"--type", "Key"}, `{"key":"` + secretValue, "stdin: not valid JSON (truncated)"},
		"array":            {[]string{"--type", "Key"}, `["` + secretValue + `"]`, `stdin: want a JSON object such as {"key":"..."}, got a JSON array`},
		"string":           {[]string{"--type", "SAS"}, `"` + secretValue + `"`, `stdin: want a JSON object such as {"token":"..."}, got a JSON string`},
		"null":             {[]string{"--type", "SAS"}, `null`, `stdin: want a JSON object such as {"token":"..."}, got null`},
		"trailing data":    {[]string{"--type", "Key"}, `{"key":"k"} {"key":"` + secretValue + `"}`, "stdin: unexpected data after the JSON object"},
		"number value":     {[]string{"--type", "Key"}, `{"key":12345}`, `stdin: field "key": want a JSON string`},
		"missing password": {[]string{"--type", "Basic"}, `{"username":"` + secretValue + `"}`, `credentials: Basic credential: missing field "password"`},
		"empty password":   {[]string{"--type", "Windows"}, `{"username":"u","password":""}`, `credentials: Windows credential: field "password" is empty`},
		"null password":    {[]string{"--type", "Windows"}, `{"username":"u","password":null}`, `credentials: Windows credential: field "password" is empty`},
		"unknown field":    {[]string{"--type", "Key"}, `{"key":"k","password":"` + secretValue + `"}`, `credentials: Key credential: unexpected field "password" (takes key)`},
		"anonymous field":  {[]string{"--type", "Anonymous"}, `{"password":"` + secretValue + `"}`, `credentials: Anonymous credential: unexpected field "password" (takes no fields)`},
		"both oauth names": {[]string{"--type", "OAuth2"}, `{"accessToken":"a","access_token":"` + secretValue + `"}`, `stdin: both "accessToken" and "access_token" given; use one`},
		"invalid utf8":     {[]string{"--type", "Key"}, "{\"key\":\"" + secretValue + "\xff\"}", "stdin: not valid UTF-8"},
		"too large":        {[]string{"--type", "Key"}, `{"key":"` + strings.Repeat(secretValue, 1<<20/len(secretValue)+1) + `"}`, "stdin: larger than 1048576 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.stdin, append([]string{"encrypt"}, tc.args...)...)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d", code, ExitUsage)
			}
			if want := "rotatord encrypt: " + tc.want + "\n"; stderr != want {
				t.Errorf("stderr =\n%q\nwant\n%q", stderr, want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if strings.Contains(stderr, secretValue) || strings.Contains(stderr, secretValue[:6]) {
				t.Errorf("stderr leaks the secret: %q", stderr)
			}
		})
	}
}

func TestEncryptCanceled(t *testing.T) {
	keyFiles(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"encrypt", "--type", "Key", "--gateway-key", "gw2048.json"}, strings.NewReader(`{"key":"`+secretValue+`"}`), &stdout, &stderr)
	if code != ExitFailure || stdout.Len() != 0 || stderr.String() != "rotatord encrypt: context canceled\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

func TestEncryptStdoutFailure(t *testing.T) {
	var stderr bytes.Buffer
	code := Run(t.Context(), []string{"encrypt", "--type", "Key"}, strings.NewReader(`{"key":"`+secretValue+`"}`), failWriter{}, &stderr)
	if code != ExitFailure || stderr.String() != "rotatord encrypt: write stdout: disk full\n" {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// --env reads the fields from environment variables and leaves stdin alone.
func TestEncryptFromEnv(t *testing.T) {
	keyFiles(t)
	t.Setenv("ROTATORD_TEST_USER", `CONTOSO\svc`)
	t.Setenv("ROTATORD_TEST_PASSWORD", secretValue+`"<&>`)
	t.Setenv("ROTATORD_TEST_TOKEN", "eyJ0")

	code, stdout, stderr := run(t, "stdin is not read", "encrypt", "--type", "Windows",
		"--env", "password=ROTATORD_TEST_PASSWORD", "--env", "username=ROTATORD_TEST_USER")
	want := `{"credentialData":[{"name":"username","value":"CONTOSO\\svc"},{"name":"password","value":"` + secretValue + `\"<&>"}]}` + "\n"
	if code != ExitOK || stderr != "" || stdout != want {
		t.Errorf("plain: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}

	code, stdout, stderr = run(t, "", "encrypt", "--type", "OAuth2", "--env", "accessToken=ROTATORD_TEST_TOKEN")
	if want := `{"credentialData":[{"name":"accessToken","value":"eyJ0"}]}` + "\n"; code != ExitOK || stdout != want {
		t.Errorf("SDK field name: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}

	code, stdout, stderr = run(t, "", "encrypt", "--type", "Key", "--gateway-key", "gw1024.json", "--env", "key=ROTATORD_TEST_PASSWORD")
	if code != ExitOK || stderr != "" {
		t.Fatalf("encrypted: exit %d, stderr %q", code, stderr)
	}
	plain, err := ciphertest.Decrypt(mustKey(t, key1024), strings.TrimSuffix(stdout, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"credentialData":[{"name":"key","value":"` + secretValue + `\"<&>"}]}`; string(plain) != want {
		t.Errorf("decrypted %s, want %s", plain, want)
	}
}

// A bad --env exits 2 with one line that names the field but never echoes
// the argument, in case the secret itself was typed after "=".
func TestEncryptFromEnvErrors(t *testing.T) {
	t.Setenv("ROTATORD_TEST_PASSWORD", secretValue)
	t.Setenv("ROTATORD_TEST_BLANK", " \t")
	tests := map[string]struct {
		args []string
		want string
	}{
		"no equals":                       {[]string{"--type", "Key", "--env", secretValue}, "--env: want FIELD=VARIABLE, e.g. password=DB_PASSWORD"},
		"no variable":                     {[]string{"--type", "Key", "--env", "key="}, "--env: want FIELD=VARIABLE, e.g. password=DB_PASSWORD"},
		"unknown field":                   {[]string{"--type", "Key", "--env", secretValue + "=X"}, `--env: unknown field before "="; want one of username, password, key, token, access_token, tenant_id, client_id, client_secret, identifier, private_key, passphrase`},
		"secret as value":                 {[]string{"--type", "Key", "--env", "key=" + secretValue}, "--env key: its environment variable is not set or is empty"},
		"twice":                           {[]string{"--type", "Key", "--env", "key=ROTATORD_TEST_PASSWORD", "--env", "key=" + secretValue}, "--env key: given twice; use one"},
		"blank, as the daemon refuses it": {[]string{"--type", "Key", "--env", "key=ROTATORD_TEST_BLANK"}, "--env key: its environment variable is not set or is empty"},
		"missing field":                   {[]string{"--type", "Basic", "--env", "password=ROTATORD_TEST_PASSWORD"}, `credentials: Basic credential: missing field "username"`},
		"not of the type":                 {[]string{"--type", "Key", "--env", "password=ROTATORD_TEST_PASSWORD"}, `credentials: Key credential: missing field "key"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", append([]string{"encrypt"}, tc.args...)...)
			if code != ExitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, ExitUsage)
			}
			if want := "rotatord encrypt: " + tc.want + "\n"; stderr != want {
				t.Errorf("stderr =\n%q\nwant\n%q", stderr, want)
			}
			if strings.Contains(stderr, secretValue[:6]) {
				t.Errorf("stderr leaks the argument: %q", stderr)
			}
		})
	}
}

// TestInventoryCommandFlags: the commands that read the inventory share
// -config, -log-format and -log-level, -h, and one line for a bad flag or
// an argument.
func TestInventoryCommandFlags(t *testing.T) {
	tests := map[string]struct {
		usage string // the usage line
		own   string // a flag of the command's own; "" for none
	}{
		"run":   {"Usage: rotatord run [-config FILE] [-web.config.file FILE]\n", "-web.config.file FILE"},
		"once":  {"Usage: rotatord once [-config FILE] [-only NAME]...\n", "-only NAME"},
		"plan":  {"Usage: rotatord plan [-config FILE]\n", ""},
		"check": {"Usage: rotatord check [-config FILE]\n", ""},
		"demo":  {"Usage: rotatord demo [-listen ADDR] [-fail NAME]\n", "-listen ADDR"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", name, "-h")
			if code != ExitOK || stdout != "" || !strings.HasPrefix(stderr, tc.usage) {
				t.Errorf("-h: exit %d, stdout %q, stderr %q; want %d and the usage", code, stdout, stderr, ExitOK)
			}
			for _, f := range []string{"-config FILE", "-log-format string", "-log-level string", tc.own} {
				if f != "" && !strings.Contains(stderr, "\n  "+f+"\n") {
					t.Errorf("-h does not list %q:\n%s", f, stderr)
				}
			}
			for args, want := range map[string]string{
				"--bogus": "rotatord " + name + ": flag provided but not defined: -bogus (see -h)\n",
				"extra":   "rotatord " + name + ": unexpected argument \"extra\" (see -h)\n",
				"-config": "rotatord " + name + ": flag needs an argument: -config (see -h)\n",
			} {
				code, stdout, stderr := run(t, "", name, args)
				if code != ExitUsage || stdout != "" || stderr != want {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d and %q", args, code, stdout, stderr, ExitUsage, want)
				}
			}
		})
	}
}

// TestDemoFailValues: -h lists every -fail value, and any other is a usage
// error that names them before the demo starts anything.
func TestDemoFailValues(t *testing.T) {
	_, _, help := run(t, "", "demo", "-h")
	for _, v := range []string{"sales-sql", "ledger-key", "blob-sas", "rejected"} {
		if !strings.Contains(help, v) {
			t.Errorf("-h does not name -fail %s:\n%s", v, help)
		}
	}
	for _, bad := range []string{"bogus", "Rejected", "lake-oauth"} {
		code, stdout, stderr := run(t, "", "demo", "-fail", bad)
		want := "rotatord demo: -fail \"" + bad + "\": want sales-sql, ledger-key, blob-sas or rejected\n"
		if code != ExitUsage || stdout != "" || stderr != want {
			t.Errorf("-fail %s: exit %d, stdout %q, stderr %q; want %d and %q", bad, code, stdout, stderr, ExitUsage, want)
		}
	}
}
