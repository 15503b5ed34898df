package emulator

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/secret"
)

// The ids of the Fabric fixture, most of them the spec examples'.
const (
	fabGW         = "8e41c4dd-a382-4937-9bf3-695ab881f7c2" // a cluster; its primary member has its id, 1024 bits
	fabM2         = "5d225cda-42d5-43d3-bc40-218f746e1d58" // its second member, 2048 bits
	fabM3         = "c6961028-1309-4183-9799-a0b0fa28a235" // a member tests add
	fabPersonalGW = "ca8979ff-4238-4489-ad13-2e1bd69a8412"
	fabVNetGW     = "271c5c9a-0860-4927-b1da-ce49008d6565"
	fabStreamGW   = "3f8d6a4b-1c2e-4f5a-9b7c-2d6e8f1a3b9d"
	fabOnPrem     = "f6a39b76-9816-4e4b-b93a-f42e405017b7" // Basic, through fabGW
	fabPersonal   = "ef8f408d-2ab7-4a18-b662-9251febda49c" // Windows, through fabPersonalGW
	fabCloud      = "6952a7b2-aea3-414f-9d85-6c0fe5d34539" // ServicePrincipal, in the cloud
	fabVNet       = "6b571614-2e98-4bfd-b9ed-1cb8d3ffc396" // Basic, through fabVNetGW
	fabStream     = "a3b4c5d6-7e8f-4a5b-9c0d-1e2f3a4b5c6d" // Basic, through fabStreamGW
	fabCloudGWID  = "7a1c0b2d-0000-4000-8000-00000000c10d" // the gateway id the cloud connection names
	fabTenant     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	fabClient     = "8e1c3a5b-0d2f-4c6e-9a7b-1f2e3d4c5b6a"
	fabOwner      = "0b6f2c1e-1111-4222-8333-444455556666"
	fabPassword   = "Pa55-w0rd!"
	fabBasic      = `{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"Pa55-w0rd!"}]}`
)

// fabFixture is a Fabric emulator with a two-member cluster (1024 and
// 2048 bits), a personal gateway, a virtual-network and a streaming one,
// and a connection through each and one in the cloud, served over HTTPS.
// Every answer it reads is held to the swagger.
type fabFixture struct {
	t      *testing.T
	fab    *Fabric
	base   string // https://127.0.0.1:PORT/v1
	client *http.Client
	now    time.Time
	token  string // the bearer token sent; "" for none
}

func newFabFixture(t *testing.T, o FabricOptions) *fabFixture {
	t.Helper()
	return buildFabFixture(t, o, true)
}

// newCloudFixture is newFabFixture without the gateways that have keys,
// and their connections: RSA key generation dominates a fixture's cost.
func newCloudFixture(t *testing.T, o FabricOptions) *fabFixture {
	t.Helper()
	return buildFabFixture(t, o, false)
}

func buildFabFixture(t *testing.T, o FabricOptions, keys bool) *fabFixture {
	t.Helper()
	f := &fabFixture{t: t, now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), token: "x"}
	o.Now = func() time.Time { return f.now }
	if o.Owner == "" {
		o.Owner = fabOwner
	}
	f.fab = NewFabric(o)
	if keys {
		must(t, f.fab.AddClusterGateway(fabGW, []string{fabGW, fabM2}, []int{1024, 2048}))
		must(t, f.fab.AddPersonalGateway(fabPersonalGW, 1024))
		must(t, f.fab.AddConnection(FabricConnection{ID: fabOnPrem, GatewayID: fabGW, ConnectivityType: FabricOnPremisesGateway, CredentialType: "Basic", DisplayName: "sales-sql"}))
		must(t, f.fab.AddConnection(FabricConnection{ID: fabPersonal, GatewayID: fabPersonalGW, ConnectivityType: FabricOnPremisesGatewayPersonal, CredentialType: "Windows", PrivacyLevel: "Private"}))
	}
	must(t, f.fab.AddVNetGateway(fabVNetGW))
	must(t, f.fab.AddStreamingVNetGateway(fabStreamGW))
	for _, c := range []FabricConnection{
		{ID: fabCloud, GatewayID: fabCloudGWID, ConnectivityType: FabricShareableCloud, CredentialType: "ServicePrincipal", Type: "AzureDataLakeStorage", Path: "https://lake.dfs.core.windows.net/raw"},
		{ID: fabVNet, GatewayID: fabVNetGW, ConnectivityType: FabricVirtualNetworkGateway, CredentialType: "Basic"},
		{ID: fabStream, GatewayID: fabStreamGW, ConnectivityType: FabricStreamingVirtualNetworkGateway, CredentialType: "Basic"},
	} {
		must(t, f.fab.AddConnection(c))
	}
	url, client := serveForTest(t, f.fab)
	f.base, f.client = url+"/v1", client
	return f
}

