package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
)

func TestFabricAuth(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ti, err := NewTokenIssuer(func() time.Time { return now }, time.Hour)
	must(t, err)
	f := newCloudFixture(t, FabricOptions{Authorize: ti.Authorizer(fabricResource)})
	good, _ := ti.Issue(fabricResource, "app-1")
	pbi, _ := ti.Issue(powerBIResource, "app-1")
	tests := []struct {
		name, token, path string
		deny, expire      bool
		status            int
		code              string
	}{
		{name: "no token", path: "/connections", status: 401, code: FabricCodeInvalidToken},
		{name: "a forged token", token: "a.b.c", path: "/connections", status: 401, code: FabricCodeInvalidToken},
		{name: "a Power BI token", token: pbi, path: "/connections", status: 401, code: FabricCodeInvalidToken},
		{name: "a Fabric token", token: good, path: "/connections", status: 200},
		{name: "denied, connections", token: good, deny: true, path: "/connections/" + fabVNet, status: 403, code: FabricCodeNoConnectionPermission},
		{name: "denied, gateways", token: good, deny: true, path: "/gateways/" + fabVNetGW, status: 403, code: FabricCodeNoGatewayPermission},
		{name: "expired", token: good, expire: true, path: "/connections", status: 401, code: FabricCodeTokenExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.deny {
				ti.Deny("app-1")
				defer ti.Allow("app-1")
			}
			if tc.expire {
				now = now.Add(2 * time.Hour)
			}
			f.token = tc.token
			_, hdr, _ := f.do("GET", tc.path, "")
			f.want("GET", tc.path, "", tc.status, tc.code)
			if tc.status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestFabricFaults(t *testing.T) {
	f := newCloudFixture(t, FabricOptions{})
	body := updateBody(FabricVirtualNetworkGateway, map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword}, "true")
	faults := f.fab.Faults()

	faults.Inject(OpFabricUpdateConnection, Fault{Status: 429, RetryAfter: "7", Times: 1})
	status, hdr, b := f.do("PATCH", "/connections/"+fabVNet, body)
	var e fabricErrorBody
	must(t, json.Unmarshal(b, &e))
	if status != 429 || hdr.Get("Retry-After") != "7" || e.ErrorCode != FabricCodeRequestBlocked || !e.IsRetriable {
		t.Errorf("429: %d, Retry-After %q, %s", status, hdr.Get("Retry-After"), b)
	}
	f.want("PATCH", "/connections/"+fabVNet, body, 200, "")

	faults.Inject(OpFabricGetConnection, Fault{Status: 503, Times: 1})
	b, _ = f.want("GET", "/connections/"+fabVNet, "", 503, FabricCodeUnknownError)
	if !strings.Contains(string(b), `"isRetriable":true`) {
		t.Errorf("503 %s", b)
	}
	faults.Inject(OpFabricGetConnection, Fault{Status: 400, Code: "InvalidItemType", Times: 1})
	f.want("GET", "/connections/"+fabVNet, "", 400, "InvalidItemType")
	f.want("GET", "/connections/"+fabVNet, "", 200, "")

	faults.Inject(OpFabricUpdateConnection, Fault{EchoSecret: true, Times: 1})
	_, msg := f.want("PATCH", "/connections/"+fabVNet, strings.Replace(body, fabPassword, "echoed-pass", 1), 400, FabricCodeIncorrectCredentials)
	if !strings.Contains(msg, `"echoed-pass"`) {
		t.Errorf("EchoSecret message %q does not quote the password", msg)
	}
	if got, _ := f.fab.Credential(fabVNet); got.Fields["password"] != fabPassword {
		t.Errorf("the echoed credential was stored: %v", got.Fields)
	}

	var ops []string
	for _, r := range f.fab.Requests() {
		ops = append(ops, r.Operation+" "+http.StatusText(r.Status))
	}
	want := []string{OpFabricUpdateConnection + " Too Many Requests", OpFabricUpdateConnection + " OK",
		OpFabricGetConnection + " Service Unavailable", OpFabricGetConnection + " Bad Request", OpFabricGetConnection + " OK",
		OpFabricUpdateConnection + " Bad Request"}
	if strings.Join(ops, ", ") != strings.Join(want, ", ") {
		t.Errorf("requests\n%v\nwant\n%v", ops, want)
	}
}

func TestFabricGateways(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	b, _ := f.want("GET", "/gateways/"+fabGW, "", 200, "")
	var gw map[string]any
	must(t, json.Unmarshal(b, &gw))
	primary, err := cipher.ParsePublicKey(b)
	must(t, err)
	ms := f.members(fabGW)
	if gw["type"] != "OnPremises" || gw["numberOfMemberGateways"] != 2.0 || len(ms) != 2 {
		t.Fatalf("cluster %s, %d members", b, len(ms))
	}
	if !primary.Equal(ms[0].key(t)) || ms[0].ID != fabGW || ms[1].ID != fabM2 || !ms[0].Enabled || !ms[1].Enabled {
		t.Errorf("members %+v: want the primary's key on the gateway", ms)
	}
	if ms[0].key(t).Size() != 128 || ms[1].key(t).Size() != 256 {
		t.Errorf("member key sizes %d, %d bytes", ms[0].key(t).Size(), ms[1].key(t).Size())
	}
	for id, typ := range map[string]string{fabPersonalGW: "OnPremisesPersonal", fabVNetGW: "VirtualNetwork", fabStreamGW: "StreamingVirtualNetwork"} {
		b, _ := f.want("GET", "/gateways/"+id, "", 200, "")
		if !strings.Contains(string(b), `"type":"`+typ+`"`) {
			t.Errorf("gateway %s: %s", id, b)
		}
	}
	if _, err := cipher.ParsePublicKey(mustGet(f, "/gateways/"+fabPersonalGW)); err != nil {
		t.Errorf("personal gateway key: %v", err)
	}
	b, _ = f.want("GET", "/gateways", "", 200, "")
	if n := strings.Count(string(b), `"type":`); n != 4 {
		t.Errorf("%d gateways listed: %s", n, b)
	}
	for _, id := range []string{fabPersonalGW, fabVNetGW} {
		f.want("GET", "/gateways/"+id+"/members", "", 400, FabricCodeUnsupportedGatewayType)
	}
	f.want("GET", "/gateways/00000000-0000-4000-8000-000000000000", "", 404, FabricCodeEntityNotFound)
	f.want("GET", "/gateways/00000000-0000-4000-8000-000000000000/members", "", 404, FabricCodeEntityNotFound)
	f.want("GET", "/gateways/x/members", "", 400, FabricCodeInvalidInput)
	f.want("DELETE", "/gateways/"+fabGW, "", 405, FabricCodeMethodNotAllowed)
	f.want("GET", "/connections/supportedConnectionTypes", "", 404, FabricCodeEntityNotFound)
	f.want("GET", "/workspaces", "", 404, FabricCodeEntityNotFound)
	f.want("GET", "/connections/00000000-0000-4000-8000-000000000000", "", 404, FabricCodeEntityNotFound)
}

func mustGet(f *fabFixture, path string) []byte {
	f.t.Helper()
	b, _ := f.want("GET", path, "", 200, "")
	return b
}

func TestFabricConnectionShapes(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	tests := map[string]string{
		fabOnPrem:   `{"id":"` + fabOnPrem + `","displayName":"sales-sql","gatewayId":"` + fabGW + `","connectivityType":"OnPremisesGateway","connectionDetails":{"type":"SQL","path":"emulated-sql.contoso.local;sales"},"privacyLevel":"Organizational","credentialDetails":{"credentialType":"Basic","singleSignOnType":"None","connectionEncryption":"NotEncrypted","skipTestConnection":false},"connectionRecency":{"createdDateTime":"2025-03-01T12:00:00Z"}}`,
		fabPersonal: `{"id":"` + fabPersonal + `","displayName":"emulated-ef8f408d","gatewayId":"` + fabPersonalGW + `","connectivityType":"OnPremisesGatewayPersonal","connectionDetails":{"type":"SQL","path":"emulated-sql.contoso.local;sales"},"privacyLevel":"Private","credentialDetails":{"credentialType":"Windows","singleSignOnType":"None","connectionEncryption":"NotEncrypted","skipTestConnection":false},"connectionRecency":{"createdDateTime":"2025-03-01T12:00:00Z"}}`,
		fabCloud:    `{"id":"` + fabCloud + `","displayName":"emulated-6952a7b2","gatewayId":"` + fabCloudGWID + `","connectivityType":"ShareableCloud","connectionDetails":{"type":"AzureDataLakeStorage","path":"https://lake.dfs.core.windows.net/raw"},"privacyLevel":"Organizational","credentialDetails":{"credentialType":"ServicePrincipal","singleSignOnType":"None","connectionEncryption":"NotEncrypted","skipTestConnection":false},"connectionRecency":{"createdDateTime":"2025-03-01T12:00:00Z"},"allowConnectionUsageInGateway":false}`,
	}
	for id, want := range tests {
		if b := mustGet(f, "/connections/"+id); !jsonEqual(t, b, want) {
			t.Errorf("connection %s\n got %s\nwant %s", id, b, want)
		}
	}
	f.now = f.now.Add(time.Hour)
	f.want("PATCH", "/connections/"+fabOnPrem, updateBody(FabricOnPremisesGateway, map[string]any{"credentialType": "Basic", "values": f.clusterValues(fabGW, fabBasic)}, "true"), 200, "")
	if b := mustGet(f, "/connections/"+fabOnPrem); !strings.Contains(string(b), `"lastCredentialUsedDateTime":"2025-03-01T13:00:00Z"`) ||
		!strings.Contains(string(b), `"skipTestConnection":true`) {
		t.Errorf("after a PATCH: %s", b)
	}
}

func TestFabricModelErrors(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	const id = "11111111-2222-4333-8444-555555555555"
	conn := func(connectivity, gw, cred string) error {
		return f.fab.AddConnection(FabricConnection{ID: id, GatewayID: gw, ConnectivityType: connectivity, CredentialType: cred})
	}
	tests := map[string]error{
		"not a UUID":                      f.fab.AddConnection(FabricConnection{ID: "c", ConnectivityType: FabricShareableCloud, CredentialType: "Basic"}),
		"connectivity type not served":    conn("PersonalCloud", "", "Basic"),
		"credential type not in the enum": conn(FabricShareableCloud, "", "Password"),
		"no gateway":                      conn(FabricOnPremisesGateway, "", "Basic"),
		"unknown gateway":                 conn(FabricOnPremisesGateway, id, "Basic"),
		"a cluster for a personal one":    conn(FabricOnPremisesGatewayPersonal, fabGW, "Basic"),
		"a VNet gateway for on-premises":  conn(FabricOnPremisesGateway, fabVNetGW, "Basic"),
		"a real gateway in the cloud":     conn(FabricShareableCloud, fabGW, "Basic"),
		"twice":                           f.fab.AddConnection(FabricConnection{ID: fabOnPrem, GatewayID: fabGW, ConnectivityType: FabricOnPremisesGateway, CredentialType: "Basic"}),
		"a cloud connection's gateway id": f.fab.AddVNetGateway(fabCloudGWID),
		"a gateway twice":                 f.fab.AddVNetGateway(fabVNetGW),
		"key sizes":                       f.fab.AddClusterGateway(id, []string{id, fabM3}, []int{1024, 1024, 1024}),
		"no members":                      f.fab.AddClusterGateway(id, nil, []int{1024}),
		"a member twice":                  f.fab.AddClusterGateway(id, []string{id, strings.ToUpper(id)}, []int{1024}),
		"a small key":                     f.fab.AddPersonalGateway(id, 512),
		"a member of no cluster":          f.fab.AddMember(fabVNetGW, fabM3, 1024),
		"a member already in":             f.fab.AddMember(fabGW, fabM2, 1024),
		"enable no member":                f.fab.SetMemberEnabled(fabGW, fabM3, true),
		"rotate no member":                f.fab.RotateMemberKey(fabGW, fabM3),
		"no gateway online":               f.fab.SetGatewayOnline(id, true),
		"no connection's backend":         f.fab.SetConnectionBackend(id, nil),
		"negative polls":                  f.fab.SetTestMode(fabOnPrem, -1),
	}
	for name, err := range tests {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	must(t, f.fab.AddMember(fabGW, fabM3, 1024))
	if ms := f.members(fabGW); len(ms) != 3 || ms[2].ID != fabM3 {
		t.Errorf("members after AddMember %+v", ms)
	}
}
func TestStackServesFabric(t *testing.T) {
	st, err := StartStack(StackOptions{PageSize: 1})
	must(t, err)
	t.Cleanup(func() { must(t, st.Close()) })
	if !strings.HasPrefix(st.FabricURL, "https://127.0.0.1:") || !strings.HasSuffix(st.FabricURL, "/v1") {
		t.Fatalf("FabricURL %q", st.FabricURL)
	}
	must(t, st.Fabric.AddVNetGateway(fabVNetGW))
	must(t, st.Fabric.AddConnection(FabricConnection{ID: fabVNet, GatewayID: fabVNetGW, ConnectivityType: FabricVirtualNetworkGateway, CredentialType: "Basic"}))
	must(t, st.Fabric.AddConnection(FabricConnection{ID: fabCloud, ConnectivityType: FabricShareableCloud, CredentialType: "Basic"}))
	if ras := st.Fabric.RoleAssignments(fabVNet); len(ras) != 1 || ras[0].PrincipalID != TokenObjectID(st.ClientID) || ras[0].Role != "Owner" {
		t.Errorf("assignments %+v: want the stack's app as Owner", ras)
	}
	client := st.CA.Client()
	defer client.CloseIdleConnections()
	get := func(token string) (int, map[string]any) {
		req, err := http.NewRequest("GET", st.FabricURL+"/connections", nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	fabTok, _ := st.Tokens.Issue(fabricResource, st.ClientID)
	if status, m := get(fabTok); status != 200 || m["continuationToken"] == nil {
		t.Errorf("Fabric token: %d %v: want a first page of one", status, m)
	}
	pbiTok, _ := st.Tokens.Issue(powerBIResource, st.ClientID)
	if status, _ := get(pbiTok); status != 401 {
		t.Errorf("Power BI token: %d, want 401", status)
	}
}
