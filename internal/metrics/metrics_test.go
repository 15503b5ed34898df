package metrics

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
)

// testNow is the injected clock for every test: 2025-01-02T03:04:05Z = 1735787045.
var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

type fakeEncrypt struct {
	segments uint64
	queue    int
}

func (f fakeEncrypt) Segments() uint64 { return f.segments }
func (f fakeEncrypt) QueueLength() int { return f.queue }

// newTest returns Metrics on a fresh registry, with states and encrypt stats
// the test can change between scrapes through the returned pointers.
func newTest(t *testing.T) (*Metrics, *prometheus.Registry, *[]DatasourceState, *fakeEncrypt) {
	t.Helper()
	reg := prometheus.NewRegistry()
	states := &[]DatasourceState{}
	enc := &fakeEncrypt{}
	m, err := New(Options{
		Registerer: reg,
		Clock:      clocktest.NewFake(testNow),
		States:     func() []DatasourceState { return *states },
		Encrypt:    enc,
		Version:    "1.2.3",
		Revision:   "abc123",
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg, states, enc
}

func TestExposition(t *testing.T) {
	tests := map[string]struct {
		act  func(m *Metrics, states *[]DatasourceState, enc *fakeEncrypt)
		name string // metric family compared
		want string // exact exposition of that family
	}{
		"rotations by result": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.RotationDone("sales-sql", "Basic", true)
				m.RotationDone("sales-sql", "Basic", true)
				m.RotationDone("lake-oauth", "OAuth2", false)
			},
			name: "rotatord_rotations_total",
			want: `
# HELP rotatord_rotations_total Rotations finished, by outcome. Cardinality: datasource (one per inventory entry) × credential_type (≤9: Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity) × result (2: success, failure).
# TYPE rotatord_rotations_total counter
rotatord_rotations_total{credential_type="Basic",datasource="sales-sql",result="failure"} 0
rotatord_rotations_total{credential_type="Basic",datasource="sales-sql",result="success"} 2
rotatord_rotations_total{credential_type="OAuth2",datasource="lake-oauth",result="failure"} 1
rotatord_rotations_total{credential_type="OAuth2",datasource="lake-oauth",result="success"} 0
`,
		},
		"failures with bounded reasons and stages": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.RotationFailed("sales-sql", "patch", "throttled")
				m.RotationFailed("sales-sql", "patch", "PATCH returned 400: bad request") // not a word
				m.RotationFailed("sales-sql", "source", strings.Repeat("x", 41))          // too long
				m.RotationFailed("sales-sql", "decrypt", "forbidden")                     // unknown stage
				m.RotationFailed("ledger-key", "encrypt", "key_too_small")
				m.RotationFailed("ledger-key", "verify", "rejected")
			},
			name: "rotatord_rotation_failures_total",
			want: `
# HELP rotatord_rotation_failures_total Failed rotations by the stage that failed and a short reason. Cardinality: datasource (one per inventory entry) × stage (6: source, encrypt, patch, verify, users, other) × reason (a small fixed set of snake_case words; anything else is counted as other).
# TYPE rotatord_rotation_failures_total counter
rotatord_rotation_failures_total{datasource="ledger-key",reason="key_too_small",stage="encrypt"} 1
rotatord_rotation_failures_total{datasource="ledger-key",reason="rejected",stage="verify"} 1
rotatord_rotation_failures_total{datasource="sales-sql",reason="forbidden",stage="other"} 1
rotatord_rotation_failures_total{datasource="sales-sql",reason="other",stage="patch"} 1
rotatord_rotation_failures_total{datasource="sales-sql",reason="other",stage="source"} 1
rotatord_rotation_failures_total{datasource="sales-sql",reason="throttled",stage="patch"} 1
`,
		},
		"stage durations": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.ObserveStage("encrypt", 20*time.Millisecond)
				m.ObserveStage("encrypt", 3*time.Second)
			},
			name: "rotatord_rotation_duration_seconds",
			want: `
# HELP rotatord_rotation_duration_seconds Time spent in each stage of a rotation, retries included. Cardinality: stage (6: source, encrypt, patch, verify, users, other).
# TYPE rotatord_rotation_duration_seconds histogram
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.005"} 0
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.01"} 0
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.025"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.05"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.1"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.25"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="0.5"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="1"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="2.5"} 1
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="5"} 2
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="10"} 2
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="30"} 2
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="60"} 2
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="120"} 2
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="300"} 2
rotatord_rotation_duration_seconds_bucket{stage="encrypt",le="+Inf"} 2
rotatord_rotation_duration_seconds_sum{stage="encrypt"} 3.02
rotatord_rotation_duration_seconds_count{stage="encrypt"} 2
`,
		},
		"power bi requests with 429 and transport errors": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.PowerBIRequest("update_datasource", 200)
				m.PowerBIRequest("update_datasource", 429)
				m.PowerBIRequest("update_datasource", 429)
				m.PowerBIRequest("get_gateway", 0)
				m.PowerBIRequest("get_gateway", 1000) // not an HTTP status
				m.PowerBIRequest("GET /gateways/1f69e798", 404)
				m.PowerBIRequest("Gateways_UpdateDatasource", 200)
			},
			name: "rotatord_powerbi_requests_total",
			want: `
# HELP rotatord_powerbi_requests_total Power BI REST requests by operation and HTTP status. Cardinality: operation (a fixed set of API calls) × code (HTTP status codes seen, or error when no response came back).
# TYPE rotatord_powerbi_requests_total counter
rotatord_powerbi_requests_total{code="200",operation="Gateways_UpdateDatasource"} 1
rotatord_powerbi_requests_total{code="200",operation="update_datasource"} 1
rotatord_powerbi_requests_total{code="404",operation="other"} 1
rotatord_powerbi_requests_total{code="429",operation="update_datasource"} 2
rotatord_powerbi_requests_total{code="error",operation="get_gateway"} 2
`,
		},
		"rollbacks by result, unknown results counted as failed": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.RollbackDone("sales-sql", "restored")
				m.RollbackDone("sales-sql", "restored")
				m.RollbackDone("sales-sql", "rejected")
				m.RollbackDone("ledger-key", "unavailable")
				m.RollbackDone("ledger-key", "failed")
				m.RollbackDone("ledger-key", "PATCH returned 500") // not a result
				m.RollbackDone("ledger-key", "")
			},
			name: "rotatord_rollbacks_total",
			want: `
# HELP rotatord_rollbacks_total Rollbacks to the previous verified Key Vault version after a rejected credential, by outcome. Cardinality: datasource (one per inventory entry) × result (4: restored, rejected, failed, unavailable).
# TYPE rotatord_rollbacks_total counter
rotatord_rollbacks_total{datasource="ledger-key",result="failed"} 3
rotatord_rollbacks_total{datasource="ledger-key",result="unavailable"} 1
rotatord_rollbacks_total{datasource="sales-sql",result="rejected"} 1
rotatord_rollbacks_total{datasource="sales-sql",result="restored"} 2
`,
		},
		"config reload success stamps the injected clock": {
			act:  func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) { m.ConfigReloaded(true) },
			name: "rotatord_config_last_reload_success_timestamp_seconds",
			want: `
# HELP rotatord_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration (re)load. No labels.
# TYPE rotatord_config_last_reload_success_timestamp_seconds gauge
rotatord_config_last_reload_success_timestamp_seconds 1.735787045e+09
`,
		},
		"config reload failure after success": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.ConfigReloaded(true)
				m.ConfigReloaded(false)
			},
			name: "rotatord_config_last_reload_success",
			want: `
# HELP rotatord_config_last_reload_success 1 if the last configuration (re)load succeeded, 0 if it was refused. No labels.
# TYPE rotatord_config_last_reload_success gauge
rotatord_config_last_reload_success 0
`,
		},
		"config reload success": {
			act:  func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) { m.ConfigReloaded(true) },
			name: "rotatord_config_last_reload_success",
			want: `
# HELP rotatord_config_last_reload_success 1 if the last configuration (re)load succeeded, 0 if it was refused. No labels.
# TYPE rotatord_config_last_reload_success gauge
rotatord_config_last_reload_success 1
`,
		},
		"last success omitted while zero": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{
					{Name: "sales-sql", LastSuccess: testNow.Add(-time.Hour)},
					{Name: "never-rotated"},
				}
			},
			name: "rotatord_last_success_timestamp_seconds",
			want: `
# HELP rotatord_last_success_timestamp_seconds Unix time of the last successful rotation; absent until one succeeds. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_last_success_timestamp_seconds gauge
rotatord_last_success_timestamp_seconds{datasource="sales-sql"} 1.735783445e+09
`,
		},
		"credential age from the injected clock, never negative": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{
					{Name: "sales-sql", CredentialSetAt: testNow.Add(-24 * time.Hour)},
					{Name: "skewed", CredentialSetAt: testNow.Add(time.Minute)},
					{Name: "unknown"},
				}
			},
			name: "rotatord_credential_age_seconds",
			want: `
# HELP rotatord_credential_age_seconds Seconds since the credential now in Power BI was set. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_credential_age_seconds gauge
rotatord_credential_age_seconds{datasource="sales-sql"} 86400
rotatord_credential_age_seconds{datasource="skewed"} 0
`,
		},
		"token expiry": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{
					{Name: "lake-oauth", ExpiresAt: testNow.Add(40 * time.Minute)},
					{Name: "sales-sql"},
				}
			},
			name: "rotatord_token_expiry_timestamp_seconds",
			want: `
# HELP rotatord_token_expiry_timestamp_seconds Unix time at which the OAuth2 token or Key Vault secret expires; absent if it has no expiry. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_token_expiry_timestamp_seconds gauge
rotatord_token_expiry_timestamp_seconds{datasource="lake-oauth"} 1.735789445e+09
`,
		},
		"next rotation": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{{Name: "sales-sql", NextRotation: testNow.Add(500 * time.Millisecond)}}
			},
			name: "rotatord_next_rotation_timestamp_seconds",
			want: `
# HELP rotatord_next_rotation_timestamp_seconds Unix time of the next scheduled rotation. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_next_rotation_timestamp_seconds gauge
rotatord_next_rotation_timestamp_seconds{datasource="sales-sql"} 1.7357870455e+09
`,
		},
		"users drift always present": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{{Name: "sales-sql", UsersDrift: 3}, {Name: "ledger-key"}}
			},
			name: "rotatord_datasource_users_drift",
			want: `
# HELP rotatord_datasource_users_drift Data source users that differ from the inventory. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_datasource_users_drift gauge
rotatord_datasource_users_drift{datasource="ledger-key"} 0
rotatord_datasource_users_drift{datasource="sales-sql"} 3
`,
		},
		"credential verified, absent before the first check": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{
					{Name: "sales-sql", LastVerify: testNow, Verified: true},
					{Name: "ledger-key", LastVerify: testNow, Verified: false},
					{Name: "never-checked", Verified: true}, // no LastVerify: no check yet
					{Name: "unchecked"},
				}
			},
			name: "rotatord_credential_verified",
			want: `
# HELP rotatord_credential_verified 1 if the last status check connected with the credential now in Power BI, 0 if it did not; absent until one is conclusive. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_credential_verified gauge
rotatord_credential_verified{datasource="ledger-key"} 0
rotatord_credential_verified{datasource="sales-sql"} 1
`,
		},
		"last verify omitted while zero": {
			act: func(_ *Metrics, s *[]DatasourceState, _ *fakeEncrypt) {
				*s = []DatasourceState{
					{Name: "sales-sql", LastVerify: testNow.Add(-time.Minute), Verified: true},
					{Name: "ledger-key", LastVerify: testNow, Verified: false},
					{Name: "unchecked"},
				}
			},
			name: "rotatord_last_verify_timestamp_seconds",
			want: `
# HELP rotatord_last_verify_timestamp_seconds Unix time of the last conclusive status check; absent until one. Cardinality: datasource (one per inventory entry).
# TYPE rotatord_last_verify_timestamp_seconds gauge
rotatord_last_verify_timestamp_seconds{datasource="ledger-key"} 1.735787045e+09
rotatord_last_verify_timestamp_seconds{datasource="sales-sql"} 1.735786985e+09
`,
		},
		"inventory drift, every kind present, unknown kinds ignored": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.DiscoveryDone(testNow, map[string]int{
					"added": 3, "users": 1,
					"unsupported":      5,  // not a kind of drift
					"gw-1f69e798/ds-0": 1,  // input never becomes a label value
					"deleted":          -1, // no count is negative
				}, true)
			},
			name: "rotatord_inventory_drift",
			want: driftHeader + `rotatord_inventory_drift{kind="added"} 3
rotatord_inventory_drift{kind="deleted"} 0
rotatord_inventory_drift{kind="retyped"} 0
rotatord_inventory_drift{kind="users"} 1
`,
		},
		"inventory drift, the last discovery replaces the one before": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.DiscoveryDone(testNow.Add(-24*time.Hour), map[string]int{"added": 3, "retyped": 2}, true)
				m.DiscoveryDone(testNow, map[string]int{"deleted": 1}, true)
			},
			name: "rotatord_inventory_drift",
			want: driftHeader + `rotatord_inventory_drift{kind="added"} 0
rotatord_inventory_drift{kind="deleted"} 1
rotatord_inventory_drift{kind="retyped"} 0
rotatord_inventory_drift{kind="users"} 0
`,
		},
		"inventory drift of a discovery with no drift": {
			act:  func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) { m.DiscoveryDone(testNow, nil, true) },
			name: "rotatord_inventory_drift",
			want: driftHeader + `rotatord_inventory_drift{kind="added"} 0
rotatord_inventory_drift{kind="deleted"} 0
rotatord_inventory_drift{kind="retyped"} 0
rotatord_inventory_drift{kind="users"} 0
`,
		},
		"last discovery, complete or not": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.DiscoveryDone(testNow.Add(-time.Hour), nil, true)
				m.DiscoveryDone(testNow.Add(-time.Minute), map[string]int{"added": 1}, false)
			},
			name: "rotatord_last_discovery_timestamp_seconds",
			want: `
# HELP rotatord_last_discovery_timestamp_seconds Unix time of the last discovery that ran, complete or not. Absent until the first discovery has run. No labels.
# TYPE rotatord_last_discovery_timestamp_seconds gauge
rotatord_last_discovery_timestamp_seconds 1.735786985e+09
`,
		},
		"last discovery at the zero time stamps the injected clock": {
			act:  func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) { m.DiscoveryDone(time.Time{}, nil, true) },
			name: "rotatord_last_discovery_timestamp_seconds",
			want: `
# HELP rotatord_last_discovery_timestamp_seconds Unix time of the last discovery that ran, complete or not. Absent until the first discovery has run. No labels.
# TYPE rotatord_last_discovery_timestamp_seconds gauge
rotatord_last_discovery_timestamp_seconds 1.735787045e+09
`,
		},
		"discovery incomplete after a complete one": {
			act: func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) {
				m.DiscoveryDone(testNow.Add(-time.Hour), nil, true)
				m.DiscoveryDone(testNow, nil, false)
			},
			name: "rotatord_discovery_complete",
			want: `
# HELP rotatord_discovery_complete 1 if the last discovery could read everything it asked for, 0 if some gateway, data source or workspace could not be read, so that rotatord_inventory_drift may undercount (added above all). Absent until the first discovery has run. No labels.
# TYPE rotatord_discovery_complete gauge
rotatord_discovery_complete 0
`,
		},
		"discovery complete": {
			act:  func(m *Metrics, _ *[]DatasourceState, _ *fakeEncrypt) { m.DiscoveryDone(testNow, nil, true) },
			name: "rotatord_discovery_complete",
			want: `
# HELP rotatord_discovery_complete 1 if the last discovery could read everything it asked for, 0 if some gateway, data source or workspace could not be read, so that rotatord_inventory_drift may undercount (added above all). Absent until the first discovery has run. No labels.
# TYPE rotatord_discovery_complete gauge
rotatord_discovery_complete 1
`,
		},
		"encrypt segments": {
			act:  func(_ *Metrics, _ *[]DatasourceState, e *fakeEncrypt) { e.segments = 42 },
			name: "rotatord_encrypt_segments_total",
			want: `
# HELP rotatord_encrypt_segments_total RSA segments encrypted with gateway keys since start. No labels.
# TYPE rotatord_encrypt_segments_total counter
rotatord_encrypt_segments_total 42
`,
		},
		"encrypt queue": {
			act:  func(_ *Metrics, _ *[]DatasourceState, e *fakeEncrypt) { e.queue = 7 },
			name: "rotatord_encrypt_queue_length",
			want: `
# HELP rotatord_encrypt_queue_length Segments waiting for an encryption worker. No labels.
# TYPE rotatord_encrypt_queue_length gauge
rotatord_encrypt_queue_length 7
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, reg, states, enc := newTest(t)
			tc.act(m, states, enc)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tc.want), tc.name); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBuildInfo(t *testing.T) {
	tests := map[string]struct {
		version, revision string
		wantV, wantR      string
	}{
		"given":   {version: "1.2.3", revision: "abc123", wantV: "1.2.3", wantR: "abc123"},
		"unknown": {wantV: "unknown", wantR: "unknown"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			if _, err := New(Options{Registerer: reg, Version: tc.version, Revision: tc.revision}); err != nil {
				t.Fatal(err)
			}
			want := `
# HELP rotatord_build_info Always 1; the labels say which build is running. Cardinality: 1.
# TYPE rotatord_build_info gauge
rotatord_build_info{goversion="` + runtime.Version() + `",revision="` + tc.wantR + `",version="` + tc.wantV + `"} 1
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_build_info"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestForgetRemovesCounterSeries(t *testing.T) {
	m, reg, _, _ := newTest(t)
	m.RotationDone("sales-sql", "Basic", true)
	m.RotationDone("gone", "Key", false)
	m.RotationFailed("gone", "patch", "forbidden")
	m.RotationFailed("sales-sql", "users", "not_found")
	m.RotationFailed("gone", "verify", "rejected")
	m.RollbackDone("gone", "restored")
	m.RollbackDone("sales-sql", "unavailable")

	m.Forget("gone")

	want := `
# HELP rotatord_rotations_total Rotations finished, by outcome. Cardinality: datasource (one per inventory entry) × credential_type (≤9: Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity) × result (2: success, failure).
# TYPE rotatord_rotations_total counter
rotatord_rotations_total{credential_type="Basic",datasource="sales-sql",result="failure"} 0
rotatord_rotations_total{credential_type="Basic",datasource="sales-sql",result="success"} 1
# HELP rotatord_rotation_failures_total Failed rotations by the stage that failed and a short reason. Cardinality: datasource (one per inventory entry) × stage (6: source, encrypt, patch, verify, users, other) × reason (a small fixed set of snake_case words; anything else is counted as other).
# TYPE rotatord_rotation_failures_total counter
rotatord_rotation_failures_total{datasource="sales-sql",reason="not_found",stage="users"} 1
# HELP rotatord_rollbacks_total Rollbacks to the previous verified Key Vault version after a rejected credential, by outcome. Cardinality: datasource (one per inventory entry) × result (4: restored, rejected, failed, unavailable).
# TYPE rotatord_rollbacks_total counter
rotatord_rollbacks_total{datasource="sales-sql",result="unavailable"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"rotatord_rotations_total", "rotatord_rotation_failures_total", "rotatord_rollbacks_total"); err != nil {
		t.Error(err)
	}
}

func TestDeclareStartsCountersAtZero(t *testing.T) {
	m, reg, _, _ := newTest(t)
	m.Declare("ledger-key", "Key")
	m.RotationDone("ledger-key", "Key", false)

	want := `
# HELP rotatord_rotations_total Rotations finished, by outcome. Cardinality: datasource (one per inventory entry) × credential_type (≤9: Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity) × result (2: success, failure).
# TYPE rotatord_rotations_total counter
rotatord_rotations_total{credential_type="Key",datasource="ledger-key",result="failure"} 1
rotatord_rotations_total{credential_type="Key",datasource="ledger-key",result="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_rotations_total"); err != nil {
		t.Error(err)
	}
	// A rollback is rare: absent means none, so Declare leaves it out.
	if n := countSeries(t, reg, "rotatord_rollbacks_total"); n != 0 {
		t.Errorf("rotatord_rollbacks_total: %d series after Declare, want 0", n)
	}
}

