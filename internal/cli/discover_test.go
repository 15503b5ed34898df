package cli

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/daemon"
	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
)

// TestDiscoverInterrupted: a discovery a stop cuts short prints no
// inventory, which redirected into a file would pass for a whole one.
func TestDiscoverInterrupted(t *testing.T) {
	dm, err := demo.Start(demo.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dm.Close() })
	client := dm.Stack.CA.Client()
	t.Cleanup(client.CloseIdleConnections)
	for _, canceled := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "interrupted"}[canceled], func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if canceled {
				// The stop comes while the users are being read, the config long read.
				dm.Stack.PowerBI.Faults().Inject(emulator.OpGetDatasourceUsers, emulator.Fault{Latency: time.Minute, OnHit: cancel, Times: 1})
			}
			var stdout, stderr strings.Builder
			env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv}
			code := discoverWith(ctx, env, []string{"-config", dm.ConfigPath}, daemon.Options{Transport: client, LookupEnv: dm.LookupEnv})
			switch {
			case canceled && (code != ExitFailure || stdout.Len() != 0 || !strings.Contains(stderr.String(), "interrupted")):
				t.Errorf("exit %d, %d bytes printed, stderr %q; want 1, nothing, interrupted", code, stdout.Len(), stderr.String())
			case !canceled && (code != ExitOK || !strings.Contains(stdout.String(), "datasources:")):
				t.Errorf("exit %d, stderr %q; want 0 and an inventory", code, stderr.String())
			}
		})
	}
}
