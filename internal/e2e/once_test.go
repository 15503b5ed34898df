package e2e

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/testutil"
)

// TestOnceEveryTypeThroughFaults rotates every credential type on 1024- and
// 2048-bit gateways while Power BI throttles and fails now and then, and
// checks what the gateway decrypted.
func TestOnceEveryTypeThroughFaults(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	faults := e.demo.Stack.PowerBI.Faults()
	faults.Inject(emulator.OpUpdateDatasource, emulator.Fault{Status: 429, RetryAfter: "1", Times: 2})
	faults.Inject(emulator.OpGetGateway, emulator.Fault{Status: 503, Times: 1})
	faults.Inject(emulator.OpGetDatasourceUsers, emulator.Fault{Status: 500, Times: 1})
	e.demo.Stack.KeyVault.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Status: 429, RetryAfter: "1", Times: 1})

	if code := e.run("once", "--config", e.demo.ConfigPath); code != 0 {
		t.Fatalf("once exited %d, want 0; output:\n%s", code, e.out)
	}
	for _, x := range demo.Catalog() {
		got, ok := e.received(x.Name)
		if !ok {
			t.Errorf("%s: the gateway received no credential", x.Name)
			continue
		}
		if got.CredentialType != x.Type {
			t.Errorf("%s: credentialType %q, want %q", x.Name, got.CredentialType, x.Type)
		}
		wantAlg := "RSA-OAEP"
		if x.Gateway == "6e5d4c3b-2a19-4f8e-a7d6-c5b4a3928170" {
			wantAlg = "None"
		}
		if got.EncryptionAlgorithm != wantAlg {
			t.Errorf("%s: encryptionAlgorithm %q, want %q", x.Name, got.EncryptionAlgorithm, wantAlg)
		}
		if x.Type == "OAuth2" {
			if err := e.demo.Stack.Tokens.Verify(got.Fields["accessToken"], "https://storage.azure.com"); err != nil {
				t.Errorf("%s: the access token Power BI got is not a storage token: %v", x.Name, err)
			}
			continue
		}
		if want := e.demo.Want[x.Name]; !maps.Equal(got.Fields, want) {
			t.Errorf("%s: the gateway decrypted other fields than the sources hold (names %v, want %v)",
				x.Name, keys(got.Fields), keys(want))
		}
	}
	st := e.state()
	for _, x := range demo.Catalog() {
		if st.Datasources[x.Name].LastSuccess.IsZero() {
			t.Errorf("%s: no last success in the state file", x.Name)
		}
	}
	e.checkNoLeak()
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOnceMissingSecretFailsOnlyItsDatasource: one data source's secret is
// missing; it fails with a clear line, exit 1, and every other data source
// is rotated.
func TestOnceMissingSecretFailsOnlyItsDatasource(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "sales-sql")
	if code := e.run("once", "--config", e.demo.ConfigPath); code != 1 {
		t.Fatalf("once exited %d, want 1; output:\n%s", code, e.out)
	}
	if _, ok := e.received("sales-sql"); ok {
		t.Error("sales-sql: a credential was sent although its secret is missing")
	}
	for _, x := range demo.Catalog() {
		if _, ok := e.received(x.Name); !ok && x.Name != "sales-sql" {
			t.Errorf("%s: not rotated although only sales-sql is broken", x.Name)
		}
	}
	line := regexp.MustCompile(`(?m)^.*msg=rotation datasource=sales-sql .*result=failure stage=source reason=not_found.*$`)
	if !line.MatchString(e.out.String()) {
		t.Errorf("no failure line naming the stage and reason; output:\n%s", e.out)
	}
	if got := e.state().Datasources["sales-sql"].LastError; got != "source:not_found" {
		t.Errorf("state LastError = %q, want source:not_found", got)
	}
	e.checkNoLeak()
}

// TestOnceUnderFIPSOnly: with GODEBUG=fips140=only the data sources behind
// the 2048-bit gateway and the cloud ones rotate; the two behind the 1024-bit
// gateway fail at once (no retries: nothing will change by trying again) with
// reason fips and a line that names the key size and what to do.
func TestOnceUnderFIPSOnly(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	e.godebug = "fips140=only"
	if code := e.run("once", "--config", e.demo.ConfigPath); code != 1 {
		t.Fatalf("once exited %d, want 1; output:\n%s", code, e.out)
	}
	for _, x := range demo.Catalog() {
		_, got := e.received(x.Name)
		if want := x.Gateway != demo.Gateway1024; got != want {
			t.Errorf("%s (gateway %s): received a credential = %v, want %v", x.Name, x.Gateway, got, want)
		}
		if x.Gateway != demo.Gateway1024 {
			continue
		}
		line := regexp.MustCompile(`(?m)^.*msg=rotation datasource=` + x.Name +
			` .*attempts=1 .*result=failure stage=encrypt reason=fips .*1024-bit RSA key.*update the gateway so that it has a 2048-bit key.*$`)
		if !line.MatchString(e.out.String()) {
			t.Errorf("%s: no fips failure line naming the key size and the fix; output:\n%s", x.Name, e.out)
		}
		if got := e.state().Datasources[x.Name].LastError; got != "encrypt:fips" {
			t.Errorf("%s: state LastError = %q, want encrypt:fips", x.Name, got)
		}
	}
	e.checkNoLeak()
}

