package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/secret"
)

// TestFailRejected: the inventory loads with sales-sql's rollback on, and
// the credential a rotation of sales-sql delivers (Want) passes the status
// check, unless Fail is FailRejected: then its database refuses it.
func TestFailRejected(t *testing.T) {
	tests := map[string]struct {
		fail   string
		status int
	}{
		"no failure":   {"", http.StatusOK},
		"rejected":     {FailRejected, http.StatusBadRequest},
		"secret gone":  {"ledger-key", http.StatusOK},
		"sas env gone": {"blob-sas", http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := Start(Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Fail: tc.fail})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Close() })
			cfg, err := config.Load(t.Context(), d.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			if ds, ok := cfg.Datasource("sales-sql"); !ok || !ds.Rollback {
				t.Errorf("sales-sql: found %v, rollback %v; want rollback on", ok, ds.Rollback)
			}

			sales := Catalog()[0]
			c := &demoClient{t: t, d: d}
			want := d.Want["sales-sql"]
			creds, err := json.Marshal(map[string]any{"credentialData": []map[string]string{
				{"name": "username", "value": want["username"]}, {"name": "password", "value": want["password"]},
			}})
			if err != nil {
				t.Fatal(err)
			}
			pub, err := cipher.ParsePublicKey(c.get("/gateways/" + sales.Gateway))
			if err != nil {
				t.Fatal(err)
			}
			enc, err := cipher.NewPool(1).Encrypt(t.Context(), pub, secret.FromString(string(creds)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"credentialDetails": map[string]string{
				"credentialType": "Basic", "credentials": enc, "encryptedConnection": "Encrypted",
				"encryptionAlgorithm": "RSA-OAEP", "privacyLevel": "Organizational",
			}})
			path := "/gateways/" + sales.Gateway + "/datasources/" + sales.ID
			if status, b := c.do(http.MethodPatch, path, string(body)); status != http.StatusOK {
				t.Fatalf("PATCH: %d %s", status, b)
			}
			status, b := c.do(http.MethodGet, path+"/status", "")
			if status != tc.status {
				t.Errorf("status check: %d %s, want %d", status, b, tc.status)
			}
			if strings.Contains(string(b), want["password"]) {
				t.Errorf("status answer holds the password: %s", b)
			}
			if tc.fail == FailRejected && !strings.Contains(string(b), "Login failed for user 'svc_powerbi'.") {
				t.Errorf("status answer: %s, want SQL Server's login failure", b)
			}
		})
	}
}

// demoClient calls the demo's Power BI with a token for the demo's app.
type demoClient struct {
	t *testing.T
	d *Demo
}

func (c *demoClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.d.Stack.PowerBIURL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	token, _ := c.d.Stack.Tokens.Issue("https://analysis.windows.net/powerbi/api", c.d.Stack.ClientID)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.d.Stack.CA.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (c *demoClient) get(path string) []byte {
	c.t.Helper()
	status, b := c.do(http.MethodGet, path, "")
	if status != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, status, b)
	}
	return b
}
