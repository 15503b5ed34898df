package config

import (
	"testing"

	"github.com/rotatord/rotatord/internal/scheduler"
)

// scheduleInventory is one data source with schedule spec, on line 8.
func scheduleInventory(spec string) []byte {
	return []byte(`datasources:
  - name: ledger-key
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 4d7a2e90-6b1f-4c8d-9e3a-5f0b7c2d1e86
    credential_type: Key
    encrypt: gateway
    source: {env: LEDGER_KEY}
    schedule: "` + spec + `"
`)
}

// TestScheduleNeverFires: check refuses, with its line, a schedule that
// run would refuse without one, and accepts the leap day, which fires.
func TestScheduleNeverFires(t *testing.T) {
	tests := map[string]struct {
		spec string
		want string // the exact error; "" accepts
	}{
		"feb 30":   {"0 0 30 2 *", `inv.yaml:8: datasources[0].schedule: "0 0 30 2 *" never fires: no year has that date (February has 29 days at most; April, June, September and November 30)`},
		"april 31": {"0 3 31 4 *", `inv.yaml:8: datasources[0].schedule: "0 3 31 4 *" never fires: no year has that date (February has 29 days at most; April, June, September and November 30)`},
		"leap day": {"0 0 29 2 *", ""},
		"daily":    {"0 3 * * *", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse("inv.yaml", scheduleInventory(tc.spec))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want %q accepted", err, tc.spec)
				}
				// What check accepts, the scheduler takes.
				if err := scheduler.CheckSchedule(cfg.Datasources[0].Schedule); err != nil {
					t.Errorf("CheckSchedule(%q) = %v after config accepted it", tc.spec, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}
