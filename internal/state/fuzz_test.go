package state_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rotatord/rotatord/internal/state"
)

// FuzzOpen feeds arbitrary bytes as a state file: Open must never fail or
// panic on content, and whatever it loads must survive Save and Open as is.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"Version":1,"Datasources":{"a":{"LastSuccess":"2026-01-01T00:00:00Z","SourceVersion":"v1"}}}`))
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := state.Open(path, discard())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		loaded := s.Snapshot()
		if err := s.Save(); err != nil {
			t.Fatalf("Save: %v", err)
		}
		s.Close()
		again, err := state.Open(path, discard())
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer again.Close()
		if got := again.Snapshot(); !reflect.DeepEqual(got, loaded) {
			t.Errorf("round trip changed the state:\n got %+v\nwant %+v", got, loaded)
		}
	})
}
