package emulator

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// gatewayDatasource is the swagger GatewayDatasource as a client reads it.
type gatewayDatasource struct {
	ID                string `json:"id"`
	GatewayID         string `json:"gatewayId"`
	DatasourceName    string `json:"datasourceName"`
	DatasourceType    string `json:"datasourceType"`
	ConnectionDetails string `json:"connectionDetails"`
	CredentialType    string `json:"credentialType"`
	CredentialDetails struct {
		UseEndUserOAuth2Credentials bool `json:"useEndUserOAuth2Credentials"`
	} `json:"credentialDetails"`
}

// getDatasource reads a data source with Get Datasource and, on a real
// gateway, its entry in Get Datasources too, and fails unless they agree.
// A cloud data source's virtual gateway lists nothing: it is no gateway.
func (f *pbiFixture) getDatasource(t *testing.T, gw, ds string) gatewayDatasource {
	t.Helper()
	status, _, body := f.do("GET", "/gateways/"+gw+"/datasources/"+ds, "")
	if status != 200 {
		t.Fatalf("GetDatasource: %d %s", status, body)
	}
	var one gatewayDatasource
	must(t, json.Unmarshal(body, &one))
	status, _, body = f.do("GET", "/gateways/"+gw+"/datasources", "")
	if status == 404 && gw == cloudGW {
		return one
	}
	if status != 200 {
		t.Fatalf("GetDatasources: %d %s", status, body)
	}
	var list struct{ Value []gatewayDatasource }
	must(t, json.Unmarshal(body, &list))
	for _, d := range list.Value {
		if strings.EqualFold(d.ID, ds) {
			if !reflect.DeepEqual(d, one) {
				t.Errorf("Get Datasources lists %+v\nGet Datasource answers %+v", d, one)
			}
			return one
		}
	}
	t.Errorf("Get Datasources does not list %s: %s", ds, body)
	return one
}

func TestPowerBIDatasourceInfo(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	type want struct{ name, typ, conn string }
	tests := map[string]struct {
		gw, ds string
		info   DatasourceInfo
		want   want
		sso    bool
	}{
		"defaults on premises": {pbiGW, pbiDS, DatasourceInfo{},
			want{"emulated-252b9de8", "Sql", `{"server":"emulated-sql.contoso.local","database":"sales"}`}, false},
		"defaults in the cloud": {cloudGW, cloudDS, DatasourceInfo{},
			want{"emulated-9f3e2d1c", "AzureDataLakeStorage", `{"server":"https://emulated.dfs.core.windows.net","path":"lake"}`}, false},
		"every field": {pbiGW, pbiDS, DatasourceInfo{Name: "Sales DW", Type: "Sql", EndUserOAuth2: true,
			ConnectionDetails: map[string]string{"database": "dw", "server": `sql01.contoso.local\prod`}},
			want{"Sales DW", "Sql", `{"server":"sql01.contoso.local\\prod","database":"dw"}`}, true},
		"name only keeps the other defaults": {pbiGW, pbiDS, DatasourceInfo{Name: "only a name"},
			want{"only a name", "Sql", `{"server":"emulated-sql.contoso.local","database":"sales"}`}, false},
		"cloud web source": {cloudGW, cloudDS, DatasourceInfo{Type: "Web", ConnectionDetails: map[string]string{"url": "https://api.contoso.com/odata"}},
			want{"emulated-9f3e2d1c", "Web", `{"url":"https://api.contoso.com/odata"}`}, false},
		"file path": {pbiGW, pbiDS, DatasourceInfo{Type: "File", ConnectionDetails: map[string]string{"path": `\\files\finance\budget.xlsx`}},
			want{"emulated-252b9de8", "File", `{"path":"\\\\files\\finance\\budget.xlsx"}`}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			must(t, f.pbi.SetDatasourceInfo(tc.gw, tc.ds, tc.info))
			got := f.getDatasource(t, tc.gw, tc.ds)
			if g := (want{got.DatasourceName, got.DatasourceType, got.ConnectionDetails}); g != tc.want {
				t.Errorf("got %+v\nwant %+v", g, tc.want)
			}
			if got.CredentialDetails.UseEndUserOAuth2Credentials != tc.sso {
				t.Errorf("useEndUserOAuth2Credentials %v, want %v", got.CredentialDetails.UseEndUserOAuth2Credentials, tc.sso)
			}
			var details map[string]string
			if err := json.Unmarshal([]byte(got.ConnectionDetails), &details); err != nil {
				t.Errorf("connectionDetails is not a JSON object: %v", err)
			}
		})
	}
	conn := map[string]string{"server": "s"}
	must(t, f.pbi.SetDatasourceInfo(pbiGW, pbiDS, DatasourceInfo{ConnectionDetails: conn}))
	conn["server"] = "changed after the call"
	if got := f.getDatasource(t, pbiGW, pbiDS); got.ConnectionDetails != `{"server":"s"}` {
		t.Errorf("the emulator kept the caller's map: %s", got.ConnectionDetails)
	}
}

