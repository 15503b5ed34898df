// Package demo prepares what `rotatord demo` runs: the emulated services
// seeded with gateways, data sources, Fabric connections and secrets, and a
// sample inventory that covers every credential type, both gateway key
// sizes, a three-member gateway cluster and every source kind.
package demo