func TestStateSeriesFollowInventory(t *testing.T) {
	_, reg, states, _ := newTest(t)
	*states = []DatasourceState{{Name: "a", UsersDrift: 1}, {Name: "b", UsersDrift: 2}}
	if got := countSeries(t, reg, "rotatord_datasource_users_drift"); got != 2 {
		t.Fatalf("before removal: %d users_drift series, want 2", got)
	}
	*states = []DatasourceState{{Name: "a", UsersDrift: 1}}
	if got := countSeries(t, reg, "rotatord_datasource_users_drift"); got != 1 {
		t.Fatalf("after removal: %d users_drift series, want 1", got)
	}
}

// Before the first discovery there is nothing to report: a 0 would read as
// "no drift", and a 0 timestamp as a discovery in 1970.
func TestDiscoverySeriesAbsentUntilFirstDiscovery(t *testing.T) {
	m, reg, _, _ := newTest(t)
	m.ConfigReloaded(true)
	names := []string{
		"rotatord_inventory_drift", "rotatord_last_discovery_timestamp_seconds", "rotatord_discovery_complete",
	}
	for _, name := range names {
		if n := countSeries(t, reg, name); n != 0 {
			t.Errorf("%s: %d series before a discovery, want 0", name, n)
		}
	}
	m.DiscoveryDone(testNow, nil, false)
	for name, want := range map[string]int{names[0]: 4, names[1]: 1, names[2]: 1} {
		if n := countSeries(t, reg, name); n != want {
			t.Errorf("%s: %d series after a discovery, want %d", name, n, want)
		}
	}
}

