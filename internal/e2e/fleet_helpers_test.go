package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	rdaemon "github.com/rotatord/rotatord/internal/daemon" // e2e's daemon is a child process
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

// fleetBinary is rotatord built without the race detector, which would
// multiply its CPU and memory: what a benchmark must measure is the
// shipped binary.
var fleetBinary = buildOnce("rotatord-norace", "../../cmd/rotatord")

// rusageBinary is testdata/rusage, through which the benchmark starts
// rotatord so that the peak RSS it reports is rotatord's (see its doc).
var rusageBinary = buildOnce("rusage", "./testdata/rusage")

// buildOnce builds pkg without -race into name, next to the -race rotatord,
// once per test binary.
func buildOnce(name, pkg string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		path := filepath.Join(filepath.Dir(binary), name)
		build := exec.Command("go", "build", "-o", path, pkg)
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s without -race: %v\n%s", pkg, err, out)
		}
		return path, nil
	})
}

// The fleet's gateways: two of each key size, and two ids of cloud data
// sources, which are no real gateways.
var (
	fleetGateways1024 = []string{fleetUUID(0xa1024, 1), fleetUUID(0xa1024, 2)}
	fleetGateways2048 = []string{fleetUUID(0xa2048, 1), fleetUUID(0xa2048, 2)}
	fleetCloud        = []string{fleetUUID(0xc10d, 1), fleetUUID(0xc10d, 2)}
)

// fleetKinds is how many shapes of data source the fleet cycles through;
// fleet.add documents them.
const fleetKinds = 10

// fleetShared is how many environment variables each env-sourced field
// cycles through: a process environment cannot hold 10,000 tokens.
const fleetShared = 8

