package azurite

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
)

// Account is Azurite's built-in storage account, the first path segment of
// every URL (path-style: --disableProductStyleUrl).
const Account = "devstoreaccount1"

// The bounds of a start and a stop. Azurite starts in well under a second on
// an idle machine; 30 s leaves room for a loaded one without letting a hung
// start stall the suite. A stop is a SIGTERM, then SIGKILL past stopGrace.
const (
	startTimeout = 30 * time.Second
	stopGrace    = 10 * time.Second
	// portTimeout bounds Restart's retries while its port is still taken
	// (by a connection's ephemeral port, say, in the window it was free).
	portTimeout = 10 * time.Second
	pollEvery   = 50 * time.Millisecond
)

// Options configure Start.
type Options struct {
	// CA signs Azurite's certificate, a leaf for 127.0.0.1. Required: pass
	// the CA of the test's other emulators, so that one client, CA.Client(),
	// trusts them all.
	CA *emulator.CA
}

// Azurite is a running (or stopped) Azurite blob service of one test. Its
// methods are safe for concurrent use.
type Azurite struct {
	tb   testing.TB
	ca   *emulator.CA
	bin  string
	dir  string // cert.pem, key.pem, azurite.log, data/
	port int    // chosen by Azurite at the first start, kept by Restart

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of Azurite.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited; err is set by then
	err  error
}

// Start runs Azurite's blob service for tb and returns once it answers
// HTTPS requests. It listens on 127.0.0.1 on a port the kernel picks (so no
// port is chosen, released and handed on), keeps its data in a directory of
// its own, and is stopped, with its whole process group, when tb ends.
// It fails tb if Azurite is not installed, or does not come up within 30 s.
func Start(tb testing.TB, o Options) *Azurite {
	tb.Helper()
	if o.CA == nil {
		tb.Fatal("azurite: Options.CA is required")
	}
	root, err := repoRoot()
	if err != nil {
		tb.Fatalf("azurite: %v", err)
	}
	pkg := filepath.Join(root, "scripts", "azurite")
	bin := filepath.Join(pkg, "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("azurite: %s is not installed: run `npm ci --no-audit --no-fund` in %s (scripts/test.sh does it on a fresh clone)", bin, pkg)
	}

	a := &Azurite{tb: tb, ca: o.CA, bin: bin, dir: tb.TempDir()}
	if err := os.Mkdir(filepath.Join(a.dir, "data"), 0o700); err != nil {
		tb.Fatalf("azurite: %v", err)
	}
	if err := a.writeCert(); err != nil {
		tb.Fatalf("azurite: %v", err)
	}
	// Registered after TempDir, so it runs first: the directory is removed
	// only once the process writing into it is gone.
	tb.Cleanup(func() {
		a.Stop()
		if tb.Failed() {
			tb.Logf("azurite: its output (access log, no headers):\n%s", a.output())
		}
	})
	began := time.Now()
	if err := a.start(); err != nil {
		tb.Fatalf("azurite: %v\n%s", err, a.output())
	}
	tb.Logf("azurite: %s up in %s", a.URL(), time.Since(began).Round(time.Millisecond))
	return a
}

// URL returns the account's blob endpoint, https://127.0.0.1:PORT/devstoreaccount1.
func (a *Azurite) URL() string {
	return "https://127.0.0.1:" + strconv.Itoa(a.port) + "/" + Account
}

// Stop ends Azurite: SIGTERM to its process group, which lets it save its
// metadata, then SIGKILL if it has not exited within 10 s. The data stays
// for Restart. Stop is idempotent.
func (a *Azurite) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.proc
	if p == nil {
		return
	}
	a.proc = nil
	pgid := p.cmd.Process.Pid // Setpgid: the group is the child's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		a.tb.Logf("azurite: still running %s after SIGTERM; killing it", stopGrace)
	}
	// Whatever is left of the group (nothing, normally) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// Restart stops Azurite if it runs and starts it again on the same port
// with the same data, as a storage service comes back after an outage. If
// the port was taken meanwhile, it retries for up to 10 s.
func (a *Azurite) Restart() {
	a.tb.Helper()
	a.Stop()
	deadline := time.Now().Add(portTimeout)
	for {
		err := a.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortInUse) || time.Now().After(deadline) {
			a.tb.Fatalf("azurite: restart on port %d: %v\n%s", a.port, err, a.output())
		}
		time.Sleep(pollEvery)
	}
}

var errPortInUse = errors.New("port in use")

