package config

import (
	"fmt"
	"strings"
	"testing"
)

// fleetInventory is an inventory of n Basic data sources.
func fleetInventory(n int) []byte {
	var b strings.Builder
	b.WriteString("keyvaults: {main: https://kv.vault.azure.net/}\ndatasources:\n")
	for i := range n {
		fmt.Fprintf(&b, `  - name: ds-%05d
    gateway_id: 00000000-0000-4000-8000-%012x
    datasource_id: 00000000-0000-4000-8000-%012x
    credential_type: Basic
    encrypt: gateway
    schedule: "@every 24h"
    source: {keyvault: main, username: svc, password_secret: pw-%d}
`, i, i%4, 100000+i, i%50)
	}
	return []byte(b.String())
}

// BenchmarkParse10k measures loading a 10,000-data-source inventory, the
// largest allocation rotatord makes at start.
func BenchmarkParse10k(b *testing.B) {
	data := fleetInventory(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("fleet.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
