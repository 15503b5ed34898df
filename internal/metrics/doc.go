// Package metrics owns rotatord's Prometheus metrics: the event counters and
// histograms the rotation pipeline records, and a collector that reads
// per-data-source state from the daemon at scrape time.
//
// Everything is registered on a Registerer passed in by the caller — there is
// no global registry, no promauto and no init — so tests and the daemon each
// get their own, and two daemons in one process (tests, `rotatord demo`) never
// collide. The metric names and labels are the outside contract fixed in
// DESIGN.md; the Grafana dashboard and the alert rules under deploy/monitoring
// depend on them, and dashboard_test.go checks that every name they use is
// one this package serves.
//
// Metrics read state, they never drive rotations.
package metrics