var listening = regexp.MustCompile(`successfully listens on https://127\.0\.0\.1:(\d+)`)

// start runs Azurite on a.port (0: the kernel picks, and a.port learns it)
// and waits until it answers.
func (a *Azurite) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc != nil {
		return errors.New("already running")
	}
	logPath := filepath.Join(a.dir, "azurite.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own copy
	fi, err := logf.Stat()
	if err != nil {
		return err
	}
	from := fi.Size() // this run's output starts here

	cmd := exec.Command(a.bin,
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(a.port),
		"--location", filepath.Join(a.dir, "data"),
		"--cert", filepath.Join(a.dir, "cert.pem"),
		"--key", filepath.Join(a.dir, "key.pem"),
		// Bearer tokens are checked (see the package comment), and only
		// over HTTPS.
		"--oauth", "basic",
		// The Go SDK sends an x-ms-version newer than Azurite knows (azblob
		// 1.8.3: 2026-12-06; Azurite 3.35.0: up to 2025-11-05), which
		// Azurite otherwise refuses with 400 InvalidHeaderValue.
		"--skipApiVersionCheck",
		// The account comes from the path, not from a host name such as
		// devstoreaccount1.blob.localhost.
		"--disableProductStyleUrl",
		// Azurite otherwise sends usage data to Application Insights.
		"--disableTelemetry",
	)
	// The access log goes to stdout: one line per request, without headers,
	// so no token reaches it; Start shows it when the test fails.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = a.dir
	cmd.Env = environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so Stop reaches anything it forks.
		Setpgid: true,
		// If the test binary dies without cleanup (a panic, a -timeout),
		// Azurite dies with it instead of holding the port and a core.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	a.proc = p

	port, err := a.awaitListening(p, logPath, from)
	if err == nil {
		a.port = port
		err = a.awaitAnswer(p)
	}
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		a.proc = nil
		return err
	}
	return nil
}

// awaitListening waits for Azurite's "successfully listens on" line in this
// run's output and returns the port it names.
func (a *Azurite) awaitListening(p *process, logPath string, from int64) (int, error) {
	deadline := time.Now().Add(startTimeout)
	for {
		out := readFrom(logPath, from)
		if m := listening.FindSubmatch(out); m != nil {
			return strconv.Atoi(string(m[1]))
		}
		select {
		case <-p.done:
			out = readFrom(logPath, from)
			if bytes.Contains(out, []byte("EADDRINUSE")) {
				return 0, fmt.Errorf("%w: %d", errPortInUse, a.port)
			}
			return 0, fmt.Errorf("exited before listening: %v", p.err)
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not listening after %s", startTimeout)
		}
	}
}

// awaitAnswer waits until an HTTPS request through the CA's client gets any
// HTTP answer: the certificate loaded and the request pipeline is up.
func (a *Azurite) awaitAnswer(p *process) error {
	c := a.ca.Client()
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL()+"?comp=list", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before answering: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("no HTTPS answer within %s: %v", startTimeout, err)
		case <-time.After(pollEvery):
		}
	}
}

// Output returns everything Azurite printed so far, over all its runs: its
// start and stop lines, errors, and the access log (a line per request, with
// method, path and status, no headers).
func (a *Azurite) Output() string {
	return string(readFrom(filepath.Join(a.dir, "azurite.log"), 0))
}

// output returns the last 8 KiB of Output.
func (a *Azurite) output() string {
	b := readFrom(filepath.Join(a.dir, "azurite.log"), 0)
	const keep = 8 << 10
	if len(b) > keep {
		b = append([]byte("…"), b[len(b)-keep:]...)
	}
	return string(b)
}

func readFrom(path string, off int64) []byte {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < off {
		return nil
	}
	return b[off:]
}

// writeCert writes a leaf of the CA for 127.0.0.1 (its chain, then its
// PKCS #8 key) as PEM files only the owner can read.
func (a *Azurite) writeCert() error {
	leaf, err := a.ca.LeafFor("127.0.0.1")
	if err != nil {
		return err
	}
	var chain []byte
	for _, der := range leaf.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(a.dir, "cert.pem"), chain, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(a.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
}

// environ is the test's environment without what would change Azurite's
// accounts (AZURITE_ACCOUNTS replaces devstoreaccount1) or load code into
// its Node (NODE_OPTIONS).
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AZURITE_ACCOUNTS=") || strings.HasPrefix(kv, "NODE_OPTIONS=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// repoRoot walks up from the working directory, a test's package directory,
// to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
