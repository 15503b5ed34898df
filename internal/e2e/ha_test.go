package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/rotatord/rotatord/internal/demo"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/internal/state"
	"github.com/rotatord/rotatord/internal/testutil"
	"github.com/rotatord/rotatord/internal/testutil/azurite"
)

// haLease is the tests' lease duration, Azure's shortest: a crashed
// leader's lease runs out soonest.
const haLease = 15 * time.Second

// haEnv is a demo world with Azurite, and an inventory of HA processes.
type haEnv struct {
	*env
	az   *azurite.Azurite
	blob *azblob.Client
}

func newHAEnv(t *testing.T) *haEnv {
	t.Helper()
	skipIfShort(t)
	e := newEnv(t, "")
	st := e.demo.Stack
	az := azurite.Start(t, azurite.Options{CA: st.CA})
	client := st.CA.Client()
	t.Cleanup(client.CloseIdleConnections)
	cred := azurite.Credential(t, st, client)
	az.CreateContainer(t, "rotatord", cred, client)
	h := &haEnv{env: e, az: az, blob: az.Client(t, cred, client)}
	ftEditInventory(t, e, "state_file: "+e.dir+"/state.json", fmt.Sprintf(
		"state_blob: %[1]s/rotatord/state.json\nha:\n  lease_blob: %[1]s/rotatord/leader\n  lease_duration: %[2]s", az.URL(), haLease))
	// Busy schedules, so that a PATCH is in flight at any moment and two
	// leaders would show as interleaved PATCHes.
	ftEditInventory(t, e, `schedule: "@every 1m"`, `schedule: "@every 2s"`)
	ftEditInventory(t, e, "jitter: 10s", "jitter: 0s")
	return h
}

// haProc is one `rotatord run` of the pair or trio.
type haProc struct {
	*daemon
	name string
	pid  int
	out  *testutil.SyncBuffer
}

func (h *haEnv) start(name string) *haProc {
	h.t.Helper()
	out := &testutil.SyncBuffer{}
	// Registered first, so it runs after the process is killed.
	h.t.Cleanup(func() {
		if h.t.Failed() {
			h.t.Logf("--- %s:\n%s", name, out)
		}
		h.checkTextNoLeak(name+"'s output", out.String())
	})
	d, pid := h.startInto(out, 5*time.Minute, "run", "--config", h.demo.ConfigPath)
	return &haProc{daemon: d, name: name, pid: pid, out: out}
}

// pair starts two processes and returns them once one leads: the leader
// first.
func (h *haEnv) pair() (lead, other *haProc) {
	h.t.Helper()
	a, b := h.start("a"), h.start("b")
	if l, _ := h.awaitLeader(2*haLease, a, b); l == b {
		return b, a
	}
	return a, b
}

// leading reads rotatord_leader off the process's /metrics.
func (p *haProc) leading() bool {
	_, body := p.get("/metrics")
	return strings.Contains(body, "\nrotatord_leader 1\n")
}

// leaders are the processes of ps that report leading.
func leaders(ps ...*haProc) []*haProc {
	var out []*haProc
	for _, p := range ps {
		if p != nil && p.leading() {
			out = append(out, p)
		}
	}
	return out
}

// awaitLeader waits until exactly one of ps leads, and returns it and how
// long that took.
func (h *haEnv) awaitLeader(within time.Duration, ps ...*haProc) (*haProc, time.Duration) {
	h.t.Helper()
	start := time.Now()
	var one *haProc
	testutil.WaitFor(h.t, "one leader", within, func() bool {
		l := leaders(ps...)
		if len(l) > 1 {
			h.t.Fatalf("%d processes lead at once", len(l))
		}
		if len(l) == 1 {
			one = l[0]
		}
		return one != nil
	})
	return one, time.Since(start)
}

// patch is one credentials PATCH an emulator stored.
type patch struct {
	Start, At time.Time
	Agent     string
}

// patches are the PATCHes of every demo data source and Fabric connection.
func (h *haEnv) patches() map[string][]patch {
	out := map[string][]patch{}
	for _, x := range demo.Catalog() {
		for _, r := range h.demo.Stack.PowerBI.History(x.Gateway, x.ID) {
			out[x.Name] = append(out[x.Name], patch{r.Start, r.At, r.Agent})
		}
	}
	for _, c := range demo.Connections() {
		for _, r := range h.demo.Stack.Fabric.History(c.ID) {
			out[c.Name] = append(out[c.Name], patch{r.Start, r.At, r.Agent})
		}
	}
	return out
}

