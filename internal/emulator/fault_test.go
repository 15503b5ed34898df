package emulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/hangup"
)

// applyAll runs n requests of op through fs and returns each one's status
// (0 when no fault answered it).
func applyAll(fs *Faults, op string, n int) []int {
	out := make([]int, n)
	for i := range out {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if fs.Apply(w, r, op, func(w http.ResponseWriter, status int, _ string) { w.WriteHeader(status) }) {
			out[i] = w.Code
		}
	}
	return out
}

// sequence returns a rand that yields vs in turn, then fails the test.
func sequence(t *testing.T, vs ...float64) func() float64 {
	return func() float64 {
		if len(vs) == 0 {
			t.Fatal("more draws than expected")
		}
		v := vs[0]
		vs = vs[1:]
		return v
	}
}

func TestFaultProbability(t *testing.T) {
	tests := []struct {
		name   string
		faults []Fault
		draws  []float64
		n      int
		want   []int
	}{
		{
			name:   "draws under the probability hit, others are served",
			faults: []Fault{{Status: 429, Probability: 0.25}},
			draws:  []float64{0.1, 0.25, 0.9, 0.2499},
			n:      4,
			want:   []int{429, 0, 0, 429},
		},
		{
			name:   "a spared request falls through to the next fault",
			faults: []Fault{{Status: 429, Probability: 0.5}, {Status: 503}},
			draws:  []float64{0.7, 0.3, 0.5},
			n:      3,
			want:   []int{503, 429, 503},
		},
		{
			name:   "only hits count against Times",
			faults: []Fault{{Status: 429, Probability: 0.5, Times: 2}, {Status: 500, Times: 1}},
			draws:  []float64{0.9, 0.1, 0.9, 0.1},
			n:      5,
			want:   []int{500, 429, 0, 429, 0}, // the 500 is used up by the first request
		},
		{
			name:   "probability 0 and 1 hit every request without drawing",
			faults: []Fault{{Status: 502, Times: 1}, {Status: 504, Probability: 1, Times: 1}},
			n:      3,
			want:   []int{502, 504, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs Faults
			fs.SetRand(sequence(t, tt.draws...))
			for _, f := range tt.faults {
				fs.Inject("op", f)
			}
			got := applyAll(&fs, "op", tt.n)
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("statuses = %v, want %v", got, tt.want)
					break
				}
			}
		})
	}
}

// TestFaultProbabilityDefaultRand checks the share of hits with the real
// random source: 2000 requests at 10% land within a wide band (the chance of
// a correct implementation falling outside [100, 300] is below 1e-12).
func TestFaultProbabilityDefaultRand(t *testing.T) {
	var fs Faults
	fs.Inject("op", Fault{Status: 429, RetryAfter: "1", Probability: 0.1})
	hits := 0
	for _, s := range applyAll(&fs, "op", 2000) {
		if s == 429 {
			hits++
		}
	}
	if hits < 100 || hits > 300 {
		t.Errorf("%d of 2000 requests throttled at probability 0.1", hits)
	}
}

// TestFaultProbabilityOverHTTP throttles a share of Power BI calls while a
// latency fault queued behind it delays the others, the combination
// BenchmarkFleet uses.
func TestFaultProbabilityOverHTTP(t *testing.T) {
	p := NewPowerBI(PowerBIOptions{})
	u, c := serveForTest(t, p)
	p.Faults().SetRand(sequence(t, 0.5, 0.01, 0.5))
	p.Faults().Inject(OpGetGateways, Fault{Status: 429, RetryAfter: "1", Probability: 0.02})
	p.Faults().Inject(OpGetGateways, Fault{Latency: 1}) // served after the delay
	want := []int{200, 429, 200}
	for i, w := range want {
		resp, _ := call(t, c, http.MethodGet, u+"/v1.0/myorg/gateways", map[string]string{"Authorization": "Bearer x"}, nil)
		if resp.StatusCode != w {
			t.Errorf("request %d: status %d, want %d", i, resp.StatusCode, w)
		}
		if ra := resp.Header.Get("Retry-After"); (w == 429) != (ra == "1") {
			t.Errorf("request %d: Retry-After %q", i, ra)
		}
	}
	if got := len(p.Requests()); got != len(want) {
		t.Errorf("%d requests recorded, want %d", got, len(want))
	}
}

// TestFaultTruncate: the answer starts as a 200 and the connection is reset
// halfway through its body, as a proxy or load balancer dying mid-response does.
func TestFaultTruncate(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetGateway, Fault{Truncate: true, Times: 1})
	resp := f.startGetGateway()
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("reading the truncated body succeeded")
	}
	if status, _, _ := f.do("GET", "/gateways/"+pbiGW, ""); status != 200 {
		t.Errorf("after the fault: %d", status)
	}
}

