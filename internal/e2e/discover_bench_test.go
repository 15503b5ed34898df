package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/emulator"
)

// BenchmarkDiscover lists an estate of 200 gateways with 50 data sources
// each (ROTATORD_DISCOVER_GATEWAYS and _DATASOURCES change it) with one
// `rotatord discover` child process (built without -race), against a Power
// BI emulator that answers every request after fleetLatency, throttles
// fleetThrottle of them (429, Retry-After: 1) and pages its lists by 100.
// One pass is 1 Get Gateways, 200 + 1 pages of it and the gateways' data
// sources, and 10,000 Get Datasource Users: the bound is max_concurrency
// (16) / latency Power BI calls per second, as for BenchmarkFleet.
//
//	go test -run '^$' -bench BenchmarkDiscover -benchtime 1x ./internal/e2e/
//
// Metrics: pbi-calls/s, bound-ratio (of calls/s to the bound), s/discovery,
// peak-RSS-MiB, cpu-s, throttled-%.
func BenchmarkDiscover(b *testing.B) {
	gateways, perGateway := envInt(b, "ROTATORD_DISCOVER_GATEWAYS", 200), envInt(b, "ROTATORD_DISCOVER_DATASOURCES", 50)
	const maxConcurrency = 16
	bin, err := fleetBinary()
	fleetMust(b, err)
	rusage, err := rusageBinary()
	fleetMust(b, err)
	st, err := emulator.StartStack(emulator.StackOptions{PageSize: 100})
	fleetMust(b, err)
	b.Cleanup(func() { st.Close() })
	for g := range gateways {
		gw := fleetUUID(0xd15c0, g)
		fleetMust(b, st.PowerBI.AddGateway(gw, 1024))
		for d := range perGateway {
			ds := fleetUUID(0xd5000+g, d)
			fleetMust(b, st.PowerBI.AddDatasource(gw, ds, "Basic"))
			fleetMust(b, st.PowerBI.SetDatasourceInfo(gw, ds, emulator.DatasourceInfo{Type: "Sql",
				ConnectionDetails: map[string]string{"server": fmt.Sprintf("sql%03d.contoso.local", g), "database": fmt.Sprintf("db%02d", d)}}))
		}
	}
	faults := st.PowerBI.Faults()
	for _, op := range []string{emulator.OpGetGateways, emulator.OpGetDatasources, emulator.OpGetDatasourceUsers} {
		faults.Inject(op, emulator.Fault{Status: 429, RetryAfter: "1", Latency: fleetLatency, Probability: fleetThrottle})
		faults.Inject(op, emulator.Fault{Latency: fleetLatency})
	}
	dir := b.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	fleetMust(b, os.WriteFile(ca, st.CA.PEM(), 0o600))
	fleetMust(b, os.WriteFile(filepath.Join(dir, "client-secret"), st.ClientSecret.Reveal(), 0o600))
	cfg := filepath.Join(dir, "rotatord.yaml")
	fleetMust(b, os.WriteFile(cfg, fmt.Appendf(nil, `powerbi: {api_url: %s, max_concurrency: %d}
fabric: {api_url: %s}
auth: {method: client_secret, tenant_id: %s, client_id: %s, client_secret_file: %s, authority_host: %s}
keyvaults: {main: %s}
state_file: %s
datasources:
  - {name: seed, gateway_id: %s, datasource_id: %s, credential_type: Basic, encrypt: gateway, source: {keyvault: main, username: svc, password_secret: seed-password}}
`, st.PowerBIURL, maxConcurrency, st.FabricURL, st.TenantID, st.ClientID, filepath.Join(dir, "client-secret"), st.AuthorityURL,
		st.KeyVaultURL, filepath.Join(dir, "state.json"), fleetUUID(0xd15c0, 0), fleetUUID(0xd5000, 0)), 0o600))

	var wall, cpu time.Duration
	var calls, throttled int
	var rss int64
	for b.Loop() {
		before := len(st.PowerBI.Requests())
		usagePath := filepath.Join(dir, "usage.json")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := exec.CommandContext(ctx, rusage, "-o", usagePath, "--", bin, "discover", "-config", cfg)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=" + ca, "HOME=" + dir}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		wall += time.Since(start)
		cancel()
		if err != nil {
			b.Fatalf("rotatord discover: %v\n%s", err, stderr.String())
		}
		inv, err := config.Parse("discovered.yaml", out)
		fleetMust(b, err)
		if len(inv.Datasources) != gateways*perGateway {
			b.Fatalf("%d data sources discovered, want %d", len(inv.Datasources), gateways*perGateway)
		}
		for _, r := range st.PowerBI.Requests()[before:] {
			calls++
			if r.Status == 429 {
				throttled++
			}
		}
		u := readUsage(b, usagePath)
		cpu += time.Duration(u.UserNS + u.SystemNS)
		rss = max(rss, u.MaxRSSKiB)
	}
	perSec := float64(calls) / wall.Seconds()
	b.ReportMetric(perSec, "pbi-calls/s")
	b.ReportMetric(perSec/(maxConcurrency/fleetLatency.Seconds()), "bound-ratio")
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/discovery")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
	b.ReportMetric(100*float64(throttled)/float64(calls), "throttled-%")
}

// childUsage is what testdata/rusage reports of a child.
type childUsage struct{ MaxRSSKiB, UserNS, SystemNS int64 }

func readUsage(tb testing.TB, path string) childUsage {
	tb.Helper()
	data, err := os.ReadFile(path)
	fleetMust(tb, err)
	var u childUsage
	fleetMust(tb, json.Unmarshal(data, &u))
	return u
}
