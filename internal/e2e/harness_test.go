package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/state"
	"github.com/rotatord/rotatord/internal/testutil"
)

// binary is the rotatord built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	flag.Parse() // testing.Short reads the flags
	dir, err := os.MkdirTemp("", "rotatord-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rotatord")
	// Under -short every test skips (skipIfShort), so the build is not worth
	// its minute; the directory stays, for the benchmarks' own builds.
	if !testing.Short() {
		build := exec.Command("go", "build", "-race", "-o", binary, "../../cmd/rotatord")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building rotatord:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// skipIfShort skips t under -short: every test here builds or runs
// binaries and waits on real processes, which takes minutes.
func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs the rotatord binary; skipped under -short")
	}
}

// env is one test's world: seeded emulators and the inventory for them.
type env struct {
	t    *testing.T
	dir  string
	demo *demo.Demo
	ca   string // path of the emulators' CA certificate
	out  *testutil.SyncBuffer
	// godebug is the children's GODEBUG: fips140=on unless a test says
	// otherwise, so the whole suite runs rotatord in Go's FIPS 140-3 module.
	godebug string
	// memLimit, when set, replaces childMemoryLimit for the children run.
	memLimit int64
	// pbiSeen and kvSeen count the emulators' requests before a fault run,
	// so a fault-table check can look at that run's own.
	pbiSeen, kvSeen int
}

func newEnv(t *testing.T, fail string) *env {
	t.Helper()
	dir := t.TempDir()
	d, err := demo.Start(demo.Options{Dir: dir, Listen: "127.0.0.1:0", Fail: fail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, d.Stack.CA.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, demo: d, ca: ca, out: &testutil.SyncBuffer{}, godebug: "fips140=on"}
}

func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=" + e.ca, "HOME=" + e.dir, "GODEBUG=" + e.godebug}
	if e.demo != nil {
		// The demo's one variable, which the in-process daemon reads
		// through LookupEnv.
		if v, ok := e.demo.LookupEnv(demo.SASEnv); ok {
			cmd.Env = append(cmd.Env, demo.SASEnv+"="+v)
		}
	}
	cmd.Stdout = e.out
	cmd.Stderr = e.out
	cmd.Dir = e.dir
	return cmd
}

// run runs rotatord to completion and returns its exit code.
func (e *env) run(args ...string) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wait, err := startBounded(e.t, e.command(ctx, args...), cmp.Or(e.memLimit, childMemoryLimit))
	if err == nil {
		err = wait()
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		e.t.Fatalf("rotatord %v: %v", args, err)
	}
	return 0
}

// entry finds a data source of the demo inventory.
func (e *env) entry(name string) demo.Entry {
	for _, x := range demo.Catalog() {
		if x.Name == name {
			return x
		}
	}
	e.t.Fatalf("no demo data source %q", name)
	return demo.Entry{}
}

// received is the credential the emulated gateway last accepted for name.
func (e *env) received(name string) (emulator.Received, bool) {
	x := e.entry(name)
	return e.demo.Stack.PowerBI.Credential(x.Gateway, x.ID)
}

// checkNoLeak fails if any secret the demo holds appears in what rotatord
// wrote: its output and its state file.
func (e *env) checkNoLeak() {
	e.t.Helper()
	haystacks := map[string]string{"output": e.out.String()}
	if b, err := os.ReadFile(filepath.Join(e.dir, "state.json")); err == nil {
		haystacks["state file"] = string(b)
	}
	for where, text := range haystacks {
		e.checkTextNoLeak(where, text)
	}
}

// checkTextNoLeak fails if any secret the demo holds appears in text.
func (e *env) checkTextNoLeak(where, text string) {
	e.t.Helper()
	for _, s := range e.secrets() {
		if s != "" && strings.Contains(text, s) {
			e.t.Errorf("a secret value appears in the %s", where)
		}
	}
}

// secrets lists every secret value the demo holds: the client secret and
// every credential field but the literal ones.
func (e *env) secrets() []string {
	out := []string{e.demo.Stack.ClientSecret.RevealString()}
	for _, fields := range e.demo.Want {
		for name, v := range fields {
			if !literalField(name) {
				out = append(out, v)
			}
		}
	}
	return out
}

// literalField reports whether a credential field, as the emulators name
// it, is written in the inventory rather than kept secret: a user name, a
// tenant or client id, a key pair's identifier. Errors may name them.
func literalField(name string) bool {
	switch name {
	case "username", "tenantId", "servicePrincipalClientId", "identifier":
		return true
	}
	return false
}

func (e *env) state() state.File {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "state.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var f state.File
	if err := json.Unmarshal(b, &f); err != nil {
		e.t.Fatal(err)
	}
	return f
}