func TestPowerBIDatasourceAdminErrors(t *testing.T) {
	p := NewPowerBI(PowerBIOptions{})
	must(t, p.AddGateway(pbiGW, 1024))
	must(t, p.AddDatasource(pbiGW, pbiDS, "Basic"))
	tests := map[string]struct {
		err  error
		want string
	}{
		"info of an unknown data source": {p.SetDatasourceInfo(pbiGW, cloudDS, DatasourceInfo{Name: "x"}), "emulator: no data source " + pbiGW + "/" + cloudDS},
		"connection detail not in the swagger": {p.SetDatasourceInfo(pbiGW, pbiDS, DatasourceInfo{ConnectionDetails: map[string]string{"host": "h"}}),
			"emulator: data source " + pbiGW + "/" + pbiDS + `: connection detail "host" is not one of server, database, url, path, kind, account, domain, emailAddress, loginServer, classInfo`},
		"retype an unknown data source": {p.SetCredentialType(pbiGW, cloudDS, "Key"), "emulator: no data source " + pbiGW + "/" + cloudDS},
		"retype to an unknown type": {p.SetCredentialType(pbiGW, pbiDS, "Password"),
			`emulator: credential type "Password" is not one of Basic, Windows, Anonymous, OAuth2, Key, SAS, ServicePrincipal, KeyPair, WorkspaceIdentity`},
		"remove an unknown data source": {p.RemoveDatasource(cloudGW, pbiDS), "emulator: no data source " + cloudGW + "/" + pbiDS},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.err == nil || tc.err.Error() != tc.want {
				t.Errorf("got %v, want %s", tc.err, tc.want)
			}
		})
	}
}

// TestPowerBIRemovedDatasource: every operation on a removed data source
// answers 404, and its gateway no longer lists it.
func TestPowerBIRemovedDatasource(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	ds := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	patch := patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", "")
	if status, _, body := f.do("PATCH", ds, patch); status != 200 {
		t.Fatalf("PATCH before removal: %d %s", status, body)
	}
	must(t, f.pbi.RemoveDatasource(strings.ToUpper(pbiGW), pbiDS))
	tests := map[string]struct{ method, path, body string }{
		"GetDatasource":        {"GET", ds, ""},
		"UpdateDatasource":     {"PATCH", ds, patch},
		"GetDatasourceUsers":   {"GET", ds + "/users", ""},
		"AddDatasourceUser":    {"POST", ds + "/users", `{"emailAddress":"john@contoso.com","datasourceAccessRight":"Read"}`},
		"DeleteDatasourceUser": {"DELETE", ds + "/users/john@contoso.com", ""},
		"GetDatasourceStatus":  {"GET", ds + "/status", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, body := f.do(tc.method, tc.path, tc.body)
			if code, _ := pbiErr(t, body); status != 404 || code != CodeEntityNotFound {
				t.Errorf("got %d %s", status, body)
			}
		})
	}
	_, _, body := f.do("GET", "/gateways/"+pbiGW+"/datasources", "")
	if strings.Contains(string(body), pbiDS) {
		t.Errorf("Get Datasources still lists the removed data source: %s", body)
	}
	if h := f.pbi.History(pbiGW, pbiDS); h != nil {
		t.Errorf("history of a removed data source: %+v", h)
	}
	if err := f.pbi.RemoveDatasource(pbiGW, pbiDS); err == nil {
		t.Error("removing twice succeeded")
	}
}

