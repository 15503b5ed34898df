package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/state"
)

// startInventory writes an inventory whose line 1 is auth, 2 its method,
// 3 listen, 4 state_file and 5 the vault main, with extra lines for auth
// after the method; it returns the loaded config.
func startInventory(t *testing.T, listen, stateFile, vault, authExtra string) *config.Config {
	t.Helper()
	inv := fmt.Sprintf(`auth:
  method: %s
listen: %s
state_file: %s
keyvaults: {main: %s}
datasources:
  - name: public-feed
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 8c5d0e34-2f9b-4a7d-b6c1-3e8a5f2d9b70
    credential_type: Anonymous
    encrypt: none
    source:
`, authExtra, listen, stateFile, vault)
	path := filepath.Join(t.TempDir(), "rotatord.yaml")
	if err := os.WriteFile(path, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStartRefusalsNameTheLine: what only start can judge (a state
// directory, a client secret file, a port) is refused as check refuses a
// bad value, with FILE:LINE of the setting, so an operator sees which line
// to fix in the journal line of a unit that would not start.
func TestStartRefusalsNameTheLine(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "state.json")
	vault := "https://kv.vault.azure.net/"
	tests := map[string]struct {
		cfg  *config.Config
		line int
		want string // in the message after FILE:LINE
		as   any    // the error type kept in the chain; nil: none checked
	}{
		"state directory writable by others": {
			cfg:  startInventory(t, "127.0.0.1:0", filepath.Join(open, "state.json"), vault, "azure_cli"),
			line: 4, want: "writable by others", as: new(*state.UntrustedError),
		},
		"client secret file missing": {
			cfg: startInventory(t, "127.0.0.1:0", good, vault, "client_secret\n  tenant_id: contoso.onmicrosoft.com\n"+
				"  client_id: 0b5e3f1a-2c4d-4e6f-8a9b-1c2d3e4f5a6b\n  client_secret_file: /nonexistent/secret"),
			line: 5, want: "/nonexistent/secret",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg, Options{})
			prefix := fmt.Sprintf("%s:%d: ", tc.cfg.Path, tc.line)
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q... mentioning %q", err, prefix, tc.want)
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Errorf("New error %T does not wrap %T", err, tc.as)
			}
		})
	}

	t.Run("port in use", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		cfg := startInventory(t, busy.Addr().String(), good, vault, "azure_cli")
		d, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		_, err = d.Listen()
		if prefix := cfg.Path + ":3: listen on " + busy.Addr().String(); err == nil || !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("Listen = %v, want %q...", err, prefix)
		}
	})
}