var agentPID = regexp.MustCompile(`\(rotatord; pid (\d+)\)`)

// pid is the process that sent a PATCH, from its User-Agent.
func pid(t *testing.T, r patch) int {
	m := agentPID.FindStringSubmatch(r.Agent)
	if m == nil {
		t.Fatalf("a PATCH at %v names no process in its User-Agent %q", r.At, r.Agent)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkNoOverlap fails when two processes' PATCHes of one data source were
// in flight at once, and returns how many PATCHes each process sent.
func (h *haEnv) checkNoOverlap() map[int]int {
	h.t.Helper()
	sent := map[int]int{}
	for name, rs := range h.patches() {
		for i, a := range rs {
			sent[pid(h.t, a)]++
			for _, b := range rs[i+1:] {
				if pid(h.t, a) != pid(h.t, b) && a.Start.Before(b.At) && b.Start.Before(a.At) {
					h.t.Errorf("%s: PATCHes of pid %d (%v–%v) and pid %d (%v–%v) overlap", name, pid(h.t, a), a.Start, a.At, pid(h.t, b), b.Start, b.At)
				}
			}
		}
	}
	return sent
}

// lastPatch is when process p last PATCHed any data source.
func (h *haEnv) lastPatch(p *haProc) time.Time {
	var last time.Time
	for _, rs := range h.patches() {
		for _, r := range rs {
			if pid(h.t, r) == p.pid && r.At.After(last) {
				last = r.At
			}
		}
	}
	return last
}

// checkTakeOver checks what a take-over by next shows: it PATCHed the
// OAuth2 data source at once (Power BI keeps no refresh token), it logged
// the change naming itself, the followers are ready and report 0, and its
// transitions counter moved.
func (h *haEnv) checkTakeOver(next, prev *haProc, ps ...*haProc) {
	h.t.Helper()
	x := h.entry("lake-oauth")
	oauth := false
	for _, r := range h.demo.Stack.PowerBI.History(x.Gateway, x.ID) {
		oauth = oauth || pid(h.t, patch{r.Start, r.At, r.Agent}) == next.pid
	}
	if !oauth {
		h.t.Errorf("%s took over from %s but did not PATCH lake-oauth", next.name, prev.name)
	}
	if !strings.Contains(next.out.String(), fmt.Sprintf(`msg=leading component=leader identity=%[1]s leader=%[1]s`, identityOf(next))) {
		h.t.Errorf("%s logged no take-over line naming itself", next.name)
	}
	_, body := next.get("/metrics")
	if !regexp.MustCompile(`\nrotatord_leader_transitions_total [1-9]`).MatchString(body) {
		h.t.Errorf("%s leads with rotatord_leader_transitions_total at 0", next.name)
	}
	for _, p := range ps {
		if p == nil || p == next {
			continue
		}
		if code, _ := p.get("/readyz"); code != 200 {
			h.t.Errorf("follower %s: /readyz %d, want 200", p.name, code)
		}
		if !strings.Contains(p.out.String(), "msg=following component=leader identity="+identityOf(p)+" leader="+identityOf(next)) {
			h.t.Errorf("follower %s logged no line naming %s the leader", p.name, next.name)
		}
	}
}

// identityOf is the process's HOSTNAME/PID identity, from its start line.
func identityOf(p *haProc) string {
	m := regexp.MustCompile(`msg="rotatord started".* identity=(\S+)`).FindStringSubmatch(p.out.String())
	if m == nil {
		return "?"
	}
	return m[1]
}

// stateBlob reads the state blob as it is now.
func (h *haEnv) stateBlob() state.File {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := h.blob.DownloadStream(ctx, "rotatord", "state.json", nil)
	if err != nil {
		h.t.Fatalf("state blob: %v", err)
	}
	defer resp.Body.Close()
	var f state.File
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		h.t.Fatalf("state blob: %v", err)
	}
	return f
}

// Three processes, one leader; kill -9 it and a follower leads within a
// lease and a retry interval; kill that one too; never two PATCHes of one
// data source from two processes at once.
func TestHAKillTheLeader(t *testing.T) {
	h := newHAEnv(t)
	ps := []*haProc{h.start("a"), h.start("b"), h.start("c")}
	h.awaitLeader(2*haLease, ps...)
	time.Sleep(5 * time.Second)                                       // rotations in flight
	bound := haLease + leader.RetryEvery(haLease)*6/5 + 2*time.Second // the lease, a retry, and its round trip
	for kill := 0; kill < 2; kill++ {
		l := leaders(ps...)
		if len(l) != 1 {
			t.Fatalf("%d leaders before kill %d, want 1", len(l), kill+1)
		}
		dead := l[0]
		if err := dead.cmd.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-dead.done
		dead.done <- nil
		for i := range ps {
			if ps[i] == dead {
				ps[i] = nil
			}
		}
		next, took := h.awaitLeader(bound+5*time.Second, ps...)
		t.Logf("kill %d: %s led %v after %s was killed", kill+1, next.name, took.Round(100*time.Millisecond), dead.name)
		if took > bound {
			t.Errorf("take-over took %v, want within the lease, a retry and a round trip (%v)", took, bound)
		}
		time.Sleep(3 * time.Second) // the new leader rotates
		if h.lastPatch(next).IsZero() {
			t.Errorf("%s leads but sent no PATCH", next.name)
		}
		h.checkTakeOver(next, dead, ps...)
	}
	sent := h.checkNoOverlap()
	if len(sent) != 3 {
		t.Errorf("PATCHes by %d processes, want 3 (each led once): %v", len(sent), sent)
	}
}

// SIGTERM on the leader: it releases the lease after its rotations, and
// the stand-by leads in under 3 s. Before that, a foreign write of the state
// blob makes the leader stand by and lead again from what it reads.
func TestHASIGTERMHandsOver(t *testing.T) {
	h := newHAEnv(t)
	l, other := h.pair()
	time.Sleep(3 * time.Second)
	// Another writer of the state blob (an operator's copy, a second
	// inventory on the same blob): the leader's next write is refused, it
	// stands by, and, still holding the lease, leads again from the blob.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.blob.UploadBuffer(ctx, "rotatord", "state.json", []byte(`{"Version": 1, "Datasources": {}}`), nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the leader to stand by", 20*time.Second, func() bool {
		return strings.Contains(l.out.String(), "state not written: another rotatord took over")
	})
	// It released the lease and campaigns at once, so it leads again but
	// for a stand-by's retry landing in that instant.
	testutil.WaitFor(t, "a leader again", 20*time.Second, func() bool {
		return strings.Count(l.out.String(), "msg=leading ") == 2 || strings.Contains(other.out.String(), "msg=leading ")
	})
	if next, _ := h.awaitLeader(10*time.Second, l, other); next != l {
		l, other = other, l
	}
	time.Sleep(3 * time.Second)
	start := time.Now()
	if code := l.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("the leader exited %d on SIGTERM", code)
	}
	h.awaitLeader(10*time.Second, other)
	took := time.Since(start) // from the SIGTERM, its exit included
	t.Logf("hand-over in %v", took.Round(10*time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("hand-over took %v, want under 3s", took)
	}
	if !strings.Contains(l.out.String(), `msg="stepped down"`) {
		t.Errorf("the old leader logged no step-down:\n%s", l.out)
	}
	time.Sleep(3 * time.Second)
	if code := other.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("%s exited %d on SIGTERM", other.name, code)
	}
	h.checkNoOverlap()
	h.checkStateHasLastPatch()

	// The commands read the state blob too: plan writes nothing, once
	// rotates (warning that it takes no lease) and writes it.
	before, patched := h.stateBlob(), len(h.patches()["lake-oauth"])
	if code := h.run("plan", "--config", h.demo.ConfigPath); code != 0 {
		t.Fatalf("plan on the state blob exited %d:\n%s", code, h.out)
	}
	if after := h.stateBlob(); !reflect.DeepEqual(after, before) {
		t.Error("plan changed the state blob")
	}
	if code := h.run("once", "--config", h.demo.ConfigPath, "--only", "lake-oauth"); code != 0 {
		t.Fatalf("once on the state blob exited %d:\n%s", code, h.out)
	}
	if !strings.Contains(h.out.String(), "once takes no lease") {
		t.Errorf("once did not warn that it takes no lease:\n%s", h.out)
	}
	if n := len(h.patches()["lake-oauth"]); n != patched+1 {
		t.Errorf("lake-oauth PATCHed %d times by once, want 1", n-patched)
	}
	h.checkStateHasLastPatch() // once recorded its PATCH in the blob
}

