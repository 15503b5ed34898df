package e2e

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Fleet benchmark settings. The bound on throughput is
// max_concurrency / latency Power BI calls per second: rotatord's transport
// holds at most max_concurrency Power BI requests in flight, each takes the
// emulator's latency, and waiting out a Retry-After holds no slot. With no
// users declared a rotation is a PATCH and its status check (verify); the
// only other Power BI calls are one GET per gateway (4 here, keys are
// cached and fetched once under singleflight) and the retries of the ~1%
// throttled calls, so the ideal is a little under half the bound in
// rotations per second, and the bound ratios are of calls.
const (
	fleetLatency  = 20 * time.Millisecond
	fleetThrottle = 0.01
	// The emulator decrypts 1 credential in fleetVerifyEvery: decrypting
	// 10,000 with RSA private keys would make the emulator, sharing the
	// machine with rotatord, the bottleneck being measured.
	fleetVerifyEvery = 25
)

// BenchmarkFleet rotates a fleet of data sources of every credential type
// with one `rotatord once` child process (built without -race) against the
// emulators, whose Power BI answers every request after fleetLatency and
// throttles fleetThrottle of them (429, Retry-After: 1).
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime 1x ./internal/e2e/
//
// ROTATORD_FLEET_SIZE (default 10000) and ROTATORD_FLEET_CONCURRENCY
// (max_concurrency, default 16) change the fleet; ROTATORD_FLEET_GOMEMLIMIT
// sets the child's GOMEMLIMIT. Metrics:
//   - rotations/s: data sources over the child's wall time, start-up included
//   - bound-ratio: Power BI calls/s (rotations/s × pbi-calls/rotation) over
//     max_concurrency/latency
//   - steady-rotations/s, steady-bound-ratio: the middle 80% of rotations
//     over the time between the 10th and the 90th percentile rotation log
//     lines, leaving out start-up and the last throttled calls' 1-s wait
//   - startup-s: from process start to the first rotation log line
//   - last-1%-s: what the last 1% of rotations took, Retry-After waits included
//   - peak-RSS-MiB: the child's maximum resident set, as testdata/rusage reports it
//   - peak-heap-MiB: the largest heap at the start of a GC (GODEBUG=gctrace=1)
//   - cpu-s, cpu-us/rotation: the child's user+system CPU
//   - emulator-cpu-s: this process's CPU meanwhile (the emulators, mostly)
//   - pbi-calls/rotation, throttled-%: from the emulator's request log
func BenchmarkFleet(b *testing.B) {
	o := fleetOptionsFromEnv(b)
	bin, err := fleetBinary()
	if err != nil {
		b.Fatal(err)
	}
	f := newFleet(b, o)
	f.injectPowerBIFaults()
	bound := float64(o.MaxConcurrency) / o.Latency.Seconds()

	var (
		runs                       int
		wall, steady, cpu, emuCPU  time.Duration
		steadyRotations            int
		startup, lastPercent       time.Duration
		maxRSSKiB                  int64
		peakHeapMiB, verifiedTotal int
	)
	for b.Loop() {
		run := f.once(b, bin)
		runs++
		if run.code != 0 || run.failures > 0 || run.success != o.Size {
			b.Fatalf("run %d: exit %d, %d successes and %d failures logged for %d data sources; first failure:\n%s\n(log: %s)",
				runs, run.code, run.success, run.failures, o.Size, run.firstFailure, run.log)
		}
		verifiedTotal += f.check(b, runs)
		wall += run.wall
		steady += run.steady
		steadyRotations += run.steadyRotations
		startup += run.startup
		lastPercent += run.lastPercent
		cpu += run.cpu
		emuCPU += run.emulatorCPU
		maxRSSKiB = max(maxRSSKiB, run.maxRSSKiB)
		peakHeapMiB = max(peakHeapMiB, run.peakHeapMiB)
	}
	if verifiedTotal < runs*o.Size/fleetVerifyEvery/2 {
		b.Errorf("the emulator decrypted only %d credentials in %d runs", verifiedTotal, runs)
	}

	calls, throttled := 0, 0
	for _, r := range f.stack.PowerBI.Requests() {
		calls++
		if r.Status == 429 {
			throttled++
		}
	}
	rotations := float64(runs * o.Size)
	perRotation := float64(calls) / rotations
	rate := rotations / wall.Seconds()
	b.ReportMetric(rate, "rotations/s")
	b.ReportMetric(rate*perRotation/bound, "bound-ratio")
	steadyRate := float64(steadyRotations) / steady.Seconds()
	b.ReportMetric(steadyRate, "steady-rotations/s")
	b.ReportMetric(steadyRate*perRotation/bound, "steady-bound-ratio")
	b.ReportMetric(startup.Seconds()/float64(runs), "startup-s")
	b.ReportMetric(lastPercent.Seconds()/float64(runs), "last-1%-s")
	b.ReportMetric(float64(maxRSSKiB)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(peakHeapMiB), "peak-heap-MiB")
	b.ReportMetric(cpu.Seconds()/float64(runs), "cpu-s")
	b.ReportMetric(float64(cpu.Microseconds())/rotations, "cpu-us/rotation")
	b.ReportMetric(emuCPU.Seconds()/float64(runs), "emulator-cpu-s")
	b.ReportMetric(perRotation, "pbi-calls/rotation")
	b.ReportMetric(100*float64(throttled)/float64(calls), "throttled-%")
	b.Logf("%d data sources, max_concurrency %d, latency %v: bound %.0f calls/s; %d runs, %d credentials decrypted by the emulator",
		o.Size, o.MaxConcurrency, o.Latency, bound, runs, verifiedTotal)
}

// envInt reads a positive integer setting from the environment.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// BenchmarkFleetInProcess runs the fleet of BenchmarkFleet with the daemon
// in the test process, so that -cpuprofile and -memprofile see rotatord's
// code (and the emulators', which share the process: focus the profile on
// github.com/rotatord/rotatord/internal/(daemon|rotate|pbi|...)). Its
// numbers are not the child's; BenchmarkFleet is the measurement.
//
//	go test -run '^$' -bench BenchmarkFleetInProcess -benchtime 1x \
//	    -cpuprofile cpu.out -memprofile mem.out ./internal/e2e/
func BenchmarkFleetInProcess(b *testing.B) {
	o := fleetOptionsFromEnv(b)
	f := newFleet(b, o)
	f.injectPowerBIFaults()
	// rotatord's default transport trusts the system roots, which Go reads
	// once per process: this must run before anything else verifies TLS.
	b.Setenv("SSL_CERT_FILE", f.ca)
	runs := 0
	for b.Loop() {
		if failed := f.onceInProcess(b); failed != 0 {
			b.Fatalf("%d rotations failed", failed)
		}
		runs++
		f.check(b, runs)
	}
	b.ReportMetric(float64(runs*o.Size)/b.Elapsed().Seconds(), "rotations/s")
}

// fleetOptionsFromEnv is the benchmark fleet, sized by ROTATORD_FLEET_SIZE
// and ROTATORD_FLEET_CONCURRENCY.
func fleetOptionsFromEnv(b *testing.B) fleetOptions {
	return fleetOptions{
		Size:           envInt(b, "ROTATORD_FLEET_SIZE", 10000),
		MaxConcurrency: envInt(b, "ROTATORD_FLEET_CONCURRENCY", 16),
		Latency:        fleetLatency,
		Throttle:       fleetThrottle,
		VerifyEvery:    fleetVerifyEvery,
	}
}