func fleetUUID(hi, lo int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", hi, lo) }

// fleetOptions shape a fleet.
type fleetOptions struct {
	Size           int           // data sources
	MaxConcurrency int           // powerbi.max_concurrency
	Latency        time.Duration // added to every Power BI request
	Throttle       float64       // share of Power BI requests answered 429 Retry-After: 1
	VerifyEvery    int           // the Power BI emulator decrypts 1 in VerifyEvery credentials
}

// fleet is a seeded emulator stack and a generated inventory of many data
// sources of every credential type.
type fleet struct {
	o     fleetOptions
	dir   string
	stack *emulator.Stack
	ca    string
	cfg   string
	env   []string
	ds    []fleetDatasource
}

type fleetDatasource struct {
	name, gateway, id, typ string
	want                   map[string]string // credential fields to deliver; nil for oauth_scope tokens
}

func newFleet(tb testing.TB, o fleetOptions) *fleet {
	tb.Helper()
	st, err := emulator.StartStack(emulator.StackOptions{VerifyEvery: o.VerifyEvery})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	f := &fleet{o: o, dir: tb.TempDir(), stack: st}
	for _, g := range fleetGateways1024 {
		fleetMust(tb, st.PowerBI.AddGateway(g, 1024))
	}
	for _, g := range fleetGateways2048 {
		fleetMust(tb, st.PowerBI.AddGateway(g, 2048))
	}
	f.ca = filepath.Join(f.dir, "ca.pem")
	fleetMust(tb, os.WriteFile(f.ca, st.CA.PEM(), 0o600))
	fleetMust(tb, os.WriteFile(filepath.Join(f.dir, "client-secret"), st.ClientSecret.Reveal(), 0o600))
	fleetMust(tb, os.Mkdir(filepath.Join(f.dir, "keys"), 0o700))

	shared := map[string][]string{}
	for _, kind := range []string{"PASSWORD", "SAS", "TOKEN"} {
		for i := range fleetShared {
			v := rand.Text()
			switch kind {
			case "SAS":
				v = "sv=2024-11-04&ss=b&srt=co&sp=rl&se=2030-01-01&sig=" + v
			case "TOKEN":
				v, _ = st.Tokens.Issue("https://storage.azure.com", st.ClientID)
			}
			shared[kind] = append(shared[kind], v)
			f.env = append(f.env, fmt.Sprintf("FLEET_%s_%d=%s", kind, i, v))
		}
	}

	var inv strings.Builder
	fmt.Fprintf(&inv, `powerbi: {api_url: %s, max_concurrency: %d}
auth: {method: client_secret, tenant_id: %s, client_id: %s, client_secret_file: %s, authority_host: %s}
keyvaults: {fleet: %s}
state_file: %s
defaults:
  schedule: "@every 24h"
  jitter: 0s
  retry: {attempts: 3, initial_backoff: 1s, max_backoff: 5s}
datasources:
`, st.PowerBIURL, o.MaxConcurrency, st.TenantID, st.ClientID, filepath.Join(f.dir, "client-secret"),
		st.AuthorityURL, st.KeyVaultURL, filepath.Join(f.dir, "state.json"))
	for i := range o.Size {
		fmt.Fprintf(&inv, "  - %s\n", f.add(tb, i, shared))
	}
	f.cfg = filepath.Join(f.dir, "rotatord.yaml")
	fleetMust(tb, os.WriteFile(f.cfg, []byte(inv.String()), 0o600))
	return f
}

// add seeds the emulators with data source i, one of fleetKinds shapes,
// and returns its inventory entry as a YAML flow mapping.
func (f *fleet) add(tb testing.TB, i int, shared map[string][]string) string {
	tb.Helper()
	st := f.stack
	name := fmt.Sprintf("ds-%05d", i)
	kv := func(suffix string) (string, string) { // a Key Vault secret of its own
		v := rand.Text()
		st.KeyVault.SetSecret(name+suffix, secret.FromString(v), emulator.SecretAttributes{})
		return name + suffix, v
	}
	pick := func(gws []string) string { return gws[(i/fleetKinds)%len(gws)] }
	env := func(kind string) (string, string) {
		n := (i / fleetKinds) % fleetShared
		return fmt.Sprintf("FLEET_%s_%d", kind, n), shared[kind][n]
	}
	x := fleetDatasource{name: name, id: fleetUUID(0xd5, i)}
	var source string
	encrypt := "gateway"
	switch i % fleetKinds {
	case 0: // Basic, password in Key Vault, 2048-bit gateway
		x.typ, x.gateway = "Basic", pick(fleetGateways2048)
		secretName, v := kv("")
		source = "{keyvault: fleet, username: svc_" + name + ", password_secret: " + secretName + "}"
		x.want = map[string]string{"username": "svc_" + name, "password": v}
	case 1: // Windows, both fields in Key Vault, 1024-bit gateway
		x.typ, x.gateway = "Windows", pick(fleetGateways1024)
		userName, user := kv("-user")
		passName, pass := kv("")
		source = "{keyvault: fleet, username_secret: " + userName + ", password_secret: " + passName + "}"
		x.want = map[string]string{"username": user, "password": pass}
	case 2: // Key in Key Vault, 2048-bit gateway
		x.typ, x.gateway = "Key", pick(fleetGateways2048)
		secretName, v := kv("")
		source = "{keyvault: fleet, secret: " + secretName + "}"
		x.want = map[string]string{"key": v}
	case 3: // Key in a file, 1024-bit gateway
		x.typ, x.gateway = "Key", pick(fleetGateways1024)
		v := rand.Text()
		path := filepath.Join(f.dir, "keys", name)
		fleetMust(tb, os.WriteFile(path, []byte(v+"\n"), 0o600))
		source = "{file: " + path + "}"
		x.want = map[string]string{"key": v}
	case 4: // Anonymous, both key sizes
		x.typ = "Anonymous"
		x.gateway = pick(append(fleetGateways1024[:1:1], fleetGateways2048[0]))
		x.want = map[string]string{}
	case 5: // Basic, password from the environment, 1024-bit gateway
		x.typ, x.gateway = "Basic", pick(fleetGateways1024)
		vr, v := env("PASSWORD")
		source = "{username: svc, password_env: " + vr + "}"
		x.want = map[string]string{"username": "svc", "password": v}
	case 6: // SAS from the environment, cloud
		x.typ, x.gateway, encrypt = "SAS", pick(fleetCloud), "none"
		vr, v := env("SAS")
		source = "{env: " + vr + "}"
		x.want = map[string]string{"token": v}
	case 7: // OAuth2 token from Entra with rotatord's identity, cloud
		x.typ, x.gateway, encrypt = "OAuth2", pick(fleetCloud), "none"
		source = "{oauth_scope: https://storage.azure.com/.default}"
	case 8: // OAuth2 access token another system keeps in Key Vault, cloud
		x.typ, x.gateway, encrypt = "OAuth2", pick(fleetCloud), "none"
		tok, _ := st.Tokens.Issue("https://storage.azure.com", st.ClientID)
		st.KeyVault.SetSecret(name, secret.FromString(tok), emulator.SecretAttributes{})
		source = "{keyvault: fleet, access_token_secret: " + name + "}"
		x.want = map[string]string{"accessToken": tok}
	case 9: // OAuth2 access token from the environment, cloud
		x.typ, x.gateway, encrypt = "OAuth2", pick(fleetCloud), "none"
		vr, v := env("TOKEN")
		source = "{access_token_env: " + vr + "}"
		x.want = map[string]string{"accessToken": v}
	}
	add := st.PowerBI.AddDatasource
	if encrypt == "none" {
		add = st.PowerBI.AddCloudDatasource
	}
	fleetMust(tb, add(x.gateway, x.id, x.typ))
	f.ds = append(f.ds, x)
	entry := fmt.Sprintf("{name: %s, gateway_id: %s, datasource_id: %s, credential_type: %s, encrypt: %s",
		name, x.gateway, x.id, x.typ, encrypt)
	if source != "" {
		entry += ", source: " + source
	}
	return entry + "}"
}

// injectPowerBIFaults makes every Power BI request take o.Latency and
// answers o.Throttle of them 429 with Retry-After: 1 (after the same latency).
func (f *fleet) injectPowerBIFaults() {
	faults := f.stack.PowerBI.Faults()
	for _, op := range []string{
		emulator.OpGetGateways, emulator.OpGetGateway, emulator.OpGetDatasources, emulator.OpGetDatasource,
		emulator.OpUpdateDatasource, emulator.OpGetDatasourceStatus, emulator.OpGetDatasourceUsers, emulator.OpAddDatasourceUser, emulator.OpDeleteDatasourceUser,
	} {
		faults.Inject(op, emulator.Fault{Status: 429, RetryAfter: "1", Latency: f.o.Latency, Probability: f.o.Throttle})
		faults.Inject(op, emulator.Fault{Latency: f.o.Latency})
	}
}

// fleetRun is what one `rotatord once` over the fleet did and cost.
type fleetRun struct {
	code              int
	wall              time.Duration // process start to exit
	steady            time.Duration // from the 10th to the 90th percentile of rotation log lines
	steadyRotations   int           // rotations logged in that time
	startup           time.Duration // process start to the first rotation log line
	lastPercent       time.Duration // what the last 1% of rotations took
	cpu               time.Duration // user + system
	emulatorCPU       time.Duration // of this process meanwhile: the emulators
	maxRSSKiB         int64
	peakHeapMiB       int // largest heap at a GC start (GODEBUG=gctrace=1)
	success, failures int
	firstFailure      string
	log               string // path of the child's output
}

// The runtime writes a GC trace line in several writes, slog a record in
// one, so a record may start in the middle of a trace line: neither
// pattern is anchored.
var (
	rotationLine = regexp.MustCompile(`time=(\S+) .*msg=rotation .*result=(success|failure)`)
	gcLine       = regexp.MustCompile(`(\d+)->\d+->\d+ MB`)
)

// once runs `rotatord once` over the fleet as a child process.
func (f *fleet) once(tb testing.TB, bin string) fleetRun {
	tb.Helper()
	_ = os.Remove(filepath.Join(f.dir, "state.json"))
	logPath := filepath.Join(f.dir, "once.log")
	out, err := os.Create(logPath)
	fleetMust(tb, err)
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rusage, err := rusageBinary()
	fleetMust(tb, err)
	usagePath := filepath.Join(f.dir, "usage.json")
	_ = os.Remove(usagePath)
	cmd := exec.CommandContext(ctx, rusage, "-o", usagePath, "--", bin, "once", "--config", f.cfg)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=" + f.ca, "HOME=" + f.dir,
		"GODEBUG=gctrace=1"}, f.env...)
	if limit := os.Getenv("ROTATORD_FLEET_GOMEMLIMIT"); limit != "" {
		// A deployment's knob (systemd Environment=), tried on the child only.
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+limit)
	}
	cmd.Stdout, cmd.Stderr, cmd.Dir = out, out, f.dir
	self := selfCPU(tb)
	start := time.Now()
	err = cmd.Run()
	run := fleetRun{wall: time.Since(start), log: logPath, emulatorCPU: selfCPU(tb) - self}
	if ee, ok := err.(*exec.ExitError); ok {
		run.code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("rotatord once: %v", err)
	}
	usage := readUsage(tb, usagePath)
	run.maxRSSKiB = usage.MaxRSSKiB
	run.cpu = time.Duration(usage.UserNS + usage.SystemNS)
	fleetMust(tb, out.Sync())
	run.parseLog(tb, start)
	return run
}

