package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/testutil"
)

// TestDemoRotatesEverything runs the README's first command and waits for
// every sample data source to rotate.
func TestDemoRotatesEverything(t *testing.T) {
	skipIfShort(t)
	e := &env{t: t, dir: t.TempDir(), out: &testutil.SyncBuffer{}}
	d := e.start("demo", "-listen", "127.0.0.1:0", "-dir", e.dir)
	success := regexp.MustCompile(`msg=rotation datasource=(\S+) .*result=success`)
	all := len(demo.Catalog()) + len(demo.Connections())
	testutil.WaitFor(t, fmt.Sprintf("all %d demo data sources to rotate", all), 60*time.Second, func() bool {
		seen := map[string]bool{}
		for _, m := range success.FindAllStringSubmatch(e.out.String(), -1) {
			seen[m[1]] = true
		}
		return len(seen) == all
	})
	_, metrics := d.get("/metrics")
	if n := strings.Count(metrics, `result="success"} 1`); n != all {
		t.Errorf("%d data sources with one success in /metrics, want %d", n, all)
	}
	if code := d.stop(syscall.SIGINT, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after Ctrl-C, want 0", code)
	}
	if strings.Contains(e.out.String(), "level=ERROR") {
		t.Errorf("the demo logged errors:\n%s", e.out)
	}
}

// TestRunBadStartup: problems found before the daemon can run exit 2 with
// one clear line.
func TestRunBadStartup(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	badWeb := filepath.Join(e.dir, "web.yml")
	if err := os.WriteFile(badWeb, []byte("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(e.demo.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	inventory := func(t *testing.T, from, to string) string {
		p := filepath.Join(t.TempDir(), "rotatord.yaml")
		if err := os.WriteFile(p, []byte(strings.Replace(string(orig), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	listenLine := regexp.MustCompile(`(?m)^listen: .*$`).FindString(string(orig))
	secretLine := regexp.MustCompile(`(?m)^  client_secret_file: .*$`).FindString(string(orig))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"port in use": {
			args: []string{"run", "--config", inventory(t, listenLine, "listen: "+busy.Addr().String())},
			want: "address already in use",
		},
		"bad web config": {
			args: []string{"run", "--config", e.demo.ConfigPath, "--web.config.file", badWeb},
			want: "web.yml",
		},
		"unreadable client secret": {
			args: []string{"run", "--config", inventory(t, secretLine, "  client_secret_file: "+filepath.Join(e.dir, "no-such-dir", "secret"))},
			want: "no-such-dir",
		},
	} {
		t.Run(name, func(t *testing.T) {
			e.out = &testutil.SyncBuffer{}
			e.t = t
			if code := e.run(tc.args...); code != 2 {
				t.Fatalf("exit %d, want 2; output:\n%s", code, e.out)
			}
			out := strings.TrimSpace(e.out.String())
			if strings.Count(out, "\n") > 0 || !strings.Contains(out, tc.want) || strings.Contains(out, "goroutine") {
				t.Errorf("want one line mentioning %q, got:\n%s", tc.want, out)
			}
		})
	}
}

// TestJSONLogs: --log-format json gives one JSON object per line with the
// stable keys of a rotation.
func TestJSONLogs(t *testing.T) {
	skipIfShort(t)
	e := newEnv(t, "")
	if code := e.run("once", "--config", e.demo.ConfigPath, "--only", "ledger-key", "--log-format", "json"); code != 0 {
		t.Fatalf("once exited %d; output:\n%s", code, e.out)
	}
	var rotations int
	for _, line := range strings.Split(strings.TrimSpace(e.out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec["msg"] == "rotation" {
			rotations++
			for _, key := range []string{"datasource", "credential_type", "attempts", "duration", "result"} {
				if _, ok := rec[key]; !ok {
					t.Errorf("rotation line lacks %q: %s", key, line)
				}
			}
		}
	}
	if rotations != 1 {
		t.Errorf("%d rotation lines, want 1", rotations)
	}
}
