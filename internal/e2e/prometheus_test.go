package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/testutil"
)

// promShortFor is every alert's `for:` in the rules Prometheus loads here, as
// the shipped 15m/1h would outlast any test. Only `for:` changes — the
// expressions, labels and annotations are those in deploy/monitoring, and
// promShortenedAlerts fails if anything else differs.
const promShortFor = "2s"

// TestPrometheusAlertFires runs a real Prometheus against `rotatord demo
// -fail sales-sql` with the alert rules we ship, and waits for Prometheus
// itself to fire RotatordRotationFailing for sales-sql, and only for it.
//
// The demo rotates everything at start, milliseconds after declaring its
// counters at 0 and before Prometheus' first scrape, so the first failure of
// sales-sql is already in the counter's first sample and increase() cannot see
// it; the alert fires with the second failure, one schedule interval (1m)
// later. Most of this test's minute is that wait.
func TestPrometheusAlertFires(t *testing.T) {
	skipIfShort(t)
	promBin := promBinary(t)
	t.Parallel() // mostly waiting for the demo's second tick

	dir := t.TempDir()
	rd, pp, prom, target := promAgainstDemo(t, promBin, dir, "sales-sql")
	names := promInventoryNames(t, filepath.Join(dir, "rotatord.yaml"))
	if want := len(demo.Catalog()) + len(demo.Connections()); len(names) != want {
		t.Fatalf("the demo inventory lists %d data sources, want %d: %v", len(names), want, names)
	}

	// Prometheus parsed the exposition: every demo data source has its
	// rotation counters, and the failure is visible.
	var got []string
	promPoll(t, "rotatord_rotations_total for every data source", 15*time.Second, func() (bool, string) {
		got = nil
		for _, s := range prom.query(`rotatord_rotations_total{job="rotatord"}`) {
			if ds := s.Metric["datasource"]; !slices.Contains(got, ds) {
				got = append(got, ds)
			}
		}
		slices.Sort(got)
		return slices.Equal(got, names), fmt.Sprintf("data sources %v, want %v", got, names)
	})
	if v := prom.query(`rotatord_rotations_total{datasource="sales-sql",result="failure"} >= 1`); len(v) != 1 {
		t.Errorf("Prometheus does not see the sales-sql failure: %+v", v)
	}
	if v := prom.query(`rotatord_rotations_total{datasource="hr-fileshare",result="success"} >= 1`); len(v) != 1 {
		t.Errorf("Prometheus does not see the hr-fileshare success: %+v", v)
	}
	// The metadata is keyed by the family name the scrape announced: the
	// OpenMetrics exposition names the counter family without _total, the
	// classic text format with it. So this holds only if Prometheus
	// negotiated OpenMetrics and its parser accepted our output.
	var md []struct {
		Type string `json:"type"`
	}
	prom.get("/api/v1/targets/metadata", url.Values{
		"match_target": {`{job="rotatord"}`}, "metric": {"rotatord_rotations"},
	}, &md)
	if len(md) != 1 || md[0].Type != "counter" {
		t.Errorf("no OpenMetrics counter family rotatord_rotations in the target metadata: %+v", md)
	}

	// The alert fires for sales-sql, and never shows up for another data source.
	wrong := map[string]bool{}
	var fired promAlert
	promPoll(t, "RotatordRotationFailing to fire for sales-sql", 90*time.Second, func() (bool, string) {
		var seen []string
		for _, a := range prom.alerts() {
			if a.Labels["alertname"] != "RotatordRotationFailing" {
				continue
			}
			seen = append(seen, a.Labels["datasource"]+"="+a.State)
			if ds := a.Labels["datasource"]; ds != "sales-sql" && !wrong[ds] {
				wrong[ds] = true
				t.Errorf("RotatordRotationFailing is %s for healthy data source %q", a.State, ds)
			}
			if a.Labels["datasource"] == "sales-sql" && a.State == "firing" {
				fired = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("RotatordRotationFailing alerts: %v", seen)
	})
	if fired.Labels["job"] != "rotatord" || fired.Labels["instance"] != target || fired.Labels["severity"] != "critical" {
		t.Errorf("the alert's labels are %v", fired.Labels)
	}
	if s := fired.Annotations["summary"]; s != "rotatord cannot rotate sales-sql" {
		t.Errorf("the alert's summary is %q", s)
	}
	for _, a := range prom.alerts() {
		switch name, ds := a.Labels["alertname"], a.Labels["datasource"]; {
		case name == "RotatordRotationFailing" && ds != "sales-sql" && !wrong[ds]:
			t.Errorf("RotatordRotationFailing is %s for healthy data source %q", a.State, ds)
		case name == "RotatordDown":
			t.Errorf("RotatordDown is %s while the target is up", a.State)
		}
	}

	if err := pp.stop(30 * time.Second); err != nil {
		t.Errorf("prometheus: %v", err)
	}
	if err := rd.stop(30 * time.Second); err != nil {
		t.Errorf("rotatord demo: %v", err)
	}
	for _, f := range []string{"client-secret", "ledger-key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if v := strings.TrimSpace(string(b)); err == nil && v != "" && strings.Contains(rd.out.String(), v) {
			t.Errorf("the content of %s appears in rotatord's output", f)
		}
	}
}

// TestPrometheusCredentialRejected runs a real Prometheus against `rotatord
// demo -fail rejected`, where sales-sql's database accepts another password
// than the one in Key Vault: every rotation's PATCH lands and its check is
// refused. The rotation line says so, rotatord_credential_verified is 0 for
// sales-sql (1 for the others), the rollback has nothing verified to go back
// to, and Prometheus fires RotatordCredentialRejected for sales-sql alone.
func TestPrometheusCredentialRejected(t *testing.T) {
	skipIfShort(t)
	promBin := promBinary(t)
	t.Parallel()

	dir := t.TempDir()
	rd, pp, prom, _ := promAgainstDemo(t, promBin, dir, "rejected")
	line := rd.awaitLog(t, regexp.MustCompile(`(?m)^(.*msg=rotation datasource=sales-sql .*)$`))
	for _, want := range []string{"result=failure stage=verify reason=rejected", "verify=rejected", "rollback=unavailable", "Login failed for user 'svc_powerbi'"} {
		if !strings.Contains(line, want) {
			t.Errorf("the rotation line lacks %q:\n%s", want, line)
		}
	}
	promPoll(t, "rotatord_credential_verified for sales-sql and hr-fileshare", 30*time.Second, func() (bool, string) {
		bad := prom.query(`rotatord_credential_verified{datasource="sales-sql"} == 0`)
		good := prom.query(`rotatord_credential_verified{datasource="hr-fileshare"} == 1`)
		return len(bad) == 1 && len(good) == 1, fmt.Sprintf("sales-sql at 0: %d series, hr-fileshare at 1: %d", len(bad), len(good))
	})
	if v := prom.query(`rotatord_rollbacks_total{datasource="sales-sql",result="unavailable"} >= 1`); len(v) != 1 {
		t.Errorf("Prometheus sees no unavailable rollback of sales-sql: %+v", v)
	}
	if v := prom.query(`rotatord_rotation_failures_total{datasource="sales-sql",stage="verify",reason="rejected"} >= 1`); len(v) != 1 {
		t.Errorf("Prometheus sees no verify failure of sales-sql: %+v", v)
	}
	var fired promAlert
	promPoll(t, "RotatordCredentialRejected to fire for sales-sql", 60*time.Second, func() (bool, string) {
		var seen []string
		for _, a := range prom.alerts() {
			if a.Labels["alertname"] != "RotatordCredentialRejected" {
				continue
			}
			seen = append(seen, a.Labels["datasource"]+"="+a.State)
			if ds := a.Labels["datasource"]; ds != "sales-sql" {
				t.Fatalf("RotatordCredentialRejected is %s for %q, whose credential connects", a.State, ds)
			}
			if a.State == "firing" {
				fired = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("RotatordCredentialRejected alerts: %v", seen)
	})
	if fired.Annotations["summary"] == "" || !strings.Contains(fired.Annotations["summary"], "sales-sql") {
		t.Errorf("the alert's summary is %q", fired.Annotations["summary"])
	}
	if err := pp.stop(30 * time.Second); err != nil {
		t.Errorf("prometheus: %v", err)
	}
	if err := rd.stop(30 * time.Second); err != nil {
		t.Errorf("rotatord demo: %v", err)
	}
}

// promAgainstDemo starts `rotatord demo -fail FAIL` in dir and a real
// Prometheus scraping it with the shipped rules (only `for:` shortened), and
// returns once Prometheus has loaded every rule and scrapes the target.
func promAgainstDemo(t *testing.T, promBin, dir, fail string) (rd, pp *promChild, prom prometheusAPI, target string) {
	t.Helper()
	rd = promStartChild(t, "rotatord demo", binary, dir,
		"demo", "-listen", "127.0.0.1:0", "-fail", fail, "-dir", dir)
	target = rd.awaitLog(t, regexp.MustCompile(`msg="rotatord started".* listen=(\S+)`))

	promDir := t.TempDir()
	rules := filepath.Join(promDir, "alerts.yaml")
	if err := os.WriteFile(rules, promShortenedAlerts(t), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: rotatord
    static_configs:
      - targets: ['%s']
`, rules, target), 0o600); err != nil {
		t.Fatal(err)
	}
	// Port 0, and the port Prometheus got read from its log: a port picked
	// beforehand could be taken by another process before Prometheus binds it.
	pp = promStartChild(t, "prometheus", promBin, promDir,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address=127.0.0.1:0",
	)
	prom = prometheusAPI{t: t, base: "http://" + pp.awaitLog(t, regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`))}
	promPoll(t, "Prometheus to be ready", 30*time.Second, func() (bool, string) {
		if pp.exited() {
			t.Fatalf("prometheus exited: %v", pp.err)
		}
		code, _, err := prom.raw("/-/ready", nil)
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %v", code, err)
	})

	// Every shipped rule is loaded, with only its `for:` shortened.
	var rg struct {
		Groups []struct {
			Rules []struct {
				Name     string  `json:"name"`
				Type     string  `json:"type"`
				Duration float64 `json:"duration"`
			} `json:"rules"`
		} `json:"groups"`
	}
	prom.get("/api/v1/rules", nil, &rg)
	wantFor, err := time.ParseDuration(promShortFor)
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rg.Groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				alerts++
				if r.Duration != wantFor.Seconds() {
					t.Errorf("rule %s: for = %gs, want %s", r.Name, r.Duration, promShortFor)
				}
			}
		}
	}
	if want := strings.Count(string(promShippedAlerts(t)), "\n      - alert: "); alerts != want || want == 0 {
		t.Errorf("Prometheus loaded %d alerting rules, alerts.yaml has %d", alerts, want)
	}

	// The target is scraped and healthy.
	promPoll(t, "the rotatord target to be up", 30*time.Second, func() (bool, string) {
		var tg struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		}
		prom.get("/api/v1/targets", url.Values{"state": {"active"}}, &tg)
		for _, x := range tg.ActiveTargets {
			if x.Labels["job"] == "rotatord" && x.Labels["instance"] == target {
				return x.Health == "up", fmt.Sprintf("health %q, last error %q", x.Health, x.LastError)
			}
		}
		return false, fmt.Sprintf("no rotatord target among %d", len(tg.ActiveTargets))
	})

	return rd, pp, prom, target
}