// TestLatencyAnswersNothingAfterHangUp: a request parked in a Latency fault
// whose client gives up gets no answer at all, on every emulated service.
// Returning from the handler used to send an implicit 200 with an empty
// body, which a client still reading took for a success.
func TestLatencyAnswersNothingAfterHangUp(t *testing.T) {
	ti, err := NewTokenIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pbi := NewPowerBI(PowerBIOptions{})
	must(t, pbi.AddGateway(pbiGW, 1024))
	tests := map[string]struct {
		handler interface {
			http.Handler
			Faults() *Faults
		}
		op, method, path, body string
		header                 map[string]string
	}{
		"power bi": {handler: pbi, op: OpGetGateway, method: http.MethodGet, path: "/v1.0/myorg/gateways/" + pbiGW,
			header: map[string]string{"Authorization": "Bearer x"}},
		"key vault": {handler: NewKeyVault(KeyVaultOptions{}), op: OpGetSecret, method: http.MethodGet, path: "/secrets/s?api-version=7.6",
			header: map[string]string{"Authorization": "Bearer x"}},
		"entra": {handler: NewIdentity(IdentityOptions{Tokens: ti}), op: OpEntraToken, method: http.MethodPost, path: "/tid/oauth2/v2.0/token",
			body: "grant_type=client_credentials", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		"managed identity": {handler: NewIdentity(IdentityOptions{Tokens: ti, Header: "hdr"}), op: OpManagedIdentity, method: http.MethodGet,
			path: "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net", header: map[string]string{"X-IDENTITY-HEADER": "hdr"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.handler.Faults().Inject(tc.op, Fault{Latency: time.Hour})
			base, client := serveForTest(t, tc.handler)
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if got := hangup.Answer(t, req, client.Transport.(*http.Transport).TLSClientConfig); len(got) != 0 {
				t.Errorf("after the client hung up the emulator answered %q", got)
			}
		})
	}
}

// TestFaultEmpty: a 200 with no body at all, the answer a client gets from a
// proxy that lost the service's.
func TestFaultEmpty(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetGateway, Fault{Empty: true, Times: 1})
	if status, _, body := f.do("GET", "/gateways/"+pbiGW, ""); status != 200 || len(body) != 0 {
		t.Errorf("got %d %q, want 200 with an empty body", status, body)
	}
	if status, _, body := f.do("GET", "/gateways/"+pbiGW, ""); status != 200 || len(body) == 0 {
		t.Errorf("after the fault: %d %q", status, body)
	}
}

// TestFaultEndlessEndsByItself: an endless answer is cut off at its bound
// (1 MiB here, 1 GiB by default), so a client that reads it all gets an
// error, never a whole body, and never more than the bound.
func TestFaultEndlessEndsByItself(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	const limit = 1 << 20
	f.pbi.Faults().Inject(OpGetGateway, Fault{Endless: true, EndlessBytes: limit, Times: 1})
	resp := f.startGetGateway()
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || resp.StatusCode != 200 {
		t.Errorf("status %d, read %d bytes with error %v: want a 200 whose body breaks off", resp.StatusCode, n, err)
	}
	if n < limit || n > limit+64<<10 {
		t.Errorf("read %d bytes, want the bound of %d and at most one write more", n, limit)
	}
	if status, _, _ := f.do("GET", "/gateways/"+pbiGW, ""); status != 200 {
		t.Errorf("after the fault: %d", status)
	}
}

// startGetGateway sends GetGateway and returns the response once its headers
// have arrived, leaving the body to the caller.
func (f *pbiFixture) startGetGateway() *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.base+"/gateways/"+pbiGW, nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("the headers should arrive: %v", err)
	}
	return resp
}

// TestFaultRedirect: a redirect fault answers 307 (or the 3xx it is given)
// with a Location on the target that keeps the request's path and query.
func TestFaultRedirect(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetGateway, Fault{RedirectTo: "https://elsewhere.example:8443/", Times: 1})
	f.pbi.Faults().Inject(OpGetGateway, Fault{RedirectTo: "https://elsewhere.example", Status: 308, Times: 1})
	noFollow := *f.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, want := range []struct {
		status int
		loc    string
	}{{307, "https://elsewhere.example:8443"}, {308, "https://elsewhere.example"}} {
		req, _ := http.NewRequest("GET", f.base+"/gateways/"+pbiGW+"?a=b", nil)
		req.Header.Set("Authorization", "Bearer x")
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := want.loc + req.URL.RequestURI(); resp.StatusCode != want.status || resp.Header.Get("Location") != loc {
			t.Errorf("got %d to %q, want %d to %q", resp.StatusCode, resp.Header.Get("Location"), want.status, loc)
		}
	}
}

// TestFaultSlowBodyEndsByItself: a slow body trickles, and is cut off at
// its bound for a client that keeps reading.
func TestFaultSlowBodyEndsByItself(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetGateway, Fault{SlowBody: 20 * time.Millisecond, SlowBodyFor: 300 * time.Millisecond, Times: 1})
	start := time.Now()
	resp := f.startGetGateway()
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err == nil || resp.StatusCode != 200 {
		t.Errorf("status %d, read %d bytes with error %v: want a 200 whose body breaks off", resp.StatusCode, n, err)
	}
	if took < 300*time.Millisecond || took > 10*time.Second || n > 64 {
		t.Errorf("read %d bytes in %s, want a few bytes over the bound of 300ms", n, took)
	}
}

// TestFaultEndlessWithStatus: an endless answer takes the fault's status.
func TestFaultEndlessWithStatus(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetGateway, Fault{Endless: true, Status: 503, EndlessBytes: 64 << 10, Times: 1})
	resp := f.startGetGateway()
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err == nil || resp.StatusCode != 503 {
		t.Errorf("status %d, error %v: want a 503 whose body breaks off", resp.StatusCode, err)
	}
}
