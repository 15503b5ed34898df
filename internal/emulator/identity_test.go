package emulator

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

func TestIdentityManagedIdentity(t *testing.T) {
	ti, err := NewTokenIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := NewIdentity(IdentityOptions{Tokens: ti, Header: "hdr"})
	base, client := serveForTest(t, id)
	ok := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}}

	tests := map[string]struct {
		query      url.Values
		header     string
		wantStatus int
		wantApp    string
	}{
		"system assigned": {query: ok, header: "hdr", wantStatus: 200, wantApp: DefaultManagedClientID},
		"user assigned": {query: url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}, "client_id": {"uai"}},
			header: "hdr", wantStatus: 200, wantApp: "uai"},
		"wrong header":      {query: ok, header: "nope", wantStatus: 401},
		"missing header":    {query: ok, wantStatus: 401},
		"wrong api version": {query: url.Values{"api-version": {"2018-02-01"}, "resource": {"x"}}, header: "hdr", wantStatus: 400},
		"missing resource":  {query: url.Values{"api-version": {"2019-08-01"}}, header: "hdr", wantStatus: 400},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["X-IDENTITY-HEADER"] = tc.header
			}
			resp, m := call(t, client, http.MethodGet, base+"/msi/token?"+tc.query.Encode(), h, nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.wantStatus, m)
			}
			if tc.wantStatus != 200 {
				return
			}
			tok, _ := m["access_token"].(string)
			if err := ti.Verify(tok, "https://vault.azure.net"); err != nil {
				t.Errorf("issued token does not verify: %v", err)
			}
			claims, _ := ti.Parse(tok)
			if claims.AppID != tc.wantApp {
				t.Errorf("appid = %q, want %q", claims.AppID, tc.wantApp)
			}
			exp, err := strconv.ParseInt(m["expires_on"].(string), 10, 64)
			if err != nil || exp != claims.ExpiresAt {
				t.Errorf("expires_on = %v, want the token's exp %d", m["expires_on"], claims.ExpiresAt)
			}
			if m["token_type"] != "Bearer" || m["resource"] != "https://vault.azure.net" {
				t.Errorf("response = %v", m)
			}
		})
	}

	id.Faults().Inject(OpManagedIdentity, Fault{Status: 503, Times: 1})
	if resp, _ := call(t, client, http.MethodGet, base+"/msi/token?"+ok.Encode(), map[string]string{"X-IDENTITY-HEADER": "hdr"}, nil); resp.StatusCode != 503 {
		t.Errorf("with fault: status = %d, want 503", resp.StatusCode)
	}
	if resp, _ := call(t, client, http.MethodGet, base+"/msi/token?"+ok.Encode(), map[string]string{"X-IDENTITY-HEADER": "hdr"}, nil); resp.StatusCode != 200 {
		t.Errorf("after the fault: status = %d, want 200", resp.StatusCode)
	}
}

func TestIdentityEntra(t *testing.T) {
	const tenant = "11111111-1111-1111-1111-111111111111"
	ti, err := NewTokenIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := NewIdentity(IdentityOptions{Tokens: ti, TenantID: tenant})
	id.AddApp("app", secret.FromString("s3cret"))
	id.AddFederatedApp("wl", secret.FromString("k8s-sa-token"))
	base, client := serveForTest(t, id)

	resp, disc := call(t, client, http.MethodGet, base+"/"+tenant+"/v2.0/.well-known/openid-configuration", nil, nil)
	if resp.StatusCode != 200 || disc["issuer"] != base+"/"+tenant+"/v2.0" || disc["token_endpoint"] != base+"/"+tenant+"/oauth2/v2.0/token" {
		t.Fatalf("discovery: %d %v", resp.StatusCode, disc)
	}
	if resp, _ := call(t, client, http.MethodGet, base+"/other-tenant/v2.0/.well-known/openid-configuration", nil, nil); resp.StatusCode != 400 {
		t.Errorf("unknown tenant discovery: status %d, want 400", resp.StatusCode)
	}

	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "scope": {"https://storage.azure.com/.default openid offline_access profile"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	tests := map[string]struct {
		tenant     string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		"client secret":   {form: form("client_id", "app", "client_secret", "s3cret"), wantStatus: 200},
		"wrong secret":    {form: form("client_id", "app", "client_secret", "nope"), wantStatus: 401, wantError: "invalid_client"},
		"unknown app":     {form: form("client_id", "ghost", "client_secret", "x"), wantStatus: 400, wantError: "unauthorized_client"},
		"assertion":       {form: form("client_id", "wl", "client_assertion_type", jwtBearer, "client_assertion", "k8s-sa-token"), wantStatus: 200},
		"wrong assertion": {form: form("client_id", "wl", "client_assertion_type", jwtBearer, "client_assertion", "other"), wantStatus: 400, wantError: "invalid_client"},
		"no credential":   {form: form("client_id", "app"), wantStatus: 400, wantError: "invalid_client"},
		"wrong grant":     {form: form("grant_type", "password", "client_id", "app", "client_secret", "s3cret"), wantStatus: 400, wantError: "unsupported_grant_type"},
		"no scope":        {form: form("scope", "", "client_id", "app", "client_secret", "s3cret"), wantStatus: 400, wantError: "invalid_scope"},
		"unknown tenant":  {tenant: "t2", form: form("client_id", "app", "client_secret", "s3cret"), wantStatus: 400, wantError: "invalid_request"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tn := tenant
			if tc.tenant != "" {
				tn = tc.tenant
			}
			resp, m := call(t, client, http.MethodPost, base+"/"+tn+"/oauth2/v2.0/token", nil, tc.form)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.wantStatus, m)
			}
			if tc.wantStatus != 200 {
				if m["error"] != tc.wantError {
					t.Errorf("error = %v, want %s", m["error"], tc.wantError)
				}
				return
			}
			if _, has := m["scope"]; has {
				t.Error("token response has a scope field; MSAL rejects foreign scopes")
			}
			if err := ti.Verify(m["access_token"].(string), "https://storage.azure.com"); err != nil {
				t.Errorf("token does not verify: %v", err)
			}
			if e, _ := m["expires_in"].(float64); e < 3500 || e > 3600 {
				t.Errorf("expires_in = %v, want about 3600", m["expires_in"])
			}
		})
	}
	reqs := id.Requests()
	if len(reqs) == 0 || reqs[0].Op != OpEntraToken {
		t.Fatalf("Requests() = %+v", reqs)
	}
}
