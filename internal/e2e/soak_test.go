package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/emulator"
)

// soakSettings reads ROTATORD_SOAK (skipping t when it is unset) and
// ROTATORD_SOAK_SEED (a new seed when unset).
func soakSettings(t *testing.T) (time.Duration, uint64) {
	t.Helper()
	skipIfShort(t)
	v := os.Getenv("ROTATORD_SOAK")
	if v == "" {
		t.Skip("set ROTATORD_SOAK=10m to run the soak test")
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur < 40*time.Second {
		t.Fatalf("ROTATORD_SOAK=%q: want a duration of at least 40s", v)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+time.Minute {
		t.Fatalf("ROTATORD_SOAK=%s needs go test -timeout %s or more", dur, (dur + 2*time.Minute).Round(time.Minute))
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ROTATORD_SOAK_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("ROTATORD_SOAK_SEED=%q: %v", s, err)
		}
	}
	return dur, seed
}

// TestSoak runs `rotatord run` with every data source on a 1-second schedule
// for ROTATORD_SOAK (a duration, e.g. 10m; skipped when unset) while faults
// are injected at random (seed logged; ROTATORD_SOAK_SEED replays it). It
// samples the child's goroutines and heap from its /metrics every 10 s and
// checks that they stay flat, that every tick is counted once in the metrics
// and logged once, that each data source ticked about once a second, and
// that the gateways never got a wrong credential. Durations past ~8m need
// `go test -timeout` above the default 10m.
func TestSoak(t *testing.T) {
	dur, seed := soakSettings(t)
	t.Logf("soak for %s, fault seed %d (ROTATORD_SOAK_SEED=%d replays the faults)", dur, seed, seed)

	e := newEnv(t, "")
	ftEditInventory(t, e, `schedule: "@every 1m"`, `schedule: "@every 1s"`)
	ftEditInventory(t, e, `schedule: "@every 45m"`, `schedule: "@every 1s"`)
	ftEditInventory(t, e, "jitter: 10s", "jitter: 0s")
	ftSetRetry(t, e, "retry: {attempts: 3, initial_backoff: 200ms, max_backoff: 1s}")
	d := e.startFor(dur+2*time.Minute, "run", "--config", e.demo.ConfigPath)
	start := time.Now()

	inj := &soakInjector{e: e, rnd: rand.New(rand.NewPCG(seed, seed^0x5eed)), counts: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); inj.run(stop) }()

	var samples []soakSample
	tick := time.NewTicker(10 * time.Second)
	for time.Since(start) < dur {
		<-tick.C
		_, body := d.get("/metrics")
		s, err := soakParseSample(time.Since(start), body)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, s)
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	e.demo.Stack.PowerBI.Faults().Clear()
	e.demo.Stack.KeyVault.Faults().Clear()
	e.demo.Stack.Identity.Faults().Clear()

	// Every tick counted once: the counter is incremented just before the
	// line is logged, so lines before the scrape <= counter <= lines after.
	linesBefore := soakRotationLines(e.out.String())
	_, body := d.get("/metrics")
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	linesAfter := soakRotationLines(e.out.String())
	counted := soakRotationCounts(body)
	if len(counted) == 0 {
		t.Fatal("no rotatord_rotations_total series on /metrics")
	}
	for _, x := range demo.Catalog() {
		total := 0
		for _, result := range []string{"success", "failure"} {
			k := soakKey{x.Name, result}
			total += counted[k]
			if counted[k] < linesBefore[k] || counted[k] > linesAfter[k] {
				t.Errorf("%s %s: rotatord_rotations_total %d, but %d..%d rotation log lines", x.Name, result, counted[k], linesBefore[k], linesAfter[k])
			}
		}
		// A tick takes a moment and the next is planned from its end:
		// about one a second, fewer when faults made ticks retry.
		hi := int(elapsed/time.Second) + 1
		lo := hi / 2
		if total < lo || total > hi {
			t.Errorf("%s: %d ticks in %s, want %d..%d", x.Name, total, elapsed.Round(time.Second), lo, hi)
		}
		t.Logf("%-13s %4d ticks, %3d failed", x.Name, total, counted[soakKey{x.Name, "failure"}])
	}

	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	ftClean(t, e.out.String())
	soakCheckFlat(t, samples)
	t.Logf("faults injected: %v", inj.counts)
	soakCheckCredentials(t, e)
	e.checkNoLeak()
}

