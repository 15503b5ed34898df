package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rotationCounters is rotatord_rotations_total. It is a collector of its own
// rather than a CounterVec because it has two series per data source, and a
// fleet of 10,000 data sources made the CounterVec's per-series bookkeeping
// (label pairs, created timestamp, hash map) about 9 MB, a third of
// rotatord's live heap; this keeps two integers and a time per data source
// and builds the series only at scrape time.
type rotationCounters struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu sync.RWMutex
	m  map[string][]*rotationCount // by data source
}

// rotationCount is one data source's counts under one credential type: a
// data source whose type changed on a reload keeps its old series until it
// is forgotten, as a CounterVec would.
type rotationCount struct {
	credentialType   string
	created          time.Time
	success, failure atomic.Uint64
}

func newRotationCounters(now func() time.Time) *rotationCounters {
	return &rotationCounters{
		desc: prometheus.NewDesc(namespace+"_rotations_total",
			"Rotations finished, by outcome. Cardinality: datasource (one per inventory entry) × "+
				"credential_type (≤9: Basic, Windows, Key, OAuth2, SAS, Anonymous, ServicePrincipal, KeyPair, WorkspaceIdentity) × result (2: success, failure).",
			[]string{"datasource", "credential_type", "result"}, nil),
		now: now,
		m:   make(map[string][]*rotationCount),
	}
}

// get returns the counts of datasource under credentialType, creating them
// at zero.
func (c *rotationCounters) get(datasource, credentialType string) *rotationCount {
	c.mu.RLock()
	n := find(c.m[datasource], credentialType)
	c.mu.RUnlock()
	if n != nil {
		return n
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := find(c.m[datasource], credentialType); n != nil {
		return n
	}
	n = &rotationCount{credentialType: credentialType, created: c.now()}
	c.m[datasource] = append(c.m[datasource], n)
	return n
}

func find(counts []*rotationCount, credentialType string) *rotationCount {
	for _, n := range counts {
		if n.credentialType == credentialType {
			return n
		}
	}
	return nil
}

func (c *rotationCounters) forget(datasource string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, datasource)
}

func (c *rotationCounters) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *rotationCounters) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for ds, counts := range c.m {
		for _, n := range counts {
			for _, r := range []struct {
				result string
				v      *atomic.Uint64
			}{{"success", &n.success}, {"failure", &n.failure}} {
				ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(c.desc, prometheus.CounterValue,
					float64(r.v.Load()), n.created, ds, n.credentialType, r.result)
			}
		}
	}
}
