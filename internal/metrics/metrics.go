package metrics

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rotatord/rotatord/internal/clock"
)

const namespace = "rotatord"

// stages are the stage label values: a rotation's stages (rotate.Stage,
// which metrics does not import: it reads state, it never drives
// rotations), in pipeline order. Any other value is counted as
// stageOther, so that a caller's typo cannot mint a new series.
var stages = [...]string{"source", "encrypt", "patch", "verify", "users"}

const stageOther = "other"

// rollbackResults are the result label values of rotatord_rollbacks_total.
// Any other value is counted as rollbackFailed: a result nobody expected is
// no rollback that can be trusted to have worked.
var rollbackResults = [...]string{
	"restored",    // the previous version verified and is back in Power BI
	"rejected",    // the previous version was rejected too; the newest was pushed again
	"failed",      // a fetch or PATCH failed, or the check was inconclusive
	"unavailable", // no previous verified version is recorded, or the source has no versions
}

const rollbackFailed = "failed"

// Options configures New. Registerer is required; the rest have defaults.
type Options struct {
	// Registerer receives every collector. Required: there is no global default.
	Registerer prometheus.Registerer
	// Clock is used for credential ages, reload timestamps and the counters'
	// created timestamps; nil means clock.Real().
	Clock clock.Clock
	// States reports per-data-source state at scrape time; nil means none.
	States StateFunc
	// Encrypt reports the encryption worker pool's counters; nil omits
	// rotatord_encrypt_segments_total and rotatord_encrypt_queue_length.
	Encrypt EncryptStats
	// Version and Revision label rotatord_build_info; "" becomes "unknown".
	Version, Revision string
	// Standby starts rotatord_leader at 0: the process campaigns for a
	// lease (ha:) and leads only once it holds it. Without it the process
	// leads from the start.
	Standby bool
}

// Metrics records rotatord's events. Its methods are safe for concurrent use.
type Metrics struct {
	now          func() time.Time
	rotations    *rotationCounters
	failures     *prometheus.CounterVec
	durations    *prometheus.HistogramVec
	requests     *prometheus.CounterVec
	rollbacks    *prometheus.CounterVec
	reloadOK     prometheus.Gauge
	reloadOKTime prometheus.Gauge
	leader       prometheus.Gauge
	transitions  prometheus.Counter
	discovery    *discoveryCollector
}