// do sends a request and returns status, headers and body, having checked
// the body against the swagger: a success's against the operation's
// answer, an error's against ErrorResponse, whose requestId must be the
// RequestId header's.
func (f *fabFixture) do(method, path, body string) (int, http.Header, []byte) {
	f.t.Helper()
	resp, b, err := f.send(method, path, body)
	must(f.t, err)
	f.checkAnswer(resp, b)
	return resp.StatusCode, resp.Header, b
}

// send sends a request with the fixture's token and reads the answer. It
// is safe to call from any goroutine.
func (f *fabFixture) send(method, path, body string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = f.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (f *fabFixture) checkAnswer(resp *http.Response, body []byte) {
	f.t.Helper()
	id := resp.Header.Get("RequestId")
	if !validUUID(id) || resp.Header.Get("x-ms-request-id") != id {
		f.t.Errorf("RequestId %q, x-ms-request-id %q: want one UUID in both", id, resp.Header.Get("x-ms-request-id"))
	}
	reqs := f.fab.Requests()
	op := reqs[len(reqs)-1].Operation
	switch {
	case resp.StatusCode >= 400:
		if err := f.fab.spec.validateDefinition("ErrorResponse", body, true); err != nil {
			f.t.Errorf("%d error body: %v\n%s", resp.StatusCode, err, body)
		}
		var e fabricErrorBody
		if json.Unmarshal(body, &e) == nil && (e.RequestID != id || resp.Header.Get("x-ms-public-api-error-code") != e.ErrorCode) {
			f.t.Errorf("error body requestId %q, errorCode %q; headers %q, %q", e.RequestID, e.ErrorCode, id, resp.Header.Get("x-ms-public-api-error-code"))
		}
	case len(body) == 0:
	case op == OpFabricGetOperationResult:
		if err := f.fab.spec.validateDefinition("ConnectionStatusResponse", body, true); err != nil {
			f.t.Errorf("operation result: %v\n%s", err, body)
		}
	default:
		if err := f.fab.spec.validateResponse(op, body); err != nil {
			f.t.Errorf("%s answer: %v\n%s", op, err, body)
		}
	}
}

// want sends a request and checks its status and, for an error, code; it
// returns the body, and for an error its message.
func (f *fabFixture) want(method, path, body string, status int, code string) (answer []byte, message string) {
	f.t.Helper()
	got, _, b := f.do(method, path, body)
	if got != status {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
	if status >= 400 {
		var e fabricErrorBody
		must(f.t, json.Unmarshal(b, &e))
		if e.ErrorCode != code {
			f.t.Errorf("%s %s: errorCode %s, want %s: %s", method, path, e.ErrorCode, code, e.Message)
		}
		return b, e.Message
	}
	return b, ""
}

// fabMember is a member as List Gateway Members answers it.
type fabMemberKey struct {
	ID        string `json:"id"`
	Enabled   bool   `json:"enabled"`
	PublicKey struct {
		Exponent string `json:"exponent"`
		Modulus  string `json:"modulus"`
	} `json:"publicKey"`
}

func (m fabMemberKey) key(t *testing.T) *rsa.PublicKey {
	t.Helper()
	pub, err := cipher.PublicKeyFromBase64(m.PublicKey.Exponent, m.PublicKey.Modulus)
	must(t, err)
	return pub
}

// members lists a cluster's members over the API, as rotatord does.
func (f *fabFixture) members(gatewayID string) []fabMemberKey {
	f.t.Helper()
	b, _ := f.want("GET", "/gateways/"+gatewayID+"/members", "", 200, "")
	var list struct {
		Value []fabMemberKey `json:"value"`
	}
	must(f.t, json.Unmarshal(b, &list))
	return list.Value
}

func encryptFor(t *testing.T, pub *rsa.PublicKey, plaintext string) string {
	t.Helper()
	s, err := cipher.NewPool(1).Encrypt(t.Context(), pub, secret.FromString(plaintext))
	must(t, err)
	return s
}

// clusterValues encrypts plaintext for every enabled member of the cluster.
func (f *fabFixture) clusterValues(gatewayID, plaintext string) []map[string]string {
	f.t.Helper()
	var values []map[string]string
	for _, m := range f.members(gatewayID) {
		if m.Enabled {
			values = append(values, map[string]string{"gatewayId": m.ID, "encryptedCredentials": encryptFor(f.t, m.key(f.t), plaintext)})
		}
	}
	return values
}

// updateBody is an UpdateConnectionRequest with credentials; skip is
// skipTestConnection's JSON ("" leaves it out).
func updateBody(connectivity string, credentials any, skip string) string {
	cd := map[string]any{"credentials": credentials}
	switch skip {
	case "true":
		cd["skipTestConnection"] = true
	case "false":
		cd["skipTestConnection"] = false
	}
	b, err := json.Marshal(map[string]any{"connectivityType": connectivity, "credentialDetails": cd})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func clusterBody(credentialType string, values []map[string]string) string {
	return updateBody(FabricOnPremisesGateway, map[string]any{"credentialType": credentialType, "values": values}, "")
}

func TestFabricClusterUpdateAccepts(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	b, _ := f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", f.clusterValues(fabGW, fabBasic)), 200, "")
	var conn map[string]any
	must(t, json.Unmarshal(b, &conn))
	if conn["id"] != fabOnPrem || conn["gatewayId"] != fabGW || conn["displayName"] != "sales-sql" {
		t.Errorf("answer %s", b)
	}
	got, ok := f.fab.Credential(fabOnPrem)
	if !ok {
		t.Fatal("no credential stored")
	}
	if got.CredentialType != "Basic" || len(got.Plain) != 2 || got.Plain[fabGW] != fabBasic || got.Plain[fabM2] != fabBasic ||
		got.Typed != "" || got.SkipTestConnection != nil || !got.At.Equal(f.now) ||
		got.Fields["username"] != "svc" || got.Fields["password"] != fabPassword {
		t.Errorf("stored %+v", got)
	}
	// Windows is an on-premises type; the PATCH changes the connection's.
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Windows", f.clusterValues(fabGW, fabBasic)), 200, "")
	b, _ = f.want("GET", "/connections/"+fabOnPrem, "", 200, "")
	if !strings.Contains(string(b), `"credentialType":"Windows"`) {
		t.Errorf("Get Connection after a Windows PATCH: %s", b)
	}
	if n := len(f.fab.History(fabOnPrem)); n != 2 || f.fab.RefusedUpdates(fabOnPrem) != 0 {
		t.Errorf("history %d, refused %d", n, f.fab.RefusedUpdates(fabOnPrem))
	}
}

func TestFabricClusterUpdateRefuses(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	keys := map[string]*rsa.PublicKey{}
	for _, m := range f.members(fabGW) {
		keys[m.ID] = m.key(t)
	}
	value := func(member string, key *rsa.PublicKey, plaintext string) map[string]string {
		return map[string]string{"gatewayId": member, "encryptedCredentials": encryptFor(t, key, plaintext)}
	}
	other := `{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"0ther"}]}`
	tests := map[string]struct {
		body        func() string
		code        string
		messageHas  string // a member id, say
		swaggerFail bool
	}{
		"a member's value missing": {
			body: func() string { return clusterBody("Basic", []map[string]string{value(fabGW, keys[fabGW], fabBasic)}) },
			code: FabricCodeInvalidEncryptedCredentials, messageHas: fabM2,
		},
		"a value encrypted for another member's key": {
			body: func() string {
				return clusterBody("Basic", []map[string]string{value(fabGW, keys[fabGW], fabBasic), value(fabM2, keys[fabGW], fabBasic)})
			},
			code: FabricCodeInvalidEncryptedCredentials, messageHas: fabM2,
		},
		"a value for an id that is no member": {
			body: func() string {
				return clusterBody("Basic", f.withValue(value(fabM3, keys[fabGW], fabBasic)))
			},
			code: FabricCodeInvalidEncryptedCredentials, messageHas: fabM3,
		},
		"a member twice": {
			body: func() string {
				return clusterBody("Basic", f.withValue(value(fabM2, keys[fabM2], fabBasic)))
			},
			code: FabricCodeInvalidCredentialDetails, messageHas: fabM2,
		},
		"members decrypt different credentials": {
			body: func() string {
				return clusterBody("Basic", []map[string]string{value(fabGW, keys[fabGW], fabBasic), value(fabM2, keys[fabM2], other)})
			},
			code: FabricCodeInvalidCredentialDetails, messageHas: fabM2,
		},
		"not a credentials document": {
			body: func() string {
				return clusterBody("Basic", f.clusterValues(fabGW, "username=svc;password="+fabPassword))
			},
			code: FabricCodeInvalidCredentialDetails,
		},
		"the document lacks a field of the type": {
			body: func() string { return clusterBody("Key", f.clusterValues(fabGW, fabBasic)) },
			code: FabricCodeInvalidCredentialDetails, messageHas: "Key credentials need key",
		},
		"not base64": {
			body: func() string {
				return clusterBody("Basic", []map[string]string{value(fabGW, keys[fabGW], fabBasic), {"gatewayId": fabM2, "encryptedCredentials": "%%%"}})
			},
			code: FabricCodeInvalidEncryptedCredentials, messageHas: fabM2,
		},
		"typed credentials": {
			body: func() string {
				return updateBody(FabricOnPremisesGateway, map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword}, "")
			},
			code: FabricCodeInvalidInput, swaggerFail: true,
		},
		"one encryptedCredentials, as for a personal gateway": {
			body: func() string {
				return updateBody(FabricOnPremisesGateway, map[string]string{"credentialType": "Basic", "encryptedCredentials": encryptFor(t, keys[fabGW], fabBasic)}, "")
			},
			code: FabricCodeInvalidInput, swaggerFail: true,
		},
		"WorkspaceIdentity": {
			body: func() string {
				return clusterBody("WorkspaceIdentity", f.clusterValues(fabGW, `{"credentialData":""}`))
			},
			code: FabricCodeInvalidCredentialDetails, messageHas: "WorkspaceIdentity",
		},
		"ServicePrincipal": {
			body: func() string { return clusterBody("ServicePrincipal", f.clusterValues(fabGW, `{"credentialData":""}`)) },
			code: FabricCodeInvalidCredentialDetails,
		},
		"another connectivity type": {
			body: func() string {
				return updateBody(FabricVirtualNetworkGateway, map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword}, "")
			},
			code: FabricCodeInvalidInput, messageHas: "OnPremisesGateway",
		},
	}
	refused := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, msg := f.want("PATCH", "/connections/"+fabOnPrem, tc.body(), 400, tc.code)
			if !tc.swaggerFail && !strings.Contains(msg, tc.messageHas) {
				t.Errorf("message %q does not name %q", msg, tc.messageHas)
			}
			if strings.Contains(msg, fabPassword) || strings.Contains(msg, "0ther") {
				t.Errorf("message holds the password: %q", msg)
			}
			if tc.code != FabricCodeInvalidInput {
				refused++
			}
		})
	}
	if h := f.fab.History(fabOnPrem); len(h) != 0 {
		t.Errorf("refused PATCHes stored %+v", h)
	}
	if got := f.fab.RefusedUpdates(fabOnPrem); got != refused {
		t.Errorf("RefusedUpdates %d, want %d", got, refused)
	}
}