// SIGSTOP the leader past its lease: the other leads. SIGCONT: the old one
// starts no tick, PATCHes nothing, and its state write is refused by the
// ETag, so the state blob keeps the new leader's records.
func TestHAPausedLeaderIsFenced(t *testing.T) {
	h := newHAEnv(t)
	l, other := h.pair()
	time.Sleep(3 * time.Second)
	if err := l.cmd.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	h.awaitLeader(haLease+10*time.Second, other)
	time.Sleep(4 * time.Second) // the new leader rotates and writes the state
	before := h.stateBlob()
	resumed := time.Now()
	if err := l.cmd.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the resumed leader to step down", 10*time.Second, func() bool {
		return strings.Contains(l.out.String(), `msg="stepped down"`)
	})
	time.Sleep(3 * time.Second)
	if last := h.lastPatch(l); last.After(paused) {
		t.Errorf("the paused leader PATCHed at %v, after it was paused at %v (resumed %v)", last, paused, resumed)
	}
	if !strings.Contains(l.out.String(), "state not written: another rotatord took over") {
		t.Errorf("the resumed leader's state write was not refused:\n%s", l.out)
	}
	after := h.stateBlob()
	for name, rec := range before.Datasources {
		if got := after.Datasources[name]; got.LastAttempt.Before(rec.LastAttempt) {
			t.Errorf("%s: the state blob went back from %v to %v", name, rec.LastAttempt, got.LastAttempt)
		}
	}
	if len(leaders(l, other)) != 1 || !other.leading() {
		t.Errorf("after the resume: want %s alone leading", other.name)
	}
	h.checkNoOverlap()
}

