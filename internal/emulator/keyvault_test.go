package emulator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

func TestKeyVaultProtocol(t *testing.T) {
	const resource = "https://vault.azure.net"
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ti, err := NewTokenIssuer(func() time.Time { return now }, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kv := NewKeyVault(KeyVaultOptions{Authorize: ti.Authorizer(resource), TenantID: "tid", Now: func() time.Time { return now }})
	v1 := kv.SetSecret("db", secret.FromString("one"), SecretAttributes{ContentType: "text/plain"})
	v2 := kv.SetSecret("db", secret.FromString("two"), SecretAttributes{Expires: now.Add(48 * time.Hour)})
	kv.SetSecret("off", secret.FromString("x"), SecretAttributes{})
	kv.DisableSecret("off")
	base, client := serveForTest(t, kv)

	good, _ := ti.Issue(resource, "app")
	denied, _ := ti.Issue(resource, "denied-app")
	ti.Deny("denied-app")
	wrongAud, _ := ti.Issue("https://storage.azure.com", "app")

	const q = "?api-version=2026-04-01"
	tests := map[string]struct {
		method, path, token string
		wantStatus          int
		wantCode, wantInner string
		wantValue           string
		wantChallenge       bool
	}{
		"no token":        {path: "/secrets/db/" + q, wantStatus: 401, wantCode: "Unauthorized", wantChallenge: true},
		"wrong audience":  {path: "/secrets/db/" + q, token: wrongAud, wantStatus: 401, wantCode: "Unauthorized", wantChallenge: true},
		"forged":          {path: "/secrets/db/" + q, token: good + "x", wantStatus: 401, wantChallenge: true, wantCode: "Unauthorized"},
		"latest":          {path: "/secrets/db/" + q, token: good, wantStatus: 200, wantValue: "two"},
		"latest no slash": {path: "/secrets/db" + q, token: good, wantStatus: 200, wantValue: "two"},
		"pinned":          {path: "/secrets/db/" + v1 + q, token: good, wantStatus: 200, wantValue: "one"},
		"unknown version": {path: "/secrets/db/0123456789abcdef0123456789abcdef" + q, token: good, wantStatus: 404, wantCode: "SecretNotFound"},
		"missing":         {path: "/secrets/nope/" + q, token: good, wantStatus: 404, wantCode: "SecretNotFound"},
		"disabled":        {path: "/secrets/off/" + q, token: good, wantStatus: 403, wantCode: "Forbidden", wantInner: "SecretDisabled"},
		"denied":          {path: "/secrets/db/" + q, token: denied, wantStatus: 403, wantCode: "Forbidden", wantInner: "AccessDenied"},
		"no api-version":  {path: "/secrets/db/", token: good, wantStatus: 400, wantCode: "BadParameter"},
		"list versions":   {path: "/secrets/db/versions" + q, token: good, wantStatus: 200},
		"list":            {path: "/secrets" + q, token: good, wantStatus: 200},
		"bad method":      {method: http.MethodDelete, path: "/secrets/db/" + v1 + q, token: good, wantStatus: 405},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			h := map[string]string{}
			if tc.token != "" {
				h["Authorization"] = "Bearer " + tc.token
			}
			resp, m := call(t, client, method, base+tc.path, h, nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.wantStatus, m)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if want := `Bearer authorization="https://login.microsoftonline.com/tid", resource="https://vault.azure.net"`; tc.wantChallenge && challenge != want {
				t.Errorf("WWW-Authenticate = %q, want %q", challenge, want)
			}
			if tc.wantCode != "" {
				e, _ := m["error"].(map[string]any)
				inner, _ := e["innererror"].(map[string]any)
				if e["code"] != tc.wantCode || (tc.wantInner != "" && inner["code"] != tc.wantInner) {
					t.Errorf("error = %v, want code %s inner %s", m["error"], tc.wantCode, tc.wantInner)
				}
			}
			if tc.wantValue != "" && m["value"] != tc.wantValue {
				t.Errorf("value = %v, want %s", m["value"], tc.wantValue)
			}
		})
	}

	// The latest version's bundle carries id and integer attributes.
	_, m := call(t, client, http.MethodGet, base+"/secrets/db/"+q, map[string]string{"Authorization": "Bearer " + good}, nil)
	attrs, _ := m["attributes"].(map[string]any)
	if m["id"] != base+"/secrets/db/"+v2 || attrs["exp"] != float64(now.Add(48*time.Hour).Unix()) ||
		attrs["created"] != float64(now.Unix()) || attrs["enabled"] != true {
		t.Errorf("bundle = %v", m)
	}
	_, m = call(t, client, http.MethodGet, base+"/secrets/db/versions"+q, map[string]string{"Authorization": "Bearer " + good}, nil)
	if items, _ := m["value"].([]any); len(items) != 2 {
		t.Errorf("versions = %v, want 2 items", m["value"])
	}

	var unauthorized, total int
	for _, r := range kv.Requests() {
		total++
		if !r.Authorized {
			unauthorized++
			if r.Status != 401 {
				t.Errorf("request without Authorization answered %d, want 401", r.Status)
			}
		}
	}
	if unauthorized != 1 || total != len(tests)+2 {
		t.Errorf("recorded %d requests, %d without Authorization; want %d and 1", total, unauthorized, len(tests)+2)
	}
}