// promBinary finds prometheus on PATH. Missing, it skips the test on a
// developer machine and fails it in CI, where .ci/run installs it.
func promBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("prometheus is not installed (apt-get install prometheus); set CI=true to make this a failure")
		}
		t.Fatalf("CI is set and prometheus is not installed: %v", err)
	}
	return p
}

// promShippedAlerts is deploy/monitoring/alerts.yaml as we ship it.
func promShippedAlerts(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "monitoring", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// promShortenedAlerts is the shipped alerts.yaml with every `for:` set to
// promShortFor. It fails the test if the rewrite touched anything else.
func promShortenedAlerts(t *testing.T) []byte {
	t.Helper()
	orig := promShippedAlerts(t)
	short := regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAll(orig, []byte("${1} "+promShortFor))

	type ruleFile struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	var before, after ruleFile
	if err := yaml.Unmarshal(orig, &before); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	if err := yaml.Unmarshal(short, &after); err != nil {
		t.Fatalf("shortened alerts.yaml: %v", err)
	}
	for _, g := range after.Groups {
		for _, r := range g.Rules {
			if _, alert := r["alert"]; alert && r["for"] != promShortFor {
				t.Fatalf("alert %v: for is %v after the rewrite, want %s", r["alert"], r["for"], promShortFor)
			}
		}
	}
	strip := func(f ruleFile) ruleFile {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				delete(r, "for")
			}
		}
		return f
	}
	if !reflect.DeepEqual(strip(before), strip(after)) {
		t.Fatal("shortening the for: durations changed more than for:")
	}
	return short
}

