// Package web serves rotatord's operational HTTP endpoints — /metrics,
// /healthz (liveness) and /readyz (readiness) — on their own listener and
// ServeMux.
//
// TLS and basic authentication come from a Prometheus exporter-toolkit web
// config file, the same format node_exporter and blackbox_exporter take, so
// operators reuse what they know. The port is bound and the web config file is
// checked in Listen, before the daemon starts rotating, so that a busy port or
// a broken file is a start-up error (exit 2) rather than a silent half-start.
// No pprof handlers are ever mounted here.
package web