// New creates rotatord's metrics and registers them, together with the Go
// runtime and process collectors and rotatord_build_info, on o.Registerer.
// It fails if o.Registerer is nil or already holds any of them.
func New(o Options) (*Metrics, error) {
	if o.Registerer == nil {
		return nil, errors.New("metrics: Options.Registerer is nil")
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	m := &Metrics{
		now: o.Clock.Now,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rotation_failures_total",
			Help: "Failed rotations by the stage that failed and a short reason. Cardinality: datasource " +
				"(one per inventory entry) × stage (6: source, encrypt, patch, verify, users, other) × " +
				"reason (a small fixed set of snake_case words; anything else is counted as other).",
		}, []string{"datasource", "stage", "reason"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "rotation_duration_seconds",
			Help: "Time spent in each stage of a rotation, retries included. Cardinality: " +
				"stage (6: source, encrypt, patch, verify, users, other).",
			// From a cached-key encryption (milliseconds) to a PATCH that waited
			// out several 429 Retry-After rounds (minutes).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"stage"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "powerbi_requests_total",
			Help: "Power BI REST requests by operation and HTTP status. Cardinality: operation " +
				"(a fixed set of API calls) × code (HTTP status codes seen, or error when no response came back).",
		}, []string{"operation", "code"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rollbacks_total",
			Help: "Rollbacks to the previous verified Key Vault version after a rejected credential, by outcome. " +
				"Cardinality: datasource (one per inventory entry) × result (4: restored, rejected, failed, unavailable).",
		}, []string{"datasource", "result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_last_reload_success",
			Help:      "1 if the last configuration (re)load succeeded, 0 if it was refused. No labels.",
		}),
		reloadOKTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_last_reload_success_timestamp_seconds",
			Help:      "Unix time of the last successful configuration (re)load. No labels.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "leader",
			Help:      "1 while this process holds the lease and rotates (always 1 without ha:), 0 while it stands by. No labels.",
		}),
		transitions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "leader_transitions_total",
			Help:      "Times this process started or stopped leading. No labels.",
		}),
	}
	if !o.Standby {
		m.leader.Set(1)
	}
	m.rotations = newRotationCounters(m.now)
	m.discovery = newDiscoveryCollector()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "build_info",
		Help:      "Always 1; the labels say which build is running. Cardinality: 1.",
		ConstLabels: prometheus.Labels{
			"version":   orUnknown(o.Version),
			"revision":  orUnknown(o.Revision),
			"goversion": runtime.Version(),
		},
	})
	buildInfo.Set(1)

	cs := []prometheus.Collector{
		m.rotations, m.failures, m.durations, m.requests, m.rollbacks, m.reloadOK, m.reloadOKTime, m.leader, m.transitions, buildInfo,
		m.discovery,
		newStateCollector(m.now, o.States, o.Encrypt),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for _, c := range cs {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Declare creates datasource's rotation counters at zero, so that the first
// failure is an increase Prometheus can see (increase() over a series that
// appears at 1 reads as no change).
func (m *Metrics) Declare(datasource, credentialType string) {
	m.rotations.get(datasource, credentialType)
}

// RotationDone counts a finished rotation of datasource as a success or a
// failure. Both of its series exist from then on.
func (m *Metrics) RotationDone(datasource, credentialType string, ok bool) {
	n := m.rotations.get(datasource, credentialType)
	if ok {
		n.success.Add(1)
	} else {
		n.failure.Add(1)
	}
}

// RotationFailed counts a failure of datasource at stage (source, encrypt,
// patch, verify, users; anything else is counted as other). reason should be a
// short stable snake_case word (e.g. "forbidden", "throttled"); anything not
// matching [a-z0-9_]{1,40} is counted as "other" so that an error message can
// never become a label value.
func (m *Metrics) RotationFailed(datasource, stage, reason string) {
	m.failures.WithLabelValues(datasource, knownStage(stage), boundedWord(reason)).Inc()
}

// ObserveStage records how long stage took; stage is as for RotationFailed.
func (m *Metrics) ObserveStage(stage string, d time.Duration) {
	m.durations.WithLabelValues(knownStage(stage)).Observe(d.Seconds())
}

// PowerBIRequest counts one Power BI REST request. code is the HTTP status;
// 0 (or anything that is not an HTTP status) means no response came back and
// is counted as code="error". operation is an API operation name such as the
// swagger's "Gateways_UpdateDatasource"; anything not matching
// [A-Za-z0-9_]{1,64} (a URL path, a GUID) is counted as "other".
func (m *Metrics) PowerBIRequest(operation string, code int) {
	label := "error"
	if code >= 100 && code <= 599 {
		label = strconv.Itoa(code)
	}
	m.requests.WithLabelValues(boundedName(operation), label).Inc()
}

// RollbackDone counts a rollback of datasource after its new credential was
// rejected. result is "restored" (the previous version verified and is back),
// "rejected" (the previous version was rejected too, so the newest was pushed
// again), "failed" (a fetch or PATCH failed, or the check was inconclusive) or
// "unavailable" (no previous verified version, or a source without
// versions); anything else is counted as "failed". The series are not
// declared at zero: rollbacks are rare, and an absent series means none.
func (m *Metrics) RollbackDone(datasource, result string) {
	if !slices.Contains(rollbackResults[:], result) {
		result = rollbackFailed
	}
	m.rollbacks.WithLabelValues(datasource, result).Inc()
}

// ConfigReloaded records the outcome of a configuration load or reload. The
// daemon calls it after the first load too, so that the gauge starts at 1.
func (m *Metrics) ConfigReloaded(ok bool) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadOKTime.Set(unixSeconds(m.now()))
}

// Forget drops the counter series of a data source that left the inventory,
// so dashboards stop showing it. Its state series vanish by themselves once
// States no longer reports it.
func (m *Metrics) Forget(datasource string) {
	m.rotations.forget(datasource)
	m.failures.DeletePartialMatch(prometheus.Labels{"datasource": datasource})
	m.rollbacks.DeletePartialMatch(prometheus.Labels{"datasource": datasource})
}

func knownStage(s string) string {
	if slices.Contains(stages[:], s) {
		return s
	}
	return stageOther
}

// boundedWord returns s if it is a short snake_case word, else "other". It
// guards label cardinality against callers that pass error strings or IDs.
func boundedWord(s string) string {
	return bounded(s, 40, false)
}

// boundedName is boundedWord for identifiers that may use capitals, such as
// swagger operation IDs.
func boundedName(s string) string {
	return bounded(s, 64, true)
}

func bounded(s string, maxLen int, upper bool) string {
	if len(s) == 0 || len(s) > maxLen {
		return "other"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || upper && c >= 'A' && c <= 'Z'
		if !ok {
			return "other"
		}
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Leading records that this process started (true) or stopped (false)
// leading.
func (m *Metrics) Leading(leading bool) {
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
	m.transitions.Inc()
}
