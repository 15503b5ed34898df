package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// driftKinds are the kind label values of rotatord_inventory_drift: the
// kinds of discover.Drift (which metrics does not import), in the order
// reports group them. They are the only values the label ever takes.
var driftKinds = [...]string{
	"added",   // Power BI has a data source the inventory lacks, and rotatord could rotate it
	"deleted", // the inventory names a data source Power BI does not know (404)
	"retyped", // the data source's credential type is not the inventory's
	"users",   // the data source's users differ from those the inventory declares
}

// discoveryCollector exports the outcome of the last discovery. It keeps one
// snapshot under a lock, so that a scrape never mixes the counts of one
// discovery with the timestamp or completeness of another; before the first
// discovery it exports nothing, as a 0 would read as "no drift" (and a 0
// timestamp as 1970).
type discoveryCollector struct {
	drift, last, complete *prometheus.Desc

	mu       sync.Mutex
	ran      bool
	at       time.Time
	counts   [len(driftKinds)]int
	finished bool // complete: everything asked for could be read
}

func newDiscoveryCollector() *discoveryCollector {
	const absent = " Absent until the first discovery has run."
	return &discoveryCollector{
		drift: prometheus.NewDesc(namespace+"_inventory_drift",
			"Data sources that differed from the inventory at the last discovery, by kind: added (in Power BI, "+
				"rotatable, in no inventory entry), deleted (an inventory entry Power BI does not know: 404), "+
				"retyped (credential type changed), users (users differ)."+absent+
				" Cardinality: kind (4: added, deleted, retyped, users).",
			[]string{"kind"}, nil),
		last: prometheus.NewDesc(namespace+"_last_discovery_timestamp_seconds",
			"Unix time of the last discovery that ran, complete or not."+absent+" No labels.", nil, nil),
		complete: prometheus.NewDesc(namespace+"_discovery_complete",
			"1 if the last discovery could read everything it asked for, 0 if some gateway, data source or "+
				"workspace could not be read, so that rotatord_inventory_drift may undercount (added above all)."+
				absent+" No labels.", nil, nil),
	}
}

func (c *discoveryCollector) set(at time.Time, counts map[string]int, complete bool) {
	var n [len(driftKinds)]int
	for i, k := range driftKinds {
		n[i] = max(counts[k], 0)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ran, c.at, c.counts, c.finished = true, at, n, complete
}

func (c *discoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.drift
	ch <- c.last
	ch <- c.complete
}

func (c *discoveryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ran, at, counts, complete := c.ran, c.at, c.counts, c.finished
	c.mu.Unlock()
	if !ran {
		return
	}
	for i, k := range driftKinds {
		ch <- prometheus.MustNewConstMetric(c.drift, prometheus.GaugeValue, float64(counts[i]), k)
	}
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, unixSeconds(at))
	v := 0.0
	if complete {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(c.complete, prometheus.GaugeValue, v)
}

// DiscoveryDone records a discovery that ran at at (the zero time means
// now): counts holds the number of data sources drifting in each way, by
// kind ("added", "deleted", "retyped", "users"); a kind it lacks is 0, and
// any other key is ignored, so that the kind label only ever takes those
// four values; a negative count is 0. complete is false when some gateway,
// data source or workspace could not be read. The three families appear
// with the first call and keep the last call's values until the next.
func (m *Metrics) DiscoveryDone(at time.Time, counts map[string]int, complete bool) {
	if at.IsZero() {
		at = m.now()
	}
	m.discovery.set(at, counts, complete)
}
