// Package demo prepares what `rotatord demo` runs: the emulated services
// seeded with gateways, data sources and secrets, and a sample inventory that
// covers every credential type, both gateway key sizes and every source kind.
package demo
