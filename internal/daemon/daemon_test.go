package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/testutil"
	"github.com/rotatord/rotatord/internal/web"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newDemoDaemon assembles the daemon in-process on the demo inventory.
func newDemoDaemon(t *testing.T, o Options) (*Daemon, *demo.Demo) {
	t.Helper()
	dm, cfg := startDemo(t, "")
	o.Transport, o.LookupEnv = demoClient(t, dm), dm.LookupEnv
	d, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, dm
}

// startDemo starts the demo's emulators, fail's secret missing, and loads
// their inventory.
func startDemo(t *testing.T, fail string) (*demo.Demo, *config.Config) {
	t.Helper()
	dm, err := demo.Start(demo.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Fail: fail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dm.Close() })
	cfg, err := config.Load(t.Context(), dm.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	return dm, cfg
}

// demoClient is an HTTP client trusting dm's emulators.
func demoClient(t *testing.T, dm *demo.Demo) *http.Client {
	client := dm.Stack.CA.Client()
	t.Cleanup(client.CloseIdleConnections)
	return client
}

// TestRunStopsCleanly runs the daemon, rotates everything at start, serves
// metrics, and stops on cancel without leaving a goroutine behind.
func TestRunStopsCleanly(t *testing.T) {
	var notified []string
	d, dm := newDemoDaemon(t, Options{RotateAtStart: true, Notify: func(s string) { notified = append(notified, s) }})
	srv, cancel, done := startDaemon(t, d)

	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, e := range demo.Catalog() {
			if _, ok := dm.Stack.PowerBI.Credential(e.Gateway, e.ID); ok {
				n++
			}
		}
		if n == len(demo.Catalog()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d data sources rotated", n, len(demo.Catalog()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := strings.Join(notified, ","); got != "READY=1,STOPPING=1" {
		t.Errorf("systemd notifications = %q", got)
	}
}

// TestOnceUnknownName is a usage error, not a failed rotation.
func TestOnceUnknownName(t *testing.T) {
	d, _ := newDemoDaemon(t, Options{})
	_, err := d.Once(context.Background(), []string{"no-such"})
	if _, ok := err.(*UnknownDatasourceError); !ok {
		t.Fatalf("err = %v, want *UnknownDatasourceError", err)
	}
}

