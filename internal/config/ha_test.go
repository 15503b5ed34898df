package config

import (
	"testing"
	"time"
)

func TestParseHA(t *testing.T) {
	const inventory = `ha:
  lease_blob: https://contosoops.blob.core.windows.net/rotatord/leader
state_blob: https://127.0.0.1:10000/devstoreaccount1/rotatord/state.json
datasources:
  - name: a
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 252b9de8-d915-4788-aaeb-ec8c2395f970
    credential_type: Key
    encrypt: gateway
    source: {file: /run/k}
`
	cfg, err := Parse("ha.yaml", []byte(inventory))
	if err != nil {
		t.Fatal(err)
	}
	want := HA{LeaseBlob: "https://contosoops.blob.core.windows.net/rotatord/leader", LeaseDuration: 30 * time.Second}
	if cfg.HA != want || !cfg.HA.Enabled() {
		t.Errorf("HA = %+v, want %+v (the default duration)", cfg.HA, want)
	}
	if cfg.StateBlob != "https://127.0.0.1:10000/devstoreaccount1/rotatord/state.json" || cfg.StateFile != "" {
		t.Errorf("StateBlob %q, StateFile %q: want the path-style blob and no file", cfg.StateBlob, cfg.StateFile)
	}
	if cfg.Lines.HA != 1 || cfg.Lines.StateBlob != 3 {
		t.Errorf("Lines = %+v, want ha at 1, state_blob at 3", cfg.Lines)
	}
	if (HA{}).Enabled() || Builtin("").StateFile != DefaultStateFile {
		t.Error("without ha: leader election is off and the state file is the default")
	}
}