// withValue is the values for every enabled member plus v.
func (f *fabFixture) withValue(v map[string]string) []map[string]string {
	return append(f.clusterValues(fabGW, fabBasic), v)
}

func TestFabricClusterDisabledMember(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	all := f.clusterValues(fabGW, fabBasic)
	must(t, f.fab.SetMemberEnabled(fabGW, fabM2, false))
	ms := f.members(fabGW)
	if len(ms) != 2 || !ms[0].Enabled || ms[1].Enabled {
		t.Fatalf("members %+v: want the second disabled", ms)
	}
	// Without the disabled member's value, and with one (even a bad one): ignored.
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", all[:1]), 200, "")
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", append(all[:1:1], map[string]string{"gatewayId": fabM2, "encryptedCredentials": "garbage"})), 200, "")
	got, _ := f.fab.Credential(fabOnPrem)
	if _, ok := got.Plain[fabM2]; ok || got.Plain[fabGW] != fabBasic {
		t.Errorf("Plain %v: want the enabled member's only", got.Plain)
	}
	must(t, f.fab.SetMemberEnabled(fabGW, fabM2, true))
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", all[:1]), 400, FabricCodeInvalidEncryptedCredentials)
	// Removed: its value now names no member.
	must(t, f.fab.RemoveMember(fabGW, fabM2))
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", all), 400, FabricCodeInvalidEncryptedCredentials)
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", all[:1]), 200, "")
	if err := f.fab.RemoveMember(fabGW, fabGW); err == nil {
		t.Error("the last member was removed")
	}
}