// TestPlanWithoutStateDirectory: plan reads the state file if there is one
// and needs no directory for it, while once and run still refuse to start
// without one. A data source that cannot be planned gets one ERROR cell,
// without its name again.
func TestPlanWithoutStateDirectory(t *testing.T) {
	dm, cfg := startDemo(t, "sales-sql")
	missing := filepath.Join(t.TempDir(), "missing", "state") // a missing volume: its parent is missing too
	cfg.StateFile = filepath.Join(missing, "state.json")
	client := demoClient(t, dm)

	_, err := New(cfg, Options{Transport: client, LookupEnv: dm.LookupEnv})
	want := fmt.Sprintf("%s:%d: state file %s: mkdir %s: no such file or directory", cfg.Path, cfg.Lines.StateFile, cfg.StateFile, missing)
	if err == nil || err.Error() != want || cfg.Lines.StateFile == 0 {
		t.Errorf("New = %v, want %q", err, want)
	}

	d, err := New(cfg, Options{Transport: client, LookupEnv: dm.LookupEnv, ReadOnly: true})
	if err != nil {
		t.Fatalf("New(ReadOnly) = %v, want the state read as empty", err)
	}
	var out strings.Builder
	if failed := d.Plan(context.Background(), &out); failed != 1 {
		t.Errorf("Plan: %d failed, want 1 (sales-sql)\n%s", failed, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "sales-sql ") {
			continue
		}
		if !strings.Contains(line, " ERROR  source: ") || strings.Contains(line, `datasource "sales-sql"`) {
			t.Errorf("sales-sql row = %q, want an ERROR cell that starts with the stage", line)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("plan created the state directory (stat: %v)", err)
	}
}

// TestFileWatchReloads: a changed file is picked up without a signal; a bad
// one is refused once, not at every poll, and the running inventory stays.
func TestFileWatchReloads(t *testing.T) {
	var logs testutil.SyncBuffer
	d, dm := newDemoDaemon(t, Options{ReloadPoll: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, cancel, done := startDaemon(t, d)
	defer func() { cancel(); <-done }()

	orig, err := os.ReadFile(dm.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	if err := os.WriteFile(dm.ConfigPath, append(orig, "bogus: 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the bad file to be refused", 10*time.Second, func() bool { return strings.Contains(logs.String(), "config reload refused") })
	time.Sleep(100 * time.Millisecond) // ten more polls
	if n := strings.Count(logs.String(), "config reload refused"); n != 1 {
		t.Errorf("the unchanged bad file was refused %d times, want once", n)
	}
	if _, ok := d.datasource("public-feed"); !ok {
		t.Fatal("a refused reload changed the running inventory")
	}

	fixed := strings.Replace(string(orig), "  - name: public-feed", "  - name: public-feed-renamed", 1)
	if err := os.WriteFile(dm.ConfigPath, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the good file to be loaded", 10*time.Second, func() bool { _, ok := d.datasource("public-feed-renamed"); return ok })
}

// TestReloadKeepsKeyVaultClients: a vault the new inventory keeps keeps its
// client (and with it the challenge and token it already has).
func TestReloadKeepsKeyVaultClients(t *testing.T) {
	d, _ := newDemoDaemon(t, Options{})
	before := d.rot.Sources().KeyVaults["demo"]
	d.Reload(t.Context(), "test")
	if after := d.rot.Sources().KeyVaults["demo"]; after == nil || after != before {
		t.Errorf("the Key Vault client was replaced by a reload that kept the vault")
	}
}

// TestRemovedWhileRotating: a data source a reload removes while its
// rotation is in flight leaves no counter series (in particular none with
// an empty credential_type) and no state behind.
func TestRemovedWhileRotating(t *testing.T) {
	var logs testutil.SyncBuffer
	reg := prometheus.NewRegistry()
	d, dm := newDemoDaemon(t, Options{Registry: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	patching := make(chan struct{})
	dm.Stack.PowerBI.Faults().Inject(emulator.OpUpdateDatasource, emulator.Fault{Latency: 2 * time.Second, Times: 1,
		OnHit: func() { close(patching) }})

	done := make(chan int, 1)
	go func() {
		failed, _ := d.Once(context.Background(), []string{"public-feed"})
		done <- failed
	}()
	orig, err := os.ReadFile(dm.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	from := strings.Index(string(orig), "  - name: public-feed")
	to := strings.Index(string(orig), "  - name: warehouse-key")
	if from < 0 || to < from {
		t.Fatal("public-feed not found in the demo inventory")
	}
	select {
	case <-patching: // the reload below lands while the PATCH is in flight
	case <-time.After(30 * time.Second):
		t.Fatal("the rotation never reached the PATCH")
	}
	if err := os.WriteFile(dm.ConfigPath, append(orig[:from:from], orig[to:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Reload(t.Context(), "test")
	if _, ok := d.datasource("public-feed"); ok {
		t.Fatal("the reload kept public-feed")
	}
	<-done

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "datasource" && l.GetValue() == "public-feed" ||
					l.GetName() == "credential_type" && l.GetValue() == "" {
					t.Errorf("%s%v left behind", mf.GetName(), m.GetLabel())
				}
			}
		}
	}
	if _, ok := d.state.Get("public-feed"); ok {
		t.Error("public-feed's state record left behind")
	}
	if !strings.Contains(logs.String(), "left the inventory") {
		t.Errorf("no log line says the data source left; logs:\n%s", logs.String())
	}
}

// TestPollRefusesNonRegular: the poll read the inventory with os.ReadFile,
// so one swapped for a link to /dev/zero was read until memory ran out. It
// is now refused once and the running inventory kept; a file missing for a
// moment (an editor replacing it) is left to the next poll, not refused.
func TestPollRefusesNonRegular(t *testing.T) {
	var logs testutil.SyncBuffer
	d, dm := newDemoDaemon(t, Options{ReloadPoll: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, cancel, done := startDaemon(t, d)
	defer func() { cancel(); <-done }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	orig, err := os.ReadFile(dm.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	time.Sleep(100 * time.Millisecond) // let the poll see the file first
	if err := os.Remove(dm.ConfigPath); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // ten polls
	if strings.Contains(logs.String(), "config reload refused") {
		t.Fatal("a missing file was refused; want it left to the next poll")
	}

	if err := os.Symlink("/dev/zero", dm.ConfigPath); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the link to /dev/zero to be refused", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "config reload refused") && strings.Contains(logs.String(), "not a regular file (a device)")
	})
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(logs.String(), "config reload refused"); n != 1 {
		t.Errorf("the unchanged link was refused %d times, want once", n)
	}
	if _, ok := d.datasource("public-feed"); !ok {
		t.Fatal("a refused reload changed the running inventory")
	}

	if err := os.Remove(dm.ConfigPath); err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(orig), "  - name: public-feed", "  - name: public-feed-renamed", 1)
	if err := os.WriteFile(dm.ConfigPath, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the good file to be loaded", 10*time.Second, func() bool { _, ok := d.datasource("public-feed-renamed"); return ok })
}

// startDaemon binds d's listener and runs d until cancel; done yields Run's
// error.
func startDaemon(t *testing.T, d *Daemon) (srv *web.Server, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	srv, err := d.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- d.Run(ctx, srv) }()
	return srv, cancel, ch
}
