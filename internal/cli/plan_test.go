package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// offlineInventory writes an inventory that plan can go through without a
// network (one Anonymous cloud data source, no users) and whose state_file
// is state; it returns the inventory's path.
func offlineInventory(t *testing.T, state string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	inv := `auth: {method: azure_cli}
state_file: ` + state + `
datasources:
  - name: public-feed
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 8c5d0e34-2f9b-4a7d-b6c1-3e8a5f2d9b70
    credential_type: Anonymous
    encrypt: none
    source:
`
	if err := os.WriteFile(path, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPlanWithoutStateDirectory is a newcomer's second command, right after
// check: the daemon never ran, so the state file's directory does not exist.
// plan reads no state, creates nothing and succeeds. once, which writes the
// state, creates a missing directory 0700 itself, but refuses with one line
// that names the state file once when the directory's parent is missing
// too (a volume that is not mounted).
func TestPlanWithoutStateDirectory(t *testing.T) {
	volume := filepath.Join(t.TempDir(), "volume")
	missing := filepath.Join(volume, "rotatord")
	state := filepath.Join(missing, "state.json")
	config := offlineInventory(t, state)

	code, stdout, stderr := run(t, "", "plan", "--config", config)
	if code != ExitOK || stderr != "" {
		t.Errorf("plan: exit %d, stderr %q; want %d and nothing", code, stderr, ExitOK)
	}
	if !strings.HasPrefix(stdout, "DATASOURCE ") || !strings.Contains(stdout, "\npublic-feed ") {
		t.Errorf("plan: stdout = %q, want the plan of public-feed", stdout)
	}
	if _, err := os.Stat(volume); !os.IsNotExist(err) {
		t.Errorf("plan created a directory (stat: %v)", err)
	}

	code, stdout, stderr = run(t, "", "once", "--config", config)
	want := "rotatord once: " + config + ":2: state file " + state + ": mkdir " + missing + ": no such file or directory\n"
	if code != ExitUsage || stdout != "" || stderr != want {
		t.Errorf("once: exit %d, stdout %q, stderr\n%q\nwant %d and\n%q", code, stdout, stderr, ExitUsage, want)
	}
}

// TestPlanCorruptState: plan reports a corrupt state file and plans as run
// would start, from an empty state, leaving the file for run to set aside.
func TestPlanCorruptState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if err := os.WriteFile(state, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "", "plan", "--config", offlineInventory(t, state))
	if code != ExitOK || !strings.Contains(stdout, "\npublic-feed ") {
		t.Errorf("plan: exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, `level=WARN msg="state file is corrupt; read as empty, left in place" component=state path=`+state) {
		t.Errorf("plan: stderr = %q, want the corrupt-file warning", stderr)
	}
	if got, _ := os.ReadFile(state); string(got) != "garbage" {
		t.Errorf("state file now holds %q, want it left alone", got)
	}
	if aside, _ := filepath.Glob(state + ".corrupt-*"); len(aside) != 0 {
		t.Errorf("plan set the state file aside: %v", aside)
	}
}
