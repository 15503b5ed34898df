package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

// Storm settings: stormSize Key Vault-backed data sources on "@every 1s"
// against a vault that takes stormLatency per read, so due ticks pile up
// far faster than max_concurrency reads can drain them.
const (
	stormSize        = 300
	stormConcurrency = 4
	stormLatency     = 300 * time.Millisecond
	stormFor         = 8 * time.Second
	// The bounds checked: every service's max_concurrency connections, the
	// listener, the state file and the runtime's own descriptors stay well
	// under stormMaxFDs; 4 × max_concurrency ticks and their connections'
	// goroutines under stormMaxGoroutines. Unbounded, each due tick held a
	// goroutine and a Key Vault connection of its own.
	stormMaxFDs        = 64
	stormMaxGoroutines = 150
)

// TestRunKeyVaultStormBounded runs `rotatord run` over many Key Vault-backed
// data sources on "@every 1s" with a slow vault, and samples the daemon's
// goroutines (go_goroutines on /metrics) and open descriptors
// (/proc/PID/fd): both stay bounded by max_concurrency, not by the number
// of due ticks.
func TestRunKeyVaultStormBounded(t *testing.T) {
	skipIfShort(t)
	st, err := emulator.StartStack(emulator.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	e := &env{t: t, dir: dir, ca: filepath.Join(dir, "ca.pem"), out: &testutil.SyncBuffer{}, godebug: "fips140=on"}
	fleetMust(t, os.WriteFile(e.ca, st.CA.PEM(), 0o600))
	fleetMust(t, os.WriteFile(filepath.Join(dir, "client-secret"), st.ClientSecret.Reveal(), 0o600))

	var inv strings.Builder
	fmt.Fprintf(&inv, `powerbi: {api_url: %s, max_concurrency: %d}
auth: {method: client_secret, tenant_id: %s, client_id: %s, client_secret_file: %s, authority_host: %s}
keyvaults: {storm: %s}
listen: 127.0.0.1:0
state_file: %s
defaults:
  schedule: "@every 1s"
  jitter: 0s
  retry: {attempts: 1, initial_backoff: 1s, max_backoff: 1s}
datasources:
`, st.PowerBIURL, stormConcurrency, st.TenantID, st.ClientID, filepath.Join(dir, "client-secret"),
		st.AuthorityURL, st.KeyVaultURL, filepath.Join(dir, "state.json"))
	gateway := fleetUUID(0xc10d, 0) // cloud data sources: no gateway key, no RSA work in the way
	for i := range stormSize {
		name, id := fmt.Sprintf("storm-%03d", i), fleetUUID(1, i)
		fleetMust(t, st.PowerBI.AddCloudDatasource(gateway, id, "Basic"))
		st.KeyVault.SetSecret(name, secret.FromString(rand.Text()), emulator.SecretAttributes{})
		fmt.Fprintf(&inv, "  - {name: %s, gateway_id: %s, datasource_id: %s, credential_type: Basic, encrypt: none, "+
			"source: {keyvault: storm, username: svc, password_secret: %s}}\n", name, gateway, id, name)
	}
	cfg := filepath.Join(dir, "rotatord.yaml")
	fleetMust(t, os.WriteFile(cfg, []byte(inv.String()), 0o600))
	st.KeyVault.Faults().Inject(emulator.OpGetSecret, emulator.Fault{Latency: stormLatency})

	d := e.startFor(time.Minute, "run", "--config", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			out := strings.Split(e.out.String(), "\n")
			t.Logf("the daemon's last lines:\n%s", strings.Join(out[max(len(out)-10, 0):], "\n"))
		}
	})
	pid := d.cmd.(*os.Process).Pid
	goroutines := regexp.MustCompile(`(?m)^go_goroutines (\S+)$`)
	peakG, peakFD, scrapes, failed := 0, 0, 0, 0
	client := &http.Client{Timeout: 2 * time.Second}
	for end := time.Now().Add(stormFor); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		scrapes++
		if body, err := stormScrape(client, "http://"+d.addr+"/metrics"); err != nil {
			failed++ // a daemon out of descriptors cannot accept the scrape
		} else if m := goroutines.FindStringSubmatch(body); m != nil {
			g, _ := strconv.ParseFloat(m[1], 64)
			peakG = max(peakG, int(g))
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		peakFD = max(peakFD, len(fds))
	}
	rotations := strings.Count(e.out.String(), "msg=rotation ")
	t.Logf("%d data sources on @every 1s, max_concurrency %d, Key Vault answering in %s: peak %d goroutines, %d open descriptors; %d rotations in %s; %d of %d scrapes failed",
		stormSize, stormConcurrency, stormLatency, peakG, peakFD, rotations, stormFor, failed, scrapes)
	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
	if failed > 0 {
		t.Errorf("%d of %d scrapes of /metrics failed", failed, scrapes)
	}
	if peakG == 0 || rotations == 0 {
		t.Fatalf("nothing measured: %d goroutines, %d rotations", peakG, rotations)
	}
	if peakG > stormMaxGoroutines {
		t.Errorf("peak %d goroutines, want at most %d", peakG, stormMaxGoroutines)
	}
	if peakFD > stormMaxFDs {
		t.Errorf("peak %d open descriptors, want at most %d", peakFD, stormMaxFDs)
	}
}

func stormScrape(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
