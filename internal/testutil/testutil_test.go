package testutil

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d ok\n", i) })
		_ = b.String() // reading while others write is the point
	}
	wg.Wait()
	if got := len(b.Lines("line", "ok")); got != 8 {
		t.Errorf("%d matching lines, want 8:\n%s", got, b.String())
	}
}

func TestLines(t *testing.T) {
	var b SyncBuffer
	b.Write([]byte("level=INFO msg=a job=x\nlevel=WARN msg=b job=x\nlevel=WARN msg=c job=y\n"))
	if got, want := b.Lines("WARN", "job=x"), []string{"level=WARN msg=b job=x"}; !slices.Equal(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := b.Lines("absent"); got != nil {
		t.Errorf("Lines of an absent part = %q, want none", got)
	}
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, "three looks", time.Minute, func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Errorf("cond called %d times, want 3", n.Load())
	}
}

// recorder is a testing.TB whose Fatalf records instead of stopping the test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestWaitForFailsAtTheTimeout(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != r {
				panic(p)
			}
		}()
		WaitFor(r, "never", time.Millisecond, func() bool { return false })
	}()
	if want := "timed out after 1ms waiting for never"; r.msg != want {
		t.Errorf("Fatalf(%q), want %q", r.msg, want)
	}
}

func TestCredentialNumbersItsTokens(t *testing.T) {
	c := &Credential{Scope: "https://svc.example/.default"}
	for i := 1; i <= 2; i++ {
		tok, err := c.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{c.Scope}})
		if want := fmt.Sprintf("token-%d", i); err != nil || tok.Token != want {
			t.Errorf("GetToken = %q, %v, want %q", tok.Token, err, want)
		}
		if time.Until(tok.ExpiresOn) < 59*time.Minute {
			t.Errorf("token expires %s, want in an hour", tok.ExpiresOn)
		}
	}
	for _, scopes := range [][]string{nil, {"https://other.example/.default"}, {c.Scope, c.Scope}} {
		if _, err := c.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: scopes}); err == nil {
			t.Errorf("GetToken(%q) succeeded, want refused", scopes)
		}
	}
	if n := c.Calls(); n != 2 {
		t.Errorf("Calls = %d, want 2 (refusals are not counted)", n)
	}
}

func TestResponses(t *testing.T) {
	var r Responses
	if got := r.Get(); got != nil {
		t.Errorf("Get before any Record = %q, want none", got)
	}
	r.Record("GetGateway", 429)
	r.Record("GetGatewayX", 500)
	r.Record("ListUsers", 200)
	r.Record("GetGateway", 0)
	if got, want := r.Get(), []string{"GetGateway 429", "GetGatewayX 500", "ListUsers 200", "GetGateway 0"}; !slices.Equal(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	if got, want := r.Codes("GetGateway"), []int{429, 0}; !slices.Equal(got, want) {
		t.Errorf("Codes = %v, want %v", got, want)
	}
	got := r.Get()
	got[0] = "changed"
	if r.Get()[0] != "GetGateway 429" {
		t.Error("Get returned the recorder's own slice")
	}
}

func TestResponsesConcurrentRecords(t *testing.T) {
	var r Responses
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { r.Record("Op", 200+i) })
		_ = r.Get()
	}
	wg.Wait()
	if got := len(r.Codes("Op")); got != 8 {
		t.Errorf("%d codes recorded, want 8", got)
	}
}