// TestOnceUsers: declared users are added, a user someone added by hand is
// left alone (no prune).
func TestOnceUsers(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	if code := e.run("once", "--config", e.demo.ConfigPath, "--only", "sales-sql"); code != 0 {
		t.Fatalf("once exited %d; output:\n%s", code, e.out)
	}
	x := e.entry("sales-sql")
	users := e.demo.Stack.PowerBI.Users(x.Gateway, x.ID)
	got := map[string]string{}
	for _, u := range users {
		who := u.EmailAddress
		if who == "" {
			who = u.Identifier
		}
		got[who] = u.DatasourceAccessRight
	}
	want := map[string]string{
		"legacy@contoso.com":                   "Read",
		"john@contoso.com":                     "Read",
		"3d9b93c6-7b6d-4801-a491-1738910904fd": "ReadOverrideEffectiveIdentity",
	}
	if !maps.Equal(got, want) {
		t.Errorf("users = %v, want %v", got, want)
	}
	if _, ok := e.received("hr-fileshare"); ok {
		t.Error("--only sales-sql rotated hr-fileshare too")
	}
}

// TestPlanChangesNothing: plan reads, prints key sizes and user changes, and
// sends no PATCH, POST or DELETE.
func TestPlanChangesNothing(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	if code := e.run("plan", "--config", e.demo.ConfigPath); code != 0 {
		t.Fatalf("plan exited %d; output:\n%s", code, e.out)
	}
	for _, r := range e.demo.Stack.PowerBI.Requests() {
		if r.Method != "GET" {
			t.Errorf("plan sent %s %s", r.Method, r.Path)
		}
	}
	out := e.out.String()
	for _, want := range []string{"RSA-1024", "RSA-2048", "none (cloud)", "+john@contoso.com:Read"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	e.checkNoLeak()
}

// TestCheckBrokenInventories runs check on the config package's broken
// inventories and compares stderr with each one's golden error text.
func TestCheckBrokenInventories(t *testing.T) {
	skipIfShort(t)
	dir := "../config/testdata/bad"
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken inventories in %s: %v", dir, err)
	}
	e := &env{t: t, dir: t.TempDir(), out: &testutil.SyncBuffer{}}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, name+".err"))
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(f)
			e.out = &testutil.SyncBuffer{}
			e.t = t
			if code := e.run("check", "--config", abs); code != 2 {
				t.Fatalf("check exited %d, want 2", code)
			}
			// The golden files name the file relative to the config package.
			got := strings.ReplaceAll(e.out.String(), abs, "testdata/bad/"+name+".yaml")
			if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
				t.Errorf("check said:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestVerifyCommand: after a rotation, sales-sql's database takes a password
// rotatord was never given. `verify` says so for sales-sql alone and exits
// 1, sending only GETs and leaving the state file as it was; `plan` shows
// the same in its VERIFIES NOW column; an unknown --only name is exit 2.
func TestVerifyCommand(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	both := []string{"--only", "sales-sql", "--only", "hr-fileshare"}
	if code := e.run(append([]string{"once", "--config", e.demo.ConfigPath}, both...)...); code != 0 {
		t.Fatalf("once exited %d:\n%s", code, e.out)
	}
	if code := e.run(append([]string{"verify", "--config", e.demo.ConfigPath}, both...)...); code != 0 {
		t.Fatalf("verify after a clean rotation exited %d:\n%s", code, e.out)
	}
	x := e.entry("sales-sql")
	if err := e.demo.Stack.PowerBI.SetBackend(x.Gateway, x.ID, map[string]string{"username": "svc_powerbi", "password": "changed-by-the-dba"}); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(e.dir, "state.json")
	before, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	seen := len(e.demo.Stack.PowerBI.Requests())
	mark := len(e.out.String())
	if code := e.run(append([]string{"verify", "--config", e.demo.ConfigPath}, both...)...); code != 1 {
		t.Fatalf("verify exited %d, want 1:\n%s", code, e.out)
	}
	out := e.out.String()[mark:]
	for _, re := range []string{`(?m)^sales-sql\s+failed\s+rejected\s+verify: .*Login failed for user 'svc_powerbi'`, `(?m)^hr-fileshare\s+connected\s`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("verify output does not match %s:\n%s", re, out)
		}
	}
	for _, r := range e.demo.Stack.PowerBI.Requests()[seen:] {
		if r.Method != "GET" || r.Operation != "Gateways_GetDatasourceStatus" {
			t.Errorf("verify sent %s %s (%s)", r.Method, r.Path, r.Operation)
		}
	}
	if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
		t.Error("verify changed the state file")
	}

	mark = len(e.out.String())
	if code := e.run("plan", "--config", e.demo.ConfigPath); code != 0 {
		t.Fatalf("plan exited %d:\n%s", code, e.out)
	}
	plan := e.out.String()[mark:]
	if !strings.Contains(plan, "VERIFIES NOW") || !regexp.MustCompile(`(?m)^sales-sql .*no: rejected`).MatchString(plan) ||
		!regexp.MustCompile(`(?m)^hr-fileshare .* yes `).MatchString(plan) {
		t.Errorf("plan does not show what verifies now:\n%s", plan)
	}
	if code := e.run("verify", "--config", e.demo.ConfigPath, "--only", "nosuch"); code != 2 {
		t.Errorf("verify --only nosuch exited %d, want 2", code)
	}
	e.checkNoLeak()
}
