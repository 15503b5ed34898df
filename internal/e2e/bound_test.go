package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childMemoryLimit bounds the resident memory of every process this suite
// starts (rotatord under -race, Prometheus). A regression that makes one of
// them read an endless body or a huge file into memory fails the test that
// caused it, instead of taking the machine and every other test with it.
// No test here comes near it: three loaded passes of scripts/stress.sh ran
// with it and killed nothing.
const childMemoryLimit = 1 << 30

// watchInterval is how often a child's memory is sampled: at the ~1 GB/s a
// process reading /dev/zero grows, the limit is overshot by ~25 MB at most.
const watchInterval = 25 * time.Millisecond

// startBounded starts cmd and kills it, failing t, if its resident memory
// exceeds limit. The returned wait must be called, in place of cmd.Wait.
func startBounded(t testing.TB, cmd *exec.Cmd, limit int64) (wait func() error, err error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(watchInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			rss, err := residentBytes(cmd.Process.Pid)
			if err != nil || rss <= limit {
				continue
			}
			// Kill fails once the process has been waited for, so a pid
			// reused in that instant is never blamed.
			if cmd.Process.Kill() == nil {
				t.Errorf("%s: resident memory %d MiB is over the test limit of %d MiB; killed it",
					cmd.Path, rss>>20, limit>>20)
			}
			return
		}
	}()
	return func() error {
		err := cmd.Wait()
		close(stop)
		<-stopped
		return err
	}, nil
}

// runBounded runs cmd to completion under startBounded's limit.
func runBounded(t testing.TB, cmd *exec.Cmd) error {
	wait, err := startBounded(t, cmd, childMemoryLimit)
	if err != nil {
		return err
	}
	return wait()
}

// residentBytes reads a process's resident set size from /proc/PID/statm.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, errors.New("statm: too few fields")
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * int64(os.Getpagesize()), err
}

// hogBinary is testdata/hog, a process that takes memory until stopped.
var hogBinary = buildOnce("hog", "./testdata/hog")

// recordingTB records the failures it is given instead of failing.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestChildMemoryLimit: a child that keeps taking memory is killed soon
// after it crosses the limit, and the test that started it fails saying so;
// one that stays under it is left alone.
func TestChildMemoryLimit(t *testing.T) {
	skipIfShort(t)
	hog, err := hogBinary()
	if err != nil {
		t.Fatal(err)
	}
	const limit = 64 << 20
	tests := map[string]struct {
		max      int64 // what the hog takes
		wantKill bool
	}{
		"over the limit": {max: 1 << 30, wantKill: true},
		"under it":       {max: 16 << 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			// The hog exits by itself once it has taken max; the timeout
			// only bounds a broken watchdog.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, hog, "-max", strconv.FormatInt(tc.max, 10), "-hold", "0")
			wait, err := startBounded(rec, cmd, limit)
			if err != nil {
				t.Fatal(err)
			}
			err = wait()
			killed := cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL && ctx.Err() == nil
			if !tc.wantKill && err != nil {
				t.Errorf("the hog failed: %v", err)
			}
			if killed != tc.wantKill || (len(rec.errors) == 1) != tc.wantKill {
				t.Fatalf("killed by the watchdog %v, failures %q (wait: %v); want killed %v", killed, rec.errors, err, tc.wantKill)
			}
			if tc.wantKill && !strings.Contains(rec.errors[0], "over the test limit of 64 MiB") {
				t.Errorf("failure %q does not name the limit", rec.errors[0])
			}
		})
	}
}
