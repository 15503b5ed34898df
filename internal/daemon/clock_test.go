package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
)

// TestOneClock: the daemon's one clock judges a Key Vault secret's exp in
// the Key Vault client and in rotate alike, and stamps the state: under a
// fake clock ahead of wall time a secret is expired although wall time is
// before its exp, and under one behind wall time a secret wall time calls
// expired is pushed. Either check on wall time would turn one case around.
func TestOneClock(t *testing.T) {
	wall := time.Now().Truncate(time.Second)
	tests := map[string]struct {
		expires   time.Time // sales-sql-password's exp
		clock     time.Time // what the daemon's clock reads
		wantError string    // the state's LastError; "" for a success
	}{
		"expired on the clock only": {expires: wall.Add(time.Hour), clock: wall.Add(2 * time.Hour), wantError: "source:expired"},
		"expired on the wall only":  {expires: wall.Add(-time.Hour), clock: wall.Add(-2 * time.Hour)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := clocktest.NewFake(tc.clock)
			d, dm := newDemoDaemon(t, Options{Clock: fake})
			dm.Stack.KeyVault.SetSecret("sales-sql-password", secret.FromString("new-password"), emulator.SecretAttributes{Expires: tc.expires})
			failed, err := d.Once(context.Background(), []string{"sales-sql"})
			if err != nil {
				t.Fatal(err)
			}
			st, _ := d.state.Get("sales-sql")
			if st.LastError != tc.wantError || (failed == 1) != (tc.wantError != "") {
				t.Fatalf("failed=%d, LastError=%q; want %q", failed, st.LastError, tc.wantError)
			}
			if !st.LastAttempt.Equal(tc.clock) {
				t.Errorf("LastAttempt = %v, want the fake clock's %v", st.LastAttempt, tc.clock)
			}
			if tc.wantError == "" && !st.LastSuccess.Equal(tc.clock) {
				t.Errorf("LastSuccess = %v, want the fake clock's %v", st.LastSuccess, tc.clock)
			}
		})
	}
}