// TestPowerBIRetypedDatasource: after SetCredentialType a PATCH must carry
// the new type; a type beyond the swagger's enum is reported by Get
// Datasource but no PATCH can set it.
func TestPowerBIRetypedDatasource(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	const spDS, wiDS = "11111111-2222-4333-8444-555555555555", "11111111-2222-4333-8444-666666666666"
	must(t, f.pbi.AddDatasource(pbiGW, spDS, "ServicePrincipal"))
	must(t, f.pbi.AddCloudDatasource(cloudGW, wiDS, "WorkspaceIdentity"))
	must(t, f.pbi.SetCredentialType(cloudGW, cloudDS, "Key"))
	cloud := "/gateways/" + cloudGW + "/datasources/"
	key := `{"credentialData":[{"name":"key","value":"k3y"}]}`
	oauth := `{"credentialData":[{"name":"accessToken","value":"eyJ0.x.y"}]}`
	tests := map[string]struct {
		path, body  string
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		"the old type": {cloud + cloudDS, patchBody("OAuth2", oauth, "None", ""), 400, CodeCredentialTypeMismatch,
			`credentialDetails.credentialType: "OAuth2" does not match the data source's "Key"`},
		"the new type": {cloud + cloudDS, patchBody("Key", key, "None", ""), 200, "", ""},
		"an extensible type is refused by the enum": {cloud + wiDS, patchBody("WorkspaceIdentity", key, "None", ""), 400, CodeInvalidRequest,
			`credentialDetails.credentialType: "WorkspaceIdentity" is not one of Basic, Windows, Anonymous, OAuth2, Key, SAS`},
		"a swagger type does not match an extensible one": {"/gateways/" + pbiGW + "/datasources/" + spDS, patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", ""), 400, CodeCredentialTypeMismatch,
			`credentialDetails.credentialType: "Basic" does not match the data source's "ServicePrincipal"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, body := f.do("PATCH", tc.path, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if tc.wantCode == "" {
				return
			}
			if code, msg := pbiErr(t, body); code != tc.wantCode || msg != tc.wantMessage {
				t.Errorf("got %s %q\nwant %s %q", code, msg, tc.wantCode, tc.wantMessage)
			}
		})
	}
	for ds, want := range map[string]string{cloudDS: "Key", wiDS: "WorkspaceIdentity"} {
		if got := f.getDatasource(t, cloudGW, ds); got.CredentialType != want {
			t.Errorf("%s: credentialType %q, want %q", ds, got.CredentialType, want)
		}
	}
	if got := f.getDatasource(t, pbiGW, spDS); got.CredentialType != "ServicePrincipal" {
		t.Errorf("credentialType %q, want ServicePrincipal", got.CredentialType)
	}
	must(t, f.pbi.SetCredentialType(pbiGW, spDS, "KeyPair"))
	if got := f.getDatasource(t, pbiGW, spDS); got.CredentialType != "KeyPair" {
		t.Errorf("retyped credentialType %q, want KeyPair", got.CredentialType)
	}
}

// TestPowerBIDenyGateway: a gateway the caller does not administer is
// listed, and nothing under it answers but 403.
func TestPowerBIDenyGateway(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	const gw2 = "3d9b93c6-7b6d-4801-a491-1738910904fd"
	must(t, f.pbi.AddGateway(gw2, 1024))
	patch := patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", "")
	f.pbi.DenyGateway(strings.ToUpper(pbiGW))
	ds := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	tests := map[string]struct{ method, path, body string }{
		"GetGateway":             {"GET", "/gateways/" + pbiGW, ""},
		"GetDatasources":         {"GET", "/gateways/" + pbiGW + "/datasources", ""},
		"GetDatasource":          {"GET", ds, ""},
		"UpdateDatasource":       {"PATCH", ds, patch},
		"GetDatasourceUsers":     {"GET", ds + "/users", ""},
		"AddDatasourceUser":      {"POST", ds + "/users", `{"emailAddress":"john@contoso.com","datasourceAccessRight":"Read"}`},
		"DeleteDatasourceUser":   {"DELETE", ds + "/users/john@contoso.com", ""},
		"GetDatasourceStatus":    {"GET", ds + "/status", ""},
		"an unknown data source": {"GET", "/gateways/" + pbiGW + "/datasources/" + cloudDS, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, hdr, body := f.do(tc.method, tc.path, tc.body)
			code, msg := pbiErr(t, body)
			if status != 403 || code != CodeNotAuthorized || msg != "The caller is not an administrator of gateway "+pbiGW+"." {
				t.Errorf("got %d %s", status, body)
			}
			if hdr.Get("RequestId") == "" {
				t.Error("no RequestId header")
			}
		})
	}
	status, _, body := f.do("GET", "/gateways", "")
	if status != 200 || !strings.Contains(string(body), pbiGW) || !strings.Contains(string(body), gw2) {
		t.Errorf("Get Gateways: %d %s", status, body)
	}
	if status, _, body := f.do("GET", "/gateways/"+gw2, ""); status != 200 {
		t.Errorf("another gateway: %d %s", status, body)
	}
	if n := len(f.pbi.History(pbiGW, pbiDS)); n != 0 {
		t.Errorf("a denied PATCH was stored: %d entries", n)
	}
}