// promInventoryNames lists the data sources of an inventory, sorted.
func promInventoryNames(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Datasources []struct {
			Name string `yaml:"name"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var names []string
	for _, d := range inv.Datasources {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names
}

// promPoll checks cond every 250ms until it holds; on timeout it fails with what
// cond last said.
func promPoll(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", d, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// promChild is a process the test started and must end.
type promChild struct {
	name string
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error // valid once done is closed
}

// promStartChild starts bin in dir with a minimal environment. The test's cleanup
// kills it if the test did not stop it, and shows its output if the test failed.
func promStartChild(t *testing.T, name, bin, dir string, args ...string) *promChild {
	t.Helper()
	c := &promChild{name: name, cmd: exec.Command(bin, args...), out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	c.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	c.cmd.Dir = dir
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	wait, err := startBounded(t, c.cmd, childMemoryLimit)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if !c.exited() {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, c.out)
		}
	})
	return c
}

// awaitLog waits until the child's output matches re and returns the first
// submatch; it fails t if the child exits first.
func (c *promChild) awaitLog(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	var got string
	testutil.WaitFor(t, c.name+" to log "+re.String(), 30*time.Second, func() bool {
		if m := re.FindStringSubmatch(c.out.String()); m != nil {
			got = m[1]
		}
		return got != "" || c.exited()
	})
	if got == "" {
		t.Fatalf("%s exited before it logged %s: %v", c.name, re, c.err)
	}
	return got
}

func (c *promChild) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for a zero exit status.
func (c *promChild) stop(within time.Duration) error {
	if c.exited() {
		return fmt.Errorf("exited before it was stopped: %v", c.err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			return fmt.Errorf("after SIGTERM: %w", c.err)
		}
		return nil
	case <-time.After(within):
		return fmt.Errorf("did not exit within %s of SIGTERM", within)
	}
}

// prometheusAPI reads a Prometheus server's HTTP API.
type prometheusAPI struct {
	t    *testing.T
	base string
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p prometheusAPI) raw(path string, q url.Values) (int, []byte, error) {
	u := p.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// get decodes the data of a successful API answer into v.
func (p prometheusAPI) get(path string, q url.Values, v any) {
	p.t.Helper()
	code, b, err := p.raw(path, q)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || code != http.StatusOK || env.Status != "success" {
		p.t.Fatalf("GET %s: HTTP %d, status %q, error %q (%v)", path, code, env.Status, env.Error, err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		p.t.Fatalf("GET %s: data: %v", path, err)
	}
}

// query runs an instant PromQL query that returns a vector.
func (p prometheusAPI) query(q string) []promSample {
	p.t.Helper()
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	p.get("/api/v1/query", url.Values{"query": {q}}, &data)
	if data.ResultType != "vector" {
		p.t.Fatalf("query %s: result type %q, want vector", q, data.ResultType)
	}
	return data.Result
}

// alerts are the active (pending or firing) alerts.
func (p prometheusAPI) alerts() []promAlert {
	p.t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.get("/api/v1/alerts", nil, &data)
	return data.Alerts
}