func TestKeyVaultFaultsSkipChallenge(t *testing.T) {
	ti, err := NewTokenIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kv := NewKeyVault(KeyVaultOptions{Authorize: ti.Authorizer(VaultResource)})
	kv.SetSecret("db", secret.FromString("v"), SecretAttributes{})
	kv.Faults().Inject(OpGetSecret, Fault{Status: 429, RetryAfter: "1", Times: 1})
	base, client := serveForTest(t, kv)
	tok, _ := ti.Issue(VaultResource, "app")

	// The unauthenticated request gets the challenge, not the fault.
	if resp, _ := call(t, client, http.MethodGet, base+"/secrets/db/?api-version=1", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("challenge: status %d, want 401", resp.StatusCode)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	resp, m := call(t, client, http.MethodGet, base+"/secrets/db/?api-version=1", auth, nil)
	if e, _ := m["error"].(map[string]any); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || e["code"] != "Throttled" {
		t.Fatalf("fault: status %d Retry-After %q body %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	if resp, _ := call(t, client, http.MethodGet, base+"/secrets/db/?api-version=1", auth, nil); resp.StatusCode != 200 {
		t.Fatalf("after the fault: status %d, want 200", resp.StatusCode)
	}
}

func TestLoopbackChallengeResource(t *testing.T) {
	tests := map[string]string{
		"https://127.0.0.1:40123":  "https://0.0.1:40123",
		"https://127.0.0.1:40123/": "https://0.0.1:40123",
		"https://localhost:8443":   "https://localhost:8443",
	}
	for in, want := range tests {
		if got := LoopbackChallengeResource(in); got != want {
			t.Errorf("LoopbackChallengeResource(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyVaultPutThenGet(t *testing.T) {
	ti, err := NewTokenIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kv := NewKeyVault(KeyVaultOptions{Authorize: ti.Authorizer(VaultResource)})
	base, client := serveForTest(t, kv)
	tok, _ := ti.Issue(VaultResource, "app")

	req, err := http.NewRequest(http.MethodPut, base+"/secrets/new?api-version=2026-04-01",
		strings.NewReader(`{"value":"fresh","contentType":"text/plain","attributes":{"enabled":true,"exp":1893456000}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT status %d, want 200", resp.StatusCode)
	}
	_, m := call(t, client, http.MethodGet, base+"/secrets/new/?api-version=2026-04-01", map[string]string{"Authorization": "Bearer " + tok}, nil)
	attrs, _ := m["attributes"].(map[string]any)
	if m["value"] != "fresh" || m["contentType"] != "text/plain" || attrs["exp"] != float64(1893456000) {
		t.Errorf("GET after PUT = %v", m)
	}
}

// Without an Authorize hook every emulated service still wants a non-empty
// bearer token, and they agree on it.
func TestWithoutAuthorizerABearerTokenIsStillRequired(t *testing.T) {
	kv := NewKeyVault(KeyVaultOptions{})
	kv.SetSecret("db", secret.FromString("one"), SecretAttributes{})
	base, client := serveForTest(t, kv)
	for header, want := range map[string]int{"": 401, "Bearer ": 401, "Basic abc": 401, "Bearer anything": 200} {
		h := map[string]string{}
		if header != "" {
			h["Authorization"] = header
		}
		if resp, _ := call(t, client, http.MethodGet, base+"/secrets/db/?api-version=2026-04-01", h, nil); resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", header, resp.StatusCode, want)
		}
	}
}