// soakInjector injects a random transient fault every 2-5 s.
type soakInjector struct {
	e      *env
	rnd    *rand.Rand
	counts map[string]int // read after run returns
}

func (in *soakInjector) run(stop <-chan struct{}) {
	st := in.e.demo.Stack
	pbi := func(op string, f emulator.Fault) func() { return func() { st.PowerBI.Faults().Inject(op, f) } }
	kv := func(f emulator.Fault) func() { return func() { st.KeyVault.Faults().Inject(emulator.OpGetSecret, f) } }
	faults := []struct {
		name   string
		inject func()
	}{
		{"pbi-patch-429", pbi(emulator.OpUpdateDatasource, emulator.Fault{Status: 429, RetryAfter: "1", Times: 1 + in.rnd.IntN(3)})},
		{"pbi-patch-429-ceiling", pbi(emulator.OpUpdateDatasource, emulator.Fault{Status: 429, RetryAfter: "3600", Times: 3})}, // fails a tick when one data source meets all 3
		{"pbi-patch-500", pbi(emulator.OpUpdateDatasource, emulator.Fault{Status: 500, Times: 1})},
		{"pbi-patch-502", pbi(emulator.OpUpdateDatasource, emulator.Fault{Status: 502, Times: 1})},
		{"pbi-patch-503", pbi(emulator.OpUpdateDatasource, emulator.Fault{Status: 503, Times: 1})},
		{"pbi-patch-504", pbi(emulator.OpUpdateDatasource, emulator.Fault{Status: 504, Times: 1})},
		{"pbi-patch-drop", pbi(emulator.OpUpdateDatasource, emulator.Fault{Drop: true, Times: 1})},
		{"pbi-patch-slow", pbi(emulator.OpUpdateDatasource, emulator.Fault{Latency: 1500 * time.Millisecond, Times: 1})},
		{"pbi-gateway-503", pbi(emulator.OpGetGateway, emulator.Fault{Status: 503, Times: 1})},
		{"pbi-users-500", pbi(emulator.OpGetDatasourceUsers, emulator.Fault{Status: 500, Times: 1})},
		{"kv-429", kv(emulator.Fault{Status: 429, RetryAfter: "1", Times: 1})},
		{"kv-503", kv(emulator.Fault{Status: 503, Times: 1})},
		{"kv-drop", kv(emulator.Fault{Drop: true, Times: 1})},
		{"entra-503", func() { st.Identity.Faults().Inject(emulator.OpEntraToken, emulator.Fault{Status: 503, Times: 1}) }},
		{"gateway-key-rotated", func() {
			gw := []string{demo.Gateway1024, demo.Gateway2048}[in.rnd.IntN(2)]
			_ = st.PowerBI.RotateGatewayKey(gw) // the gateways exist; an error would show as failed ticks
		}},
	}
	for {
		wait := time.Duration(2000+in.rnd.IntN(3000)) * time.Millisecond
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		f := faults[in.rnd.IntN(len(faults))]
		f.inject()
		in.counts[f.name]++
	}
}

type soakSample struct {
	at         time.Duration
	goroutines float64
	heapInuse  float64
}

