package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/leader"
)

// TestSoakHA runs three `rotatord run` on one inventory, with the
// emulators and Azurite, for ROTATORD_SOAK (skipped when unset), and kills
// the leader with SIGKILL every 30–60 s (seed logged; ROTATORD_SOAK_SEED
// replays it), starting a new process for each one killed. It checks that
// a follower takes over within a lease and a retry every time, that no two
// processes PATCH one data source at once, that every PATCH is counted by
// the process that sent it (but the one a kill cut short), and that the
// OAuth2 data source never holds an expired token.
func TestSoakHA(t *testing.T) {
	dur, seed := soakSettings(t)
	t.Logf("HA soak for %s, kill seed %d (ROTATORD_SOAK_SEED=%d replays the kills)", dur, seed, seed)
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))
	h := newHAEnv(t)
	var all []*haProc
	killed := map[int]bool{}
	n := 0
	spawn := func() *haProc {
		n++
		p := h.start(fmt.Sprintf("p%d", n))
		all = append(all, p)
		return p
	}
	live := []*haProc{spawn(), spawn(), spawn()}
	h.awaitLeader(2*haLease, live...)
	bound := haLease + leader.RetryEvery(haLease)*6/5 + 2*time.Second
	start := time.Now()
	var takeovers []time.Duration
	for time.Since(start) < dur {
		wait := 30*time.Second + time.Duration(rnd.Int64N(int64(30*time.Second)))
		for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(5 * time.Second) {
			h.checkOAuthAlive()
		}
		l := leaders(live...)
		if len(l) != 1 {
			t.Fatalf("%d leaders at %v, want 1", len(l), time.Since(start).Round(time.Second))
		}
		if err := l[0].cmd.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-l[0].done
		l[0].done <- nil
		killed[l[0].pid] = true
		var rest []*haProc
		for _, p := range live {
			if p != l[0] {
				rest = append(rest, p)
			}
		}
		_, took := h.awaitLeader(bound+5*time.Second, rest...)
		takeovers = append(takeovers, took)
		if took > bound {
			t.Errorf("take-over %d took %v, want within %v", len(takeovers), took, bound)
		}
		live = append(rest, spawn())
	}
	for _, p := range live {
		if code := p.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d on SIGTERM", p.name, code)
		}
	}
	t.Logf("%d kills, take-overs %v", len(takeovers), takeovers)
	sent := h.checkNoOverlap()
	h.checkCountedOnce(all, killed)
	h.checkStateHasLastPatch()
	t.Logf("PATCHes by process: %v", sent)
}

// checkCountedOnce: every PATCH of a data source is one rotation its
// process logged as a success, but the one in flight when it was killed;
// and no process logged more successes than it sent PATCHes (warehouse-key
// skips its PATCH when the secret is unchanged, so it is left out of that).
func (h *haEnv) checkCountedOnce(ps []*haProc, killed map[int]bool) {
	h.t.Helper()
	dsAttr := regexp.MustCompile(`datasource=(\S+)`)
	for _, p := range ps {
		logged := map[string]int{}
		for _, line := range p.out.Lines("msg=rotation ", "result=success") {
			if m := dsAttr.FindStringSubmatch(line); m != nil {
				logged[m[1]]++
			}
		}
		for name, rs := range h.patches() {
			patched := 0
			for _, r := range rs {
				if pid(h.t, r) == p.pid {
					patched++
				}
			}
			slack := 0
			if killed[p.pid] {
				slack = 1
			}
			if patched > logged[name]+slack {
				h.t.Errorf("%s: %s sent %d PATCHes and counted %d rotations", name, p.name, patched, logged[name])
			}
			if name != "warehouse-key" && logged[name] > patched {
				h.t.Errorf("%s: %s counted %d rotations and sent %d PATCHes", name, p.name, logged[name], patched)
			}
		}
	}
}

// checkOAuthAlive fails if the OAuth2 data source's token in Power BI has
// expired: Power BI keeps no refresh token, so it must be replaced in time
// whoever leads.
func (h *haEnv) checkOAuthAlive() {
	h.t.Helper()
	x := h.entry("lake-oauth")
	rs := h.demo.Stack.PowerBI.History(x.Gateway, x.ID)
	if len(rs) == 0 {
		h.t.Error("lake-oauth was never PATCHed")
		return
	}
	for i, r := range rs {
		exp := tokenExpiry(h.t, r.Fields["accessToken"])
		next := time.Now()
		if i+1 < len(rs) {
			next = rs[i+1].At
		}
		if !next.Before(exp) {
			h.t.Errorf("lake-oauth's token set at %v expired at %v, before the next one (%v)", r.At, exp, next)
		}
	}
}

// tokenExpiry reads a JWT's exp claim; the token itself is never printed.
func tokenExpiry(t *testing.T, jwt string) time.Time {
	parts := strings.Split(jwt, ".")
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if len(parts) != 3 {
		t.Fatal("lake-oauth's credential is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(b, &claims)
	}
	if err != nil || claims.Exp == 0 {
		t.Fatal("lake-oauth's token has no exp claim")
	}
	return time.Unix(claims.Exp, 0)
}
