package cli

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

// maxInput bounds what encrypt reads from stdin or a key file; real inputs
// are a few kilobytes at most.
const maxInput = 1 << 20

const encryptHelp = `Reads the secret fields of one credential from stdin, as a JSON object, or
from environment variables (--env), and prints the credentials string to send
to Power BI: encrypted with the gateway's public key when --gateway-key is
given, the plain credentials JSON otherwise. Secrets are never read from
arguments: --env names a variable, it does not hold the value.

  Basic, Windows  {"username":"...","password":"..."}   (Windows: "DOMAIN\\user")
  Key             {"key":"..."}
  OAuth2          {"accessToken":"..."}                 (or "access_token")
  SAS             {"token":"..."}
  Anonymous       {}                                    (or nothing)

--gateway-key FILE holds the JSON of a Get Gateway response, or just its
publicKey object: {"exponent":"AQAB","modulus":"..."}.

--env FIELD=VARIABLE (repeatable) reads FIELD from the environment variable
VARIABLE instead, and stdin is not read; FIELD is username, password, key,
token or access_token (accessToken).

Examples:
  rotatord encrypt --type Basic --gateway-key gateway.json < fields.json
  rotatord encrypt --type Key --env key=LEDGER_KEY
`

func runEncrypt(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "encrypt", "--type TYPE [--gateway-key FILE] {< fields.json | --env FIELD=VARIABLE...}", encryptHelp)
	keyFile := fs.String("gateway-key", "", "`FILE` with the gateway's public key (Get Gateway response JSON or its publicKey object)")
	typeName := fs.String("type", "", "credential `TYPE`: Basic, Windows, Key, OAuth2, SAS or Anonymous")
	var fromEnv names
	fs.Var(&fromEnv, "env", "read field `FIELD=VARIABLE` from the environment instead of stdin (repeatable)")
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(env.Stderr, "rotatord encrypt: %v\n", err)
		return code
	}
	if fs.NArg() > 0 {
		// Never echo them: a positional argument here is most likely a secret.
		return fail(ExitUsage, errors.New("unexpected arguments; secret fields are read from stdin or --env variables, never from arguments (see -h)"))
	}
	if *typeName == "" {
		return fail(ExitUsage, errors.New("--type is required: Basic, Windows, Key, OAuth2, SAS or Anonymous (see -h)"))
	}
	typ, err := credentials.ParseType(*typeName)
	if err != nil {
		return fail(ExitUsage, err)
	}
	// Read the key before stdin, so a wrong path is reported before anyone types a secret.
	var pub *rsa.PublicKey
	if *keyFile != "" {
		if pub, err = readGatewayKey(*keyFile); err != nil {
			return fail(ExitUsage, err)
		}
		if err := cipher.CheckFIPS(pub); err != nil {
			return fail(ExitUsage, err) // this key never works in this mode
		}
	}
	var fields credentials.Fields
	if len(fromEnv) > 0 {
		fields, err = envFields(fromEnv, env.lookupEnv)
	} else {
		fields, err = readFields(env.Stdin, typ)
	}
	if err != nil {
		return fail(ExitUsage, err)
	}
	plain, err := credentials.Build(typ, fields)
	if err != nil {
		return fail(ExitUsage, err)
	}
	out := plain.RevealString()
	if pub != nil {
		if out, err = cipher.NewPool(1).Encrypt(ctx, pub, plain); err != nil {
			return fail(ExitFailure, err)
		}
	}
	if _, err := fmt.Fprintln(env.Stdout, out); err != nil {
		return fail(ExitFailure, fmt.Errorf("write stdout: %w", err))
	}
	return ExitOK
}

func readGatewayKey(path string) (*rsa.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("gateway key %s: %w", path, err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("gateway key %s: larger than %d bytes", path, maxInput)
	}
	pub, err := cipher.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("gateway key %s: %w", path, err)
	}
	return pub, nil
}

// readFields reads the JSON object of secret fields from r. Its errors
// describe the input's shape only: the decoder's own messages can quote a
// character of the input, which could be part of a secret.
func readFields(r io.Reader, typ credentials.Type) (credentials.Fields, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("stdin: larger than %d bytes", maxInput)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if typ == credentials.Anonymous {
			return credentials.Fields{}, nil
		}
		return nil, fmt.Errorf("stdin: empty; want a JSON object with the %s fields %s", typ, example(typ))
	}

	// encoding/json would quietly turn invalid UTF-8 into U+FFFD, changing the secret.
	if !utf8.Valid(data) {
		return nil, errors.New("stdin: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		var syn *json.SyntaxError
		var typErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("stdin: not valid JSON (syntax error at byte %d)", syn.Offset)
		case errors.As(err, &typErr):
			return nil, fmt.Errorf("stdin: want a JSON object such as %s, got a JSON %s", example(typ), typErr.Value)
		default:
			return nil, errors.New("stdin: not valid JSON (truncated)")
		}
	}
	if obj == nil {
		return nil, fmt.Errorf("stdin: want a JSON object such as %s, got null", example(typ))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("stdin: unexpected data after the JSON object")
	}

	fields := credentials.Fields{}
	given := map[string]string{} // field → the name stdin used for it
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	slices.Sort(names) // report the same field first every time
	for _, name := range names {
		var s string
		if err := json.Unmarshal(obj[name], &s); err != nil {
			return nil, fmt.Errorf("stdin: field %q: want a JSON string", name)
		}
		// The SDK's spelling of a field is accepted as well as ours; a name
		// that is no field is left for Build to refuse by name.
		field, _ := credentials.ParseField(name)
		if first, dup := given[field]; dup {
			return nil, fmt.Errorf("stdin: both %q and %q given; use one", first, name)
		}
		given[field] = name
		fields[field] = secret.FromString(s)
	}
	return fields, nil
}

// envFields reads the fields named by --env FIELD=VARIABLE arguments, as
// the daemon reads an env source. Its errors name the field but never echo
// an argument: someone who typed the secret itself after "=" must not find
// it in a terminal log or CI output.
func envFields(args []string, lookup func(string) (string, bool)) (credentials.Fields, error) {
	fields := credentials.Fields{}
	for _, arg := range args {
		name, variable, ok := strings.Cut(arg, "=")
		field, known := credentials.ParseField(name)
		switch {
		case !ok || variable == "":
			return nil, errors.New("--env: want FIELD=VARIABLE, e.g. password=DB_PASSWORD")
		case !known:
			return nil, fmt.Errorf("--env: unknown field before \"=\"; want one of %s", strings.Join(credentials.AllFields(), ", "))
		}
		if _, dup := fields[field]; dup {
			return nil, fmt.Errorf("--env %s: given twice; use one", field)
		}
		v, err := sources.FromEnv(lookup, variable)
		if err != nil {
			return nil, fmt.Errorf("--env %s: its environment variable is not set or is empty", field)
		}
		fields[field] = v.Secret
	}
	return fields, nil
}

func example(typ credentials.Type) string {
	switch typ {
	case credentials.Basic, credentials.Windows:
		return `{"username":"...","password":"..."}`
	case credentials.Key:
		return `{"key":"..."}`
	case credentials.OAuth2:
		return `{"accessToken":"..."}`
	case credentials.SAS:
		return `{"token":"..."}`
	case credentials.ServicePrincipal:
		return `{"tenantId":"...","servicePrincipalClientId":"...","servicePrincipalSecret":"..."}`
	case credentials.KeyPair:
		return `{"identifier":"...","privateKey":"-----BEGIN PRIVATE KEY-----...","passphrase":"... (optional)"}`
	}
	return "{}"
}