func TestFabricAddMemberAfterList(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	must(t, f.fab.AddMemberAfterList(fabGW, fabM3, 2048))
	values := f.clusterValues(fabGW, fabBasic) // lists two members; the third joins
	_, msg := f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", values), 400, FabricCodeInvalidEncryptedCredentials)
	if !strings.Contains(msg, fabM3) {
		t.Errorf("message %q does not name the new member", msg)
	}
	values = f.clusterValues(fabGW, fabBasic)
	if len(values) != 3 {
		t.Fatalf("second listing: %d members, want 3", len(values))
	}
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", values), 200, "")
	if got, _ := f.fab.Credential(fabOnPrem); len(got.Plain) != 3 {
		t.Errorf("Plain %v: want three members", got.Plain)
	}
	if err := f.fab.AddMemberAfterList(fabGW, fabM3, 1024); err == nil {
		t.Error("a member joined twice")
	}
}

func TestFabricMemberKeyRotated(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	values := f.clusterValues(fabGW, fabBasic)
	must(t, f.fab.RotateMemberKey(fabGW, fabM2))
	_, msg := f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", values), 400, FabricCodeInvalidEncryptedCredentials)
	if !strings.Contains(msg, fabM2) {
		t.Errorf("message %q does not name the member", msg)
	}
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", f.clusterValues(fabGW, fabBasic)), 200, "")
}