// Azurite stopped for 30 s: the leader stops rotating within its lease,
// nobody leads, /metrics keeps serving; when it is back, one leads again,
// no two processes PATCH one data source at once, and the state blob ends
// with every data source's last PATCH (none lost).
func TestHAStorageOutage(t *testing.T) {
	h := newHAEnv(t)
	a, b := h.pair()
	time.Sleep(3 * time.Second)
	h.az.Stop()
	down := time.Now()
	testutil.WaitFor(t, "nobody to lead", haLease+5*time.Second, func() bool { return len(leaders(a, b)) == 0 })
	if took := time.Since(down); took > haLease {
		t.Errorf("the leader stepped down %v after storage went away, want within the lease (%v)", took, haLease)
	}
	stopped := time.Now()
	time.Sleep(30*time.Second - time.Since(down))
	for _, p := range []*haProc{a, b} {
		if last := h.lastPatch(p); last.After(stopped) {
			t.Errorf("%s PATCHed at %v with no lease (stepped down by %v)", p.name, last, stopped)
		}
		if code, body := p.get("/metrics"); code != 200 || !strings.Contains(body, "rotatord_leader 0") {
			t.Errorf("%s's /metrics during the outage: %d", p.name, code)
		}
	}
	h.az.Restart()
	h.awaitLeader(haLease+10*time.Second, a, b)
	time.Sleep(3 * time.Second)
	h.checkNoOverlap()
	// Nothing lost: once both stopped (each writing its state), the state
	// blob has each data source's last PATCH as the credential now set.
	for _, p := range []*haProc{a, b} {
		if code := p.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d on SIGTERM", p.name, code)
		}
	}
	h.checkStateHasLastPatch()
}

// checkStateHasLastPatch fails unless the state blob records, for every
// data source PATCHed, its last PATCH as the credential now set.
func (h *haEnv) checkStateHasLastPatch() {
	h.t.Helper()
	f := h.stateBlob()
	for name, rs := range h.patches() {
		if len(rs) == 0 {
			continue
		}
		last := rs[len(rs)-1].At
		got := f.Datasources[name].CredentialSetAt
		if d := got.Sub(last); d < -2*time.Second || d > 2*time.Second {
			h.t.Errorf("%s: the state blob has the credential set at %v, the last PATCH was at %v", name, got, last)
		}
	}
}