// selfCPU is the user + system CPU this process used so far.
func selfCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	fleetMust(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (run *fleetRun) parseLog(tb testing.TB, start time.Time) {
	tb.Helper()
	in, err := os.Open(run.log)
	fleetMust(tb, err)
	defer in.Close()
	var times []time.Time
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := gcLine.FindStringSubmatch(line); m != nil {
			if mb, _ := strconv.Atoi(m[1]); mb > run.peakHeapMiB {
				run.peakHeapMiB = mb
			}
		}
		m := rotationLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[2] == "success" {
			run.success++
		} else {
			run.failures++
			if run.firstFailure == "" {
				run.firstFailure = line
			}
		}
		if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
			times = append(times, t)
		}
	}
	fleetMust(tb, sc.Err())
	// The middle 80% of rotations: what the run sustains once started and
	// before its last throttled calls wait out their Retry-After.
	if n := len(times); n >= 100 {
		slices.SortFunc(times, time.Time.Compare)
		lo, hi := n/10, n-1-n/10
		run.steady, run.steadyRotations = times[hi].Sub(times[lo]), hi-lo
		run.startup = times[0].Sub(start)
		run.lastPercent = times[n-1].Sub(times[n-1-n/100])
	}
}

// check verifies that the gateways received one more credential for every
// data source, of its type, and that those the emulator decrypted carry
// exactly the source's fields. It returns how many it decrypted.
func (f *fleet) check(tb testing.TB, runs int) (verified int) {
	tb.Helper()
	pbi := f.stack.PowerBI
	for _, x := range f.ds {
		h := pbi.History(x.gateway, x.id)
		if len(h) != runs {
			tb.Fatalf("%s: %d credentials received after %d runs", x.name, len(h), runs)
		}
		got := h[len(h)-1]
		if got.CredentialType != x.typ {
			tb.Fatalf("%s: credentialType %q, want %q", x.name, got.CredentialType, x.typ)
		}
		if got.Unverified {
			continue
		}
		verified++
		if x.want == nil { // a token rotatord got from Entra
			if err := f.stack.Tokens.Verify(got.Fields["accessToken"], "https://storage.azure.com"); err != nil {
				tb.Fatalf("%s: the access token Power BI got is not a storage token: %v", x.name, err)
			}
			continue
		}
		if !maps.Equal(got.Fields, x.want) {
			tb.Fatalf("%s: the gateway decrypted other fields than the sources hold", x.name)
		}
	}
	return verified
}

func fleetMust(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// onceInProcess is `rotatord once` over the fleet with the daemon in this
// process, logging to a file, for profiles.
func (f *fleet) onceInProcess(tb testing.TB) (failed int) {
	tb.Helper()
	_ = os.Remove(filepath.Join(f.dir, "state.json"))
	out, err := os.Create(filepath.Join(f.dir, "once-inprocess.log"))
	fleetMust(tb, err)
	defer out.Close()
	cfg, err := config.Load(tb.Context(), f.cfg)
	fleetMust(tb, err)
	env := map[string]string{}
	for _, kv := range f.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	d, err := rdaemon.New(cfg, rdaemon.Options{
		Logger: slog.New(slog.NewTextHandler(out, nil)),
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
	})
	fleetMust(tb, err)
	defer d.Close()
	failed, err = d.Once(context.Background(), nil)
	fleetMust(tb, err)
	return failed
}