// A scrape sees one discovery whole: never the counts of one with the
// timestamp of another.
func TestDiscoveryDoneConcurrentWithScrapes(t *testing.T) {
	m, reg, _, _ := newTest(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				n := i*100 + j
				m.DiscoveryDone(time.Unix(int64(n), 0), map[string]int{"added": n, "users": n}, n%2 == 0)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			mfs, err := reg.Gather()
			if err != nil {
				t.Error(err)
				return
			}
			got := map[string]float64{}
			for _, mf := range mfs {
				for _, mt := range mf.GetMetric() {
					key := mf.GetName()
					for _, l := range mt.GetLabel() {
						key += "/" + l.GetValue()
					}
					got[key] = mt.GetGauge().GetValue()
				}
			}
			at, ok := got["rotatord_last_discovery_timestamp_seconds"]
			if !ok {
				continue // no discovery yet
			}
			complete := 0.0
			if int(at)%2 == 0 {
				complete = 1
			}
			if got["rotatord_inventory_drift/added"] != at || got["rotatord_inventory_drift/users"] != at ||
				got["rotatord_discovery_complete"] != complete {
				t.Errorf("a scrape mixed discoveries: %v", got)
				return
			}
		}
	})
	wg.Wait()
}

func TestNilEncryptOmitsEncryptSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rotatord_encrypt_segments_total", "rotatord_encrypt_queue_length"} {
		if n := countSeries(t, reg, name); n != 0 {
			t.Errorf("%s: %d series without Encrypt, want 0", name, n)
		}
	}
}

