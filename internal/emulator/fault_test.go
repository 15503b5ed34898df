package emulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
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
	req, _ := http.NewRequest("GET", f.base+"/gateways/"+pbiGW, nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("the headers should arrive: %v", err)
	}
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
