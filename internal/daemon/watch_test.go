package daemon

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/testutil"
)

// TestBusy: a data source taken by a rotation refuses a watch check (take)
// and holds back another taker (acquire) until it is released; a wait ends
// with its context; other data sources are free.
func TestBusy(t *testing.T) {
	var b busy
	release, _ := b.take("sales-sql")
	if release == nil {
		t.Fatal("a free data source was not taken")
	}
	if again, wait := b.take("sales-sql"); again != nil || wait == nil {
		t.Fatal("a taken data source was taken again")
	}
	other, _ := b.take("hr-fileshare")
	if other == nil {
		t.Fatal("another data source is not free")
	}
	other()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(ctx, "sales-sql"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire of a taken data source: %v, want the context's end", err)
	}

	got := make(chan func(), 1)
	go func() {
		r, err := b.acquire(context.Background(), "sales-sql")
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("acquire returned while the data source was taken")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	(<-got)()
	if r, _ := b.take("sales-sql"); r == nil {
		t.Error("released twice over, the data source is not free")
	}
}

// TestWatchCatchesABackendChange: the database behind sales-sql takes a new
// password that rotatord was never given. No rotation is due for a day, yet
// the verify_every check finds the refusal, records it in the state and
// logs one verification line, sending no PATCH.
func TestWatchCatchesABackendChange(t *testing.T) {
	fake := clocktest.NewFake(time.Now())
	logs := &testutil.SyncBuffer{}
	dm, cfg := startDemo(t, "")
	for i := range cfg.Datasources {
		cfg.Datasources[i].Schedule = "@every 24h"
		if cfg.Datasources[i].Name == "sales-sql" {
			cfg.Datasources[i].VerifyEvery = 10 * time.Minute
		}
	}
	d, err := New(cfg, Options{Clock: fake, Transport: demoClient(t, dm), LookupEnv: dm.LookupEnv,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if failed, err := d.Once(t.Context(), []string{"sales-sql"}); failed != 0 || err != nil {
		t.Fatalf("first rotation: %d failed, %v", failed, err)
	}
	if st, _ := d.state.Get("sales-sql"); !st.Verified || st.VerifiedVersion == "" {
		t.Fatalf("after a clean rotation the state is %+v, want verified", st)
	}
	x := demo.Catalog()[0]
	if err := dm.Stack.PowerBI.SetBackend(x.Gateway, x.ID, map[string]string{"username": "svc_powerbi", "password": "changed-by-the-dba"}); err != nil {
		t.Fatal(err)
	}
	patches := len(dm.Stack.PowerBI.History(x.Gateway, x.ID))

	_, cancel, done := startDaemon(t, d)
	testutil.WaitFor(t, "the watch to find the refused login", 30*time.Second, func() bool {
		fake.Advance(time.Minute)
		st, _ := d.state.Get("sales-sql")
		return !st.Verified
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := len(dm.Stack.PowerBI.History(x.Gateway, x.ID)); n != patches {
		t.Errorf("%d PATCHes during the watch, want none", n-patches)
	}
	lines := logs.Lines("msg=verification", "datasource=sales-sql", "result=failure", "reason=rejected")
	if len(lines) != 1 {
		t.Errorf("%d failed verification lines, want 1:\n%s", len(lines), logs.String())
	}
	if st, _ := d.state.Get("sales-sql"); st.LastVerify.Before(fake.Now().Add(-2 * time.Minute)) {
		t.Errorf("state LastVerify %v, want the check's time (clock at %v)", st.LastVerify, fake.Now())
	}
}