func TestFabricPersonalUpdate(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	b, _ := f.want("GET", "/gateways/"+fabPersonalGW, "", 200, "")
	pub, err := cipher.ParsePublicKey(b)
	must(t, err)
	body := func(credType string, pub *rsa.PublicKey, plaintext string) string {
		return updateBody(FabricOnPremisesGatewayPersonal, map[string]string{"credentialType": credType, "encryptedCredentials": encryptFor(t, pub, plaintext)}, "true")
	}
	f.want("PATCH", "/connections/"+fabPersonal, body("WindowsWithoutImpersonation", pub, fabBasic), 200, "")
	got, _ := f.fab.Credential(fabPersonal)
	if len(got.Plain) != 1 || got.Plain[""] != fabBasic || got.SkipTestConnection == nil || !*got.SkipTestConnection {
		t.Errorf("stored %+v", got)
	}
	// Another key: the cluster's primary member's.
	other := f.members(fabGW)[0].key(t)
	f.want("PATCH", "/connections/"+fabPersonal, body("Windows", other, fabBasic), 400, FabricCodeInvalidEncryptedCredentials)
	f.want("PATCH", "/connections/"+fabPersonal, body("SharedAccessSignature", pub, fabBasic), 400, FabricCodeInvalidCredentialDetails)
	f.want("PATCH", "/connections/"+fabPersonal, body("SharedAccessSignature", pub, `{"credentialData":[{"name":"token","value":"sv=1"}]}`), 200, "")
	f.want("PATCH", "/connections/"+fabPersonal,
		updateBody(FabricOnPremisesGatewayPersonal, map[string]any{"credentialType": "Windows", "values": []any{}}, ""), 400, FabricCodeInvalidInput)
}

