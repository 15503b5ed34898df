package metrics

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// The deploy files live outside this package; tests run in its directory.
var (
	monitoringDir = filepath.Join("..", "..", "deploy", "monitoring")
	chartFilesDir = filepath.Join("..", "..", "deploy", "helm", "rotatord", "files")
)

// TestDeployQueriesUseServedMetrics fails when the dashboard or an alert
// queries a metric rotatord does not serve — the usual way dashboards rot
// after a rename.
func TestDeployQueriesUseServedMetrics(t *testing.T) {
	rules := loadRules(t)
	served := servedNames(t)
	served["up"] = true // added by Prometheus for every target
	for _, r := range rules {
		if r.Record != "" {
			served[r.Record] = true
		}
	}

	var exprs []string
	for _, r := range rules {
		exprs = append(exprs, r.Expr)
	}
	exprs = append(exprs, dashboardQueries(t)...)
	checked := 0
	for _, expr := range exprs {
		for _, name := range metricNames(expr) {
			checked++
			if !served[name] {
				t.Errorf("%q is used in %q but rotatord does not serve it", name, expr)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d metric names found in dashboard and alerts; the extractor is broken", checked)
	}
}

// TestChartCopiesMatch keeps the Helm chart's copies of the monitoring files
// identical to the originals: helm can only read files inside the chart.
func TestChartCopiesMatch(t *testing.T) {
	for _, name := range []string{"alerts.yaml", "dashboard.json"} {
		orig, err := os.ReadFile(filepath.Join(monitoringDir, name))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := os.ReadFile(filepath.Join(chartFilesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(orig, cp) {
			t.Errorf("deploy/helm/rotatord/files/%s differs from deploy/monitoring/%s; copy it over", name, name)
		}
	}
}

func TestMetricNames(t *testing.T) {
	tests := map[string]struct {
		expr string
		want []string
	}{
		"selector and function": {
			`sum by (datasource, result) (increase(rotatord_rotations_total{datasource=~"$datasource"}[$__rate_interval]))`,
			[]string{"rotatord_rotations_total"},
		},
		"binary with matching": {
			"a_total > on (job, instance) group_left (version) 2 * min_over_time(b:rule[7d] offset 5m)",
			[]string{"a_total", "b:rule"},
		},
		"strings hold no names": {
			`up{job=~".*rotatord.*"} == 0 or absent(up{job=~"x y"})`,
			[]string{"up", "up"},
		},
		"numbers and time": {"x_seconds - time() < 7 * 86400 and bool 1e3", []string{"x_seconds"}},
		"grafana label_values": {
			"label_values(rotatord_rotations_total, datasource)", []string{"rotatord_rotations_total"},
		},
		"name matcher":      {`{__name__="rotatord_build_info"}`, []string{"rotatord_build_info"}},
		"grafana variables": {`histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__rate_interval])))`, []string{"h_bucket"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

type rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("alerts.yaml has no rules")
	}
	return rules
}

// dashboardQueries returns every PromQL expression in dashboard.json: panel
// targets (rows nest panels) and query variables.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("dashboard.json panel: %v", err)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			// Newer Grafana stores {"query": "..."}.
			var obj struct{ Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("dashboard.json variable query: %v", err)
			}
			q = obj.Query
		}
		exprs = append(exprs, q)
	}
	return exprs
}

// servedNames returns every series name a fully populated rotatord serves,
// with the _bucket/_sum/_count series of histograms and summaries.
func servedNames(t *testing.T) map[string]bool {
	t.Helper()
	m, reg, states, enc := newTest(t)
	*states = []DatasourceState{{
		Name: "a", LastSuccess: testNow, CredentialSetAt: testNow.Add(-time.Hour),
		ExpiresAt: testNow.Add(time.Hour), NextRotation: testNow.Add(time.Hour), UsersDrift: 1,
		LastVerify: testNow, Verified: true,
	}}
	enc.segments = 1
	exercise(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}

var (
	// Quoted strings: label values, regexes; never metric names except via __name__.
	stringLit = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	nameMatch = regexp.MustCompile(`__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	// Label matchers and range/subquery brackets hold label names and durations.
	braces   = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	labelSet = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	variable = regexp.MustCompile(`\$\{?[a-zA-Z0-9_]+\}?`)
	number   = regexp.MustCompile(`\b(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?(?:ms|s|m|h|d|w|y)?)\b`)
	ident    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
		"Inf": true, "NaN": true, "atan2": true,
	}
)

// metricNames extracts the metric names an expression selects, in order.
// It is a lexer, not a PromQL parser (the prometheus module is too large a
// dependency for one test): identifiers followed by "(" are functions, and
// label names only occur inside braces or after by/on/... which are removed.
func metricNames(expr string) []string {
	var names []string
	if strings.HasPrefix(strings.TrimSpace(expr), "label_values(") {
		// Grafana: label_values(metric, label) — only the first argument is a metric.
		inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(expr), "label_values("), ")")
		if i := strings.LastIndex(inner, ","); i >= 0 {
			expr = inner[:i]
		}
	}
	for _, m := range nameMatch.FindAllStringSubmatch(expr, -1) {
		names = append(names, m[1])
	}
	s := stringLit.ReplaceAllString(expr, `""`)
	s = braces.ReplaceAllString(s, " ")
	s = labelSet.ReplaceAllString(s, " ")
	s = variable.ReplaceAllString(s, " ")
	s = number.ReplaceAllString(s, " ")
	for _, loc := range ident.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if keywords[word] || strings.HasPrefix(rest, "(") {
			continue
		}
		names = append(names, word)
	}
	return names
}
