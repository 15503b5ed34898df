package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
)

// parseWhole parses data in one piece, never chunk by chunk.
func parseWhole(name string, data []byte) (*Config, error) {
	p := &parser{file: name, whole: true}
	cfg := p.inventory(data)
	if len(p.errs) > 0 {
		errs := p.errs.finish()
		return nil, &errs
	}
	cfg.Path = name
	return cfg, nil
}

// checkSameAsWhole fails unless Parse's result (cfg, err) is exactly what
// parsing data in one piece gives.
func checkSameAsWhole(t *testing.T, data []byte, cfg *Config, err error) {
	t.Helper()
	want, wantErr := parseWhole("fuzz.yaml", data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("chunked parse: error %v\nwhole parse: error %v", err, wantErr)
	}
	if err == nil {
		got := *cfg
		got.Hash = [32]byte{}
		if !reflect.DeepEqual(&got, want) {
			t.Fatalf("chunked parse differs from the whole parse:\n%+v\n%+v", got, *want)
		}
	}
}

// TestChunkedParseMatchesWhole: every inventory in testdata and the fuzz
// corpus, and the example, parses to the same Config or the same errors
// chunk by chunk as in one piece; the good ones really were chunked.
func TestChunkedParseMatchesWhole(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	files = append(files, "../../config.example.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(f, func(t *testing.T) {
			cfg, err := Parse("fuzz.yaml", data)
			checkSameAsWhole(t, data, cfg, err)
			if strings.Contains(f, "/good/") || strings.HasSuffix(f, "example.yaml") {
				if _, _, ok := splitDatasources(data); !ok && !strings.Contains(string(data), "&") {
					t.Errorf("a plain inventory was not split")
				}
			}
		})
	}
	data := fleetInventory(300)
	if _, items, ok := splitDatasources(data); !ok || len(items) != 300 {
		t.Fatalf("fleet inventory: split %v into %d items, want 300", ok, len(items))
	}
	cfg, err := Parse("fuzz.yaml", data)
	checkSameAsWhole(t, data, cfg, err)

	// Anchors before the list, used by some items: still chunked, and
	// the same Config, errors and lines as in one piece.
	shared := []byte(strings.Replace(string(data), "datasources:\n",
		"defaults:\n  retry: &patient {attempts: 9, initial_backoff: 1s, max_backoff: 1m}\ndatasources:\n", 1))
	shared = []byte(strings.Replace(string(shared), "    schedule: \"@every 24h\"\n", "    schedule: \"@every 24h\"\n    retry: *patient\n", 20))
	for name, data := range map[string][]byte{
		"good": shared,
		"bad":  []byte(strings.Replace(string(shared), "    retry: *patient\n", "    retry: *patient\n    bogus: 1\n", 3)),
	} {
		_, items, ok := splitDatasources(data)
		if !ok || len(items) != 300 || items[0].prefix == nil || items[299].prefix != nil {
			t.Fatalf("%s shared anchor: split %v into %d items", name, ok, len(items))
		}
		cfg, err := Parse("fuzz.yaml", data)
		checkSameAsWhole(t, data, cfg, err)
		if (err == nil) != (name == "good") {
			t.Fatalf("%s shared anchor: Parse error %v", name, err)
		}
		if err == nil && cfg.Datasources[19].Retry.Attempts != 9 {
			t.Errorf("the alias did not apply: %+v", cfg.Datasources[19].Retry)
		}
	}
}

// TestSplitDatasources covers the shapes the cut refuses or handles.
func TestSplitDatasources(t *testing.T) {
	item := "  - name: a\n    gateway_id: x\n"
	for name, tc := range map[string]struct {
		data  string
		items int // 0: refused
	}{
		"plain":               {"listen: x\ndatasources:\n" + item + item + "state_file: y\n", 2},
		"zero-indented items": {"datasources:\n- name: a\n  x: 1\n- name: b\n", 2},
		"comments between":    {"datasources:\n# one\n" + item + "  # two\n" + item, 2},
		"flow list":           {"datasources: [{name: a}]\n", 0},
		"anchor in the list":  {"datasources:\n  - &a {name: a}\n  - *a\n", 0},
		"anchor before":       {"defaults:\n  retry: &r {attempts: 3}\ndatasources:\n" + item + "    retry: *r\n" + item, 2},
		"alias to nothing":    {"defaults: {}\ndatasources:\n" + item + "    retry: *nope\n", 1}, // the chunk fails: whole walk
		"tab":                 {"datasources:\n\t- name: a\n", 0},
		"two documents":       {"datasources:\n" + item + "---\nx: 1\n", 0},
		"not a list":          {"datasources:\n  name: a\n", 0},
		"odd indentation":     {"datasources:\n    - name: a\n  - name: b\n", 0},
		"no datasources":      {"listen: x\n", 0},
		"twice":               {"datasources:\n" + item + "datasources:\n" + item, 0},
	} {
		t.Run(name, func(t *testing.T) {
			head, items, ok := splitDatasources([]byte(tc.data))
			if got := len(items); ok != (tc.items > 0) || got != tc.items {
				t.Fatalf("ok %v, %d items; want %d items", ok, got, tc.items)
			}
			if ok && strings.Count(string(head), "\n") != strings.Count(tc.data, "\n") {
				t.Errorf("head has other line numbers than the file:\n%s", head)
			}
			cfg, err := Parse("fuzz.yaml", []byte(tc.data))
			checkSameAsWhole(t, []byte(tc.data), cfg, err)
		})
	}
}

// TestParsedChunks: items come in order, a chunk that does not parse on its
// own stops the sequence, and however it ends no goroutine outlives it
// (synctest.Test fails on one left blocked).
func TestParsedChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // the concurrent path, on any machine
	_, items, ok := splitDatasources(fleetInventory(100))
	if !ok {
		t.Fatal("fleet inventory not split")
	}
	bad := slices.Clone(items)
	bad[50].text = []byte("  - [\n")
	for name, tc := range map[string]struct {
		chunks     []chunk
		stop       int // break after this many items; 0: never
		want       int
		wantFailed bool
	}{
		"all":           {chunks: items, want: 100},
		"one":           {chunks: items[:1], want: 1},
		"chunk fails":   {chunks: bad, want: 50, wantFailed: true},
		"caller breaks": {chunks: items, stop: 10, want: 10},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				failed, got := false, 0
				for i, item := range parsedChunks(tc.chunks, &failed) {
					if i != got || item.Line != tc.chunks[i].line {
						t.Fatalf("item %d (line %d) came as number %d, line %d", i, tc.chunks[i].line, got, item.Line)
					}
					if got++; got == tc.stop {
						break
					}
				}
				if got != tc.want || failed != tc.wantFailed {
					t.Errorf("%d items, failed %v; want %d, %v", got, failed, tc.want, tc.wantFailed)
				}
			})
		})
	}
}