func TestFabricTypedUpdate(t *testing.T) {
	sp := map[string]string{"credentialType": "ServicePrincipal", "tenantId": fabTenant, "servicePrincipalClientId": fabClient, "servicePrincipalSecret": "s3cret~"}
	tests := map[string]struct {
		conn, connectivity string
		creds              map[string]string
		code               string            // "" accepted
		fields             map[string]string // stored, when accepted
	}{
		"cloud ServicePrincipal": {
			conn: fabCloud, connectivity: FabricShareableCloud, creds: sp,
			fields: map[string]string{"tenantId": fabTenant, "servicePrincipalClientId": fabClient, "servicePrincipalSecret": "s3cret~"},
		},
		"virtual network Basic": {
			conn: fabVNet, connectivity: FabricVirtualNetworkGateway, creds: map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword},
			fields: map[string]string{"username": "svc", "password": fabPassword},
		},
		"streaming virtual network Basic": {
			conn: fabStream, connectivity: FabricStreamingVirtualNetworkGateway, creds: map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword},
			fields: map[string]string{"username": "svc", "password": fabPassword},
		},
		"KeyPair with a passphrase": {
			conn: fabCloud, connectivity: FabricShareableCloud,
			creds:  map[string]string{"credentialType": "KeyPair", "identifier": "SVC", "privateKey": "-----BEGIN ENCRYPTED PRIVATE KEY-----x", "passphrase": "pp"},
			fields: map[string]string{"identifier": "SVC", "privateKey": "-----BEGIN ENCRYPTED PRIVATE KEY-----x", "passphrase": "pp"},
		},
		"KeyPair without one": {
			conn: fabCloud, connectivity: FabricShareableCloud,
			creds:  map[string]string{"credentialType": "KeyPair", "identifier": "SVC", "privateKey": "-----BEGIN PRIVATE KEY-----x"},
			fields: map[string]string{"identifier": "SVC", "privateKey": "-----BEGIN PRIVATE KEY-----x"},
		},
		"Key":                   {conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "Key", "key": "k"}, fields: map[string]string{"key": "k"}},
		"SharedAccessSignature": {conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "SharedAccessSignature", "token": "sv=1"}, fields: map[string]string{"token": "sv=1"}},
		"WorkspaceIdentity":     {conn: fabVNet, connectivity: FabricVirtualNetworkGateway, creds: map[string]string{"credentialType": "WorkspaceIdentity"}, fields: map[string]string{}},
		"Anonymous":             {conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "Anonymous"}, fields: map[string]string{}},
		"Windows in the cloud": {
			conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "Windows", "username": "d\\svc", "password": fabPassword},
			code: FabricCodeInvalidCredentialDetails,
		},
		"Windows through a virtual network": {
			conn: fabVNet, connectivity: FabricVirtualNetworkGateway, creds: map[string]string{"credentialType": "Windows", "username": "d\\svc", "password": fabPassword},
			code: FabricCodeInvalidCredentialDetails,
		},
		"OAuth2":                   {conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "OAuth2"}, code: FabricCodeInvalidCredentialDetails},
		"Basic without a password": {conn: fabVNet, connectivity: FabricVirtualNetworkGateway, creds: map[string]string{"credentialType": "Basic", "username": "svc"}, code: FabricCodeInvalidCredentialDetails},
		"an empty secret": {
			conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "ServicePrincipal", "tenantId": fabTenant, "servicePrincipalClientId": fabClient, "servicePrincipalSecret": ""},
			code: FabricCodeInvalidCredentialDetails,
		},
		"a client id that is no UUID": {
			conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "ServicePrincipal", "tenantId": fabTenant, "servicePrincipalClientId": "app", "servicePrincipalSecret": "s"},
			code: FabricCodeInvalidInput,
		},
		"encrypted credentials in the cloud": {
			conn: fabCloud, connectivity: FabricShareableCloud, creds: map[string]string{"credentialType": "Basic", "username": "svc", "encryptedCredentials": "AAAA"},
			code: FabricCodeInvalidInput,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newCloudFixture(t, FabricOptions{})
			body := updateBody(tc.connectivity, tc.creds, "false")
			if tc.code != "" {
				_, msg := f.want("PATCH", "/connections/"+tc.conn, body, 400, tc.code)
				for k, v := range tc.creds {
					if len(v) > 3 && k != "credentialType" && k != "tenantId" && strings.Contains(msg, v) {
						t.Errorf("message %q holds %s", msg, k)
					}
				}
				if _, ok := f.fab.Credential(tc.conn); ok {
					t.Error("stored")
				}
				return
			}
			b, _ := f.want("PATCH", "/connections/"+tc.conn, body, 200, "")
			if !strings.Contains(string(b), `"credentialType":"`+tc.creds["credentialType"]+`"`) {
				t.Errorf("answer %s", b)
			}
			got, _ := f.fab.Credential(tc.conn)
			if got.Plain != nil || got.Typed == "" || got.CredentialType != tc.creds["credentialType"] || got.SkipTestConnection == nil || *got.SkipTestConnection {
				t.Errorf("stored %+v", got)
			}
			var typed map[string]string
			must(t, json.Unmarshal([]byte(got.Typed), &typed))
			if !mapsEqual(typed, tc.creds) || !mapsEqual(got.Fields, tc.fields) {
				t.Errorf("Typed %s, Fields %v; want %v", got.Typed, got.Fields, tc.fields)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFabricUpdateWithoutCredentials(t *testing.T) {
	f := newCloudFixture(t, FabricOptions{})
	b, _ := f.want("PATCH", "/connections/"+fabVNet,
		`{"connectivityType":"VirtualNetworkGateway","displayName":"renamed","privacyLevel":"Public","credentialDetails":{"singleSignOnType":"MicrosoftEntraID"}}`, 200, "")
	for _, want := range []string{`"displayName":"renamed"`, `"privacyLevel":"Public"`, `"singleSignOnType":"MicrosoftEntraID"`, `"credentialType":"Basic"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("answer lacks %s: %s", want, b)
		}
	}
	if h := f.fab.History(fabVNet); len(h) != 0 {
		t.Errorf("a PATCH without credentials recorded %+v", h)
	}
	f.want("PATCH", "/connections/00000000-0000-4000-8000-000000000000", `{"connectivityType":"VirtualNetworkGateway"}`, 404, FabricCodeEntityNotFound)
	f.want("PATCH", "/connections/"+fabVNet, `{"connectivityType":"VirtualNetworkGateway","color":"red"}`, 400, FabricCodeInvalidInput)
	f.want("PATCH", "/connections/"+fabVNet, `not json`, 400, FabricCodeInvalidInput)
}

// TestFabricUpdateTestsTheCredential: without skipTestConnection true, a
// PATCH is tried against the data source and refused when it fails.
func TestFabricUpdateTestsTheCredential(t *testing.T) {
	good := map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword}
	bad := map[string]string{"credentialType": "Basic", "username": "svc", "password": "wrong"}
	tests := map[string]struct {
		setup func(f *fabFixture)
		creds map[string]string
		skip  string
		code  string // "" accepted
	}{
		"the data source takes it":           {creds: good},
		"refused, skipTestConnection false":  {creds: bad, skip: "false", code: FabricCodeIncorrectCredentials},
		"refused, skipTestConnection absent": {creds: bad, code: FabricCodeIncorrectCredentials},
		"refused, but not tested":            {creds: bad, skip: "true"},
		"data source unreachable": {
			setup: func(f *fabFixture) { must(f.t, f.fab.SetConnectionReachable(fabVNet, false)) },
			creds: good, code: FabricCodeUpdateGatewayConnectionFailed,
		},
		"gateway offline": {
			setup: func(f *fabFixture) { must(f.t, f.fab.SetGatewayOnline(fabVNetGW, false)) },
			creds: good, code: FabricCodeUpdateGatewayConnectionFailed,
		},
		"gateway offline, not tested": {
			setup: func(f *fabFixture) { must(f.t, f.fab.SetGatewayOnline(fabVNetGW, false)) },
			creds: good, skip: "true",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newCloudFixture(t, FabricOptions{})
			must(t, f.fab.SetConnectionBackend(fabVNet, map[string]string{"username": "svc", "password": fabPassword}))
			// A first credential, untested, that a refused one must leave in place.
			f.want("PATCH", "/connections/"+fabVNet, updateBody(FabricVirtualNetworkGateway, map[string]string{"credentialType": "Basic", "username": "old", "password": "old-pass"}, "true"), 200, "")
			if tc.setup != nil {
				tc.setup(f)
			}
			body := updateBody(FabricVirtualNetworkGateway, tc.creds, tc.skip)
			if tc.code == "" {
				f.want("PATCH", "/connections/"+fabVNet, body, 200, "")
				if got, _ := f.fab.Credential(fabVNet); got.Fields["password"] != tc.creds["password"] {
					t.Errorf("stored %v", got.Fields)
				}
				return
			}
			_, msg := f.want("PATCH", "/connections/"+fabVNet, body, 400, tc.code)
			if strings.Contains(msg, tc.creds["password"]) {
				t.Errorf("message %q holds the password", msg)
			}
			if got, _ := f.fab.Credential(fabVNet); got.Fields["username"] != "old" || len(f.fab.History(fabVNet)) != 1 {
				t.Errorf("the old credential was replaced: %v", got.Fields)
			}
			if f.fab.RefusedUpdates(fabVNet) != 1 {
				t.Errorf("RefusedUpdates %d", f.fab.RefusedUpdates(fabVNet))
			}
		})
	}
}

// TestFabricClusterUpdateTested: an on-premises PATCH is tested with the
// decrypted credentialData names.
func TestFabricClusterUpdateTested(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	must(t, f.fab.SetConnectionBackend(fabOnPrem, map[string]string{"username": "svc", "password": "another"}))
	body := updateBody(FabricOnPremisesGateway, map[string]any{"credentialType": "Basic", "values": f.clusterValues(fabGW, fabBasic)}, "false")
	_, msg := f.want("PATCH", "/connections/"+fabOnPrem, body, 400, FabricCodeIncorrectCredentials)
	if !strings.Contains(msg, "Login failed for user 'svc'") {
		t.Errorf("message %q", msg)
	}
	must(t, f.fab.SetConnectionBackend(fabOnPrem, map[string]string{"username": "svc", "password": fabPassword}))
	f.want("PATCH", "/connections/"+fabOnPrem, body, 200, "")
}

// TestFabricConcurrentUpdates runs PATCHes, listings and tests of a cluster
// connection while its members change, for the race detector: every answer
// is a 200 or a refusal, and what is stored is whole.
func TestFabricConcurrentUpdates(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	body := clusterBody("Basic", f.clusterValues(fabGW, fabBasic))
	errs := make(chan error, 5)
	for i := range 4 {
		go func() {
			for j := range 6 {
				var path, method, b string
				switch (i + j) % 3 {
				case 0:
					method, path, b = "PATCH", "/connections/"+fabOnPrem, body
				case 1:
					method, path = "GET", "/gateways/"+fabGW+"/members"
				default:
					method, path = "POST", "/connections/"+fabOnPrem+"/testConnection"
				}
				resp, answer, err := f.send(method, path, b)
				if err == nil && resp.StatusCode != 200 && resp.StatusCode != 400 {
					err = fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, answer)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for _, enabled := range []bool{false, true, false, true} {
			if err := f.fab.SetMemberEnabled(fabGW, fabM2, enabled); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range 5 {
		must(t, <-errs)
	}
	for _, r := range f.fab.History(fabOnPrem) {
		if r.Plain[fabGW] != fabBasic || len(r.Plain) == 2 && r.Plain[fabM2] != fabBasic {
			t.Errorf("stored %v", r.Plain)
		}
	}
}