func TestLint(t *testing.T) {
	m, _, states, _ := newTest(t)
	*states = []DatasourceState{{
		Name: "sales-sql", LastSuccess: testNow, CredentialSetAt: testNow, ExpiresAt: testNow, NextRotation: testNow,
		LastVerify: testNow, Verified: true,
	}}
	exercise(m)
	for _, c := range []prometheus.Collector{
		m.rotations, m.failures, m.durations, m.requests, m.rollbacks, m.reloadOK, m.reloadOKTime,
		newStateCollector(m.now, func() []DatasourceState { return *states }, fakeEncrypt{}),
	} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without Registerer: no error")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Registerer: reg}); err == nil {
		t.Error("second New on the same registry: no error")
	}
}

// exercise calls every recording method once, so every vector has a series.
func exercise(m *Metrics) {
	m.RotationDone("sales-sql", "Basic", true)
	m.RotationFailed("sales-sql", "patch", "throttled")
	m.ObserveStage("source", time.Second)
	m.PowerBIRequest("update_datasource", 429)
	m.RollbackDone("sales-sql", "restored")
	m.ConfigReloaded(true)
	m.DiscoveryDone(testNow, map[string]int{"added": 1}, true)
}

func countSeries(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(g, name)
	if err != nil {
		t.Fatalf("gather %s: %v", name, err)
	}
	return n
}