var (
	soakGoroutines = regexp.MustCompile(`(?m)^go_goroutines (\S+)$`)
	soakHeapInuse  = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes (\S+)$`)
)

func soakParseSample(at time.Duration, body string) (soakSample, error) {
	s := soakSample{at: at}
	for _, m := range []struct {
		re *regexp.Regexp
		v  *float64
	}{{soakGoroutines, &s.goroutines}, {soakHeapInuse, &s.heapInuse}} {
		sub := m.re.FindStringSubmatch(body)
		if sub == nil {
			return s, fmt.Errorf("/metrics lacks %s", m.re)
		}
		f, err := strconv.ParseFloat(sub[1], 64)
		if err != nil {
			return s, fmt.Errorf("/metrics: %s: %v", m.re, err)
		}
		*m.v = f
	}
	return s, nil
}

// soakCheckFlat compares the median of the last quarter of the samples with
// that of the first: goroutines may grow by 20% (at least 10, as a tick in
// flight has a few), the heap in use by 8 MiB.
func soakCheckFlat(t *testing.T, samples []soakSample) {
	t.Helper()
	var lines []string
	for _, s := range samples {
		lines = append(lines, fmt.Sprintf("%4.0fs %4.0f goroutines %6.1f MiB heap", s.at.Seconds(), s.goroutines, s.heapInuse/(1<<20)))
	}
	t.Logf("samples:\n%s", strings.Join(lines, "\n"))
	q := len(samples) / 4
	if q < 1 {
		t.Fatalf("%d samples are too few to compare quarters", len(samples))
	}
	median := func(ss []soakSample, f func(soakSample) float64) float64 {
		vs := make([]float64, len(ss))
		for i, s := range ss {
			vs[i] = f(s)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	gr := func(s soakSample) float64 { return s.goroutines }
	heap := func(s soakSample) float64 { return s.heapInuse }
	first, last := samples[:q], samples[len(samples)-q:]
	g0, g1 := median(first, gr), median(last, gr)
	h0, h1 := median(first, heap), median(last, heap)
	t.Logf("goroutines %.0f -> %.0f, heap in use %.1f -> %.1f MiB (first- vs last-quarter medians)", g0, g1, h0/(1<<20), h1/(1<<20))
	if g1 > g0+max(0.2*g0, 10) {
		t.Errorf("goroutines grew from %.0f to %.0f", g0, g1)
	}
	if h1 > h0+8*(1<<20) {
		t.Errorf("heap in use grew from %.1f to %.1f MiB", h0/(1<<20), h1/(1<<20))
	}
}

type soakKey struct{ datasource, result string }

var (
	soakLine    = regexp.MustCompile(`(?m)^.*msg=rotation datasource=(\S+) .*result=(success|failure)`)
	soakCounter = regexp.MustCompile(`(?m)^rotatord_rotations_total\{credential_type="\w*",datasource="([^"]+)",result="(\w+)"\} (\S+)$`)
)

func soakRotationLines(out string) map[soakKey]int {
	n := map[soakKey]int{}
	for _, m := range soakLine.FindAllStringSubmatch(out, -1) {
		n[soakKey{m[1], m[2]}]++
	}
	return n
}

func soakRotationCounts(body string) map[soakKey]int {
	n := map[soakKey]int{}
	for _, m := range soakCounter.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err == nil {
			n[soakKey{m[1], m[2]}] = int(v)
		}
	}
	return n
}

// soakCheckCredentials checks every credential each gateway and each Fabric
// connection accepted: the sources never changed during the soak, so each
// must be theirs (on a cluster, every member's).
func soakCheckCredentials(t *testing.T, e *env) {
	t.Helper()
	for _, c := range demo.Connections() {
		hist := e.demo.Stack.Fabric.History(c.ID)
		if len(hist) == 0 {
			t.Errorf("%s: Fabric never received a credential", c.Name)
		}
		want := e.demo.Want[c.Name]
		for i, got := range hist {
			if !maps.Equal(got.Fields, want) {
				t.Errorf("%s: credential %d Fabric accepted is not the source's", c.Name, i)
			}
			for m, plain := range got.Plain {
				if plain != credentialsJSON(want["username"], want["password"]) {
					t.Errorf("%s: credential %d: member %s decrypted another document", c.Name, i, m)
				}
			}
		}
	}
	for _, x := range demo.Catalog() {
		hist := e.demo.Stack.PowerBI.History(x.Gateway, x.ID)
		if len(hist) == 0 {
			t.Errorf("%s: the gateway never received a credential", x.Name)
		}
		for i, got := range hist {
			if x.Type == "OAuth2" {
				if err := e.demo.Stack.Tokens.Verify(got.Fields["accessToken"], "https://storage.azure.com"); err != nil {
					t.Errorf("%s: credential %d is not a storage token: %v", x.Name, i, err)
				}
				continue
			}
			if !maps.Equal(got.Fields, e.demo.Want[x.Name]) {
				t.Errorf("%s: credential %d the gateway accepted is not the source's", x.Name, i)
			}
		}
	}
}