// A data source whose credential type changed keeps the old type's series
// until it is forgotten, and counts from many goroutines are exact.
func TestRotationCountersTypeChangeAndConcurrency(t *testing.T) {
	m, reg, _, _ := newTest(t)
	m.Declare("lake", "Key")
	m.RotationDone("lake", "Key", true)
	m.Declare("lake", "OAuth2") // a reload changed its type
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.RotationDone("lake", "OAuth2", true)
				m.RotationDone("other", "SAS", false)
			}
		})
	}
	wg.Wait()

	const head = `
# HELP rotatord_rotations_total Rotations finished, by outcome. Cardinality: datasource (one per inventory entry) × credential_type (≤9: Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity) × result (2: success, failure).
# TYPE rotatord_rotations_total counter
`
	want := head + `rotatord_rotations_total{credential_type="Key",datasource="lake",result="failure"} 0
rotatord_rotations_total{credential_type="Key",datasource="lake",result="success"} 1
rotatord_rotations_total{credential_type="OAuth2",datasource="lake",result="failure"} 0
rotatord_rotations_total{credential_type="OAuth2",datasource="lake",result="success"} 800
rotatord_rotations_total{credential_type="SAS",datasource="other",result="failure"} 800
rotatord_rotations_total{credential_type="SAS",datasource="other",result="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_rotations_total"); err != nil {
		t.Error(err)
	}
	m.Forget("lake")
	want = head + `rotatord_rotations_total{credential_type="SAS",datasource="other",result="failure"} 800
rotatord_rotations_total{credential_type="SAS",datasource="other",result="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_rotations_total"); err != nil {
		t.Error(err)
	}
}

// The counters carry the time they were created, as client_golang's do,
// for Prometheus' created-timestamp handling.
func TestRotationCountersCreatedTimestamp(t *testing.T) {
	m, reg, _, _ := newTest(t)
	m.Declare("lake", "Key")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rotatord_rotations_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			if got := s.GetCounter().GetCreatedTimestamp().AsTime(); !got.Equal(testNow) {
				t.Errorf("created timestamp %v, want %v", got, testNow)
			}
		}
		return
	}
	t.Fatal("no rotatord_rotations_total family")
}

// driftHeader is the exposition's HELP and TYPE of rotatord_inventory_drift.
const driftHeader = `
# HELP rotatord_inventory_drift Data sources that differed from the inventory at the last discovery, by kind: added (in Power BI, rotatable, in no inventory entry), deleted (an inventory entry Power BI does not know: 404), retyped (credential type changed), users (users differ). Absent until the first discovery has run. Cardinality: kind (4: added, deleted, retyped, users).
# TYPE rotatord_inventory_drift gauge
`
