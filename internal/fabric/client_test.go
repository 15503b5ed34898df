package fabric

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

// The answers of the spec's examples (examples/connections, gateways).
const (
	getConnectionBody = `{"id":"` + conn + `","displayName":"ContosoConnection","gatewayId":"58376c10-5f61-4024-887e-748df4beae45",
		"connectivityType":"OnPremisesGateway","connectionDetails":{"type":"SQL","path":"contoso.database.windows.net;sales"},
		"privacyLevel":"Organizational","credentialDetails":{"credentialType":"Basic","singleSignOnType":"None",
		"connectionEncryption":"NotEncrypted","skipTestConnection":false},
		"connectionRecency":{"createdDateTime":"2023-05-23T16:22:20Z","lastBoundDateTime":"2023-05-26T16:22:20Z"}}`
	listMembersBody = `{"value":[
		{"id":"` + gw + `","displayName":"ContosoPrimaryMemberGateway","publicKey":{"exponent":"AQGB","modulus":"od9b...90Jp1Q=="},"version":"3000.1.1","enabled":true},
		{"id":"` + member + `","displayName":"ContosoSecondaryMemberGateway","publicKey":{"exponent":"AQCB","modulus":"o57c...90Jh1P=="},"version":"3000.1.1","enabled":false}]}`
	getGatewayBody = `{"id":"` + gw + `","type":"OnPremises","displayName":"ContosoOnPremisesGateway",
		"publicKey":{"exponent":"AQGB","modulus":"od9b...90Jp1Q=="},"version":"3000.1.1","numberOfMemberGateways":2,
		"loadBalancingSetting":"DistributeEvenly","allowCloudConnectionRefresh":true,"allowCustomConnectors":true}`
	listRolesBody = `{"value":[
		{"id":"1c15c348-dd88-4065-8f25-57581c216bcf","principal":{"id":"1c15c348-dd88-4065-8f25-57581c216bcf","type":"User"},"role":"Owner"},
		{"id":"48ba22da-4431-4da4-8b70-3401685bf9e5","principal":{"id":"48ba22da-4431-4da4-8b70-3401685bf9e5","type":"Group","displayName":"g"},"role":"User"}]}`
)

func TestOperations(t *testing.T) {
	f := false
	tests := map[string]struct {
		reply      step
		call       func(c *Client) (any, error)
		wantOp     string
		wantMethod string
		wantPath   string // escaped, under /v1
		wantBody   string // JSON, compared semantically; "" for none
		want       any
	}{
		"GetConnection": {
			reply:  ok(getConnectionBody),
			call:   func(c *Client) (any, error) { return c.GetConnection(context.Background(), conn) },
			wantOp: opGetConnection, wantMethod: "GET", wantPath: "/connections/" + conn,
			want: Connection{ID: conn, DisplayName: "ContosoConnection", GatewayID: "58376c10-5f61-4024-887e-748df4beae45",
				ConnectivityType: "OnPremisesGateway", ConnectionDetails: ConnectionDetails{Type: "SQL", Path: "contoso.database.windows.net;sales"},
				PrivacyLevel: "Organizational", CredentialDetails: CredentialDetails{CredentialType: "Basic", SingleSignOnType: "None", ConnectionEncryption: "NotEncrypted"}},
		},
		"GetGateway": {
			reply:  ok(getGatewayBody),
			call:   func(c *Client) (any, error) { return c.GetGateway(context.Background(), gw) },
			wantOp: opGetGateway, wantMethod: "GET", wantPath: "/gateways/" + gw,
			want: Gateway{ID: gw, DisplayName: "ContosoOnPremisesGateway", Type: "OnPremises", PublicKey: &PublicKey{Exponent: "AQGB", Modulus: "od9b...90Jp1Q=="}},
		},
		"GetGateway, virtual network": {
			reply:  ok(`{"id":"` + gw + `","type":"VirtualNetwork","displayName":"vnet","capacityId":"x","numberOfMemberGateways":1}`),
			call:   func(c *Client) (any, error) { return c.GetGateway(context.Background(), gw) },
			wantOp: opGetGateway, wantMethod: "GET", wantPath: "/gateways/" + gw,
			want: Gateway{ID: gw, DisplayName: "vnet", Type: "VirtualNetwork"},
		},
		"ListGatewayMembers": {
			reply:  ok(listMembersBody),
			call:   func(c *Client) (any, error) { return c.ListGatewayMembers(context.Background(), gw) },
			wantOp: opListGatewayMembers, wantMethod: "GET", wantPath: "/gateways/" + gw + "/members",
			want: []Member{
				{ID: gw, DisplayName: "ContosoPrimaryMemberGateway", Version: "3000.1.1", Enabled: true, PublicKey: PublicKey{Exponent: "AQGB", Modulus: "od9b...90Jp1Q=="}},
				{ID: member, DisplayName: "ContosoSecondaryMemberGateway", Version: "3000.1.1", PublicKey: PublicKey{Exponent: "AQCB", Modulus: "o57c...90Jh1P=="}},
			},
		},
		"ListConnectionRoleAssignments": {
			reply:  ok(listRolesBody),
			call:   func(c *Client) (any, error) { return c.ListConnectionRoleAssignments(context.Background(), conn) },
			wantOp: opListConnectionRoleAssignments, wantMethod: "GET", wantPath: "/connections/" + conn + "/roleAssignments",
			want: []RoleAssignment{
				{ID: "1c15c348-dd88-4065-8f25-57581c216bcf", Principal: Principal{ID: "1c15c348-dd88-4065-8f25-57581c216bcf", Type: "User"}, Role: "Owner"},
				{ID: "48ba22da-4431-4da4-8b70-3401685bf9e5", Principal: Principal{ID: "48ba22da-4431-4da4-8b70-3401685bf9e5", Type: "Group"}, Role: "User"},
			},
		},
		"AddConnectionRoleAssignment": {
			reply: step{status: http.StatusCreated, header: map[string]string{"Location": "https://{{host}}/v1/connections/" + conn + "/roleAssignments/" + user},
				body: `{"id":"` + user + `","principal":{"id":"` + user + `","type":"User"},"role":"Owner"}`},
			call: func(c *Client) (any, error) {
				return nil, c.AddConnectionRoleAssignment(context.Background(), conn, Principal{ID: user, Type: "User"}, "Owner")
			},
			wantOp: opAddConnectionRoleAssignment, wantMethod: "POST", wantPath: "/connections/" + conn + "/roleAssignments",
			wantBody: `{"principal":{"id":"` + user + `","type":"User"},"role":"Owner"}`,
		},
		"UpdateConnectionRoleAssignment": {
			reply: ok(`{"role":"UserWithReshare","principal":{"id":"` + assign + `","type":"User"},"id":"` + assign + `"}`),
			call: func(c *Client) (any, error) {
				return nil, c.UpdateConnectionRoleAssignment(context.Background(), conn, assign, "UserWithReshare")
			},
			wantOp: opUpdateConnectionRoleAssignment, wantMethod: "PATCH", wantPath: "/connections/" + conn + "/roleAssignments/" + assign,
			wantBody: `{"role":"UserWithReshare"}`,
		},
		"DeleteConnectionRoleAssignment": {
			reply: step{status: http.StatusOK},
			call: func(c *Client) (any, error) {
				return nil, c.DeleteConnectionRoleAssignment(context.Background(), conn, assign)
			},
			wantOp: opDeleteConnectionRoleAssignment, wantMethod: "DELETE", wantPath: "/connections/" + conn + "/roleAssignments/" + assign,
		},
		"UpdateConnectionCredentials, on-premises gateway": {
			reply: ok(getConnectionBody),
			call: func(c *Client) (any, error) {
				return nil, c.UpdateConnectionCredentials(context.Background(), conn, CredentialUpdate{
					ConnectivityType: "OnPremisesGateway", CredentialType: "Windows", SkipTestConnection: &f,
					Values: []EncryptedValue{
						{GatewayID: "4f8b5d6e-8e99-4817-8b9e-6b6a613be707", EncryptedCredentials: secret.FromString("AAAA==one")},
						{GatewayID: "c6961028-1309-4183-9799-a0b0fa28a235", EncryptedCredentials: secret.FromString("BBBB==two")},
					},
				})
			},
			wantOp: opUpdateConnection, wantMethod: "PATCH", wantPath: "/connections/" + conn,
			// The spec's example, without its displayName.
			wantBody: `{"connectivityType":"OnPremisesGateway","credentialDetails":{"skipTestConnection":false,"credentials":{"credentialType":"Windows",
				"values":[{"gatewayId":"4f8b5d6e-8e99-4817-8b9e-6b6a613be707","encryptedCredentials":"AAAA==one"},
				          {"gatewayId":"c6961028-1309-4183-9799-a0b0fa28a235","encryptedCredentials":"BBBB==two"}]}}}`,
		},
		"UpdateConnectionCredentials, personal gateway": {
			reply: ok(getConnectionBody),
			call: func(c *Client) (any, error) {
				return nil, c.UpdateConnectionCredentials(context.Background(), conn, CredentialUpdate{
					ConnectivityType: "OnPremisesGatewayPersonal", CredentialType: "WindowsWithoutImpersonation", Encrypted: secret.FromString("CCCC==")})
			},
			wantOp: opUpdateConnection, wantMethod: "PATCH", wantPath: "/connections/" + conn,
			wantBody: `{"connectivityType":"OnPremisesGatewayPersonal","credentialDetails":{"credentials":{"credentialType":"WindowsWithoutImpersonation","encryptedCredentials":"CCCC=="}}}`,
		},
		"UpdateConnectionCredentials, shareable cloud": {
			reply: ok(getConnectionBody),
			call: func(c *Client) (any, error) {
				return nil, c.UpdateConnectionCredentials(context.Background(), conn, CredentialUpdate{
					ConnectivityType: "ShareableCloud", CredentialType: "Basic",
					Typed: secret.FromString(`{"credentialType":"Basic","username":"svc","password":"p<&>\"w"}`)})
			},
			wantOp: opUpdateConnection, wantMethod: "PATCH", wantPath: "/connections/" + conn,
			wantBody: `{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"Basic","username":"svc","password":"p<&>\"w"}}}`,
		},
		"UpdateConnectionCredentials, virtual network, service principal": {
			reply: ok(getConnectionBody),
			call: func(c *Client) (any, error) {
				tr := true
				return nil, c.UpdateConnectionCredentials(context.Background(), conn, CredentialUpdate{
					ConnectivityType: "VirtualNetworkGateway", SkipTestConnection: &tr,
					Typed: secret.FromString(`{"credentialType":"ServicePrincipal","tenantId":"` + user + `","servicePrincipalClientId":"` + assign + `","servicePrincipalSecret":"s3cr3t"}`)})
			},
			wantOp: opUpdateConnection, wantMethod: "PATCH", wantPath: "/connections/" + conn,
			wantBody: `{"connectivityType":"VirtualNetworkGateway","credentialDetails":{"skipTestConnection":true,"credentials":{"credentialType":"ServicePrincipal",
				"tenantId":"` + user + `","servicePrincipalClientId":"` + assign + `","servicePrincipalSecret":"s3cr3t"}}}`,
		},
		"UpdateConnectionCredentials, workspace identity": {
			reply: ok(getConnectionBody),
			call: func(c *Client) (any, error) {
				return nil, c.UpdateConnectionCredentials(context.Background(), conn, CredentialUpdate{
					ConnectivityType: "ShareableCloud", CredentialType: "WorkspaceIdentity", Typed: secret.FromString(`{"credentialType":"WorkspaceIdentity"}`)})
			},
			wantOp: opUpdateConnection, wantMethod: "PATCH", wantPath: "/connections/" + conn,
			wantBody: `{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"WorkspaceIdentity"}}}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, []step{tc.reply}, nil)
			got, err := tc.call(h.client)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
			reqs := h.fake.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != tc.wantMethod || r.path != "/v1"+tc.wantPath {
				t.Errorf("request %s %s, want %s /v1%s", r.method, r.path, tc.wantMethod, tc.wantPath)
			}
			if r.auth != "Bearer token-1" {
				t.Errorf("Authorization %q", r.auth)
			}
			assertJSONEqual(t, r.body, tc.wantBody)
			if got, want := h.hook.Get(), []string{fmt.Sprintf("%s %d", tc.wantOp, tc.reply.status)}; !reflect.DeepEqual(got, want) {
				t.Errorf("OnResponse saw %q, want %q", got, want)
			}
		})
	}
}

// TestConnectionTypeConverts: the nested types of Connection have no tags,
// so a caller's struct{ Type, Path string } is one.
func TestConnectionTypeConverts(t *testing.T) {
	c := Connection{ConnectionDetails: struct{ Type, Path string }{"SQL", "s;d"},
		CredentialDetails: struct {
			CredentialType, SingleSignOnType, ConnectionEncryption string
			SkipTestConnection                                     bool
		}{CredentialType: "Basic"}}
	if c.ConnectionDetails.Path != "s;d" || c.CredentialDetails.CredentialType != "Basic" {
		t.Errorf("%+v", c)
	}
}

func TestSovereignAPIURLWithPathPrefix(t *testing.T) {
	h := newHarness(t, []step{ok(getConnectionBody)}, func(o *Options) {
		o.APIURL = strings.TrimSuffix(o.APIURL, "/v1") + "/sovereign/fabric/v1/"
	})
	if _, err := h.client.GetConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	if got, want := h.fake.requests()[0].path, "/sovereign/fabric/v1/connections/"+conn; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	cred := &testutil.Credential{Scope: DefaultScope}
	tests := map[string]struct {
		o    Options
		want string
	}{
		"no credential": {Options{}, "fabric: Options.Credential is required"},
		"http":          {Options{Credential: cred, APIURL: "http://api.fabric.microsoft.com/v1"}, `fabric: api url "http://api.fabric.microsoft.com/v1" is not an https URL without query`},
		"query":         {Options{Credential: cred, APIURL: "https://x/v1?a=b"}, `fabric: api url "https://x/v1?a=b" is not an https URL without query`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
	c, err := New(Options{Credential: cred})
	if err != nil || c.maxPollWait != DefaultMaxPollWait || c.core.URL("connections") != DefaultAPIURL+"/connections" {
		t.Errorf("defaults: %v, %+v", err, c)
	}
}

func TestInvalidArguments(t *testing.T) {
	h := newHarness(t, []step{ok(`{}`)}, nil)
	ctx := context.Background()
	pw := secret.FromString("Pa55-w0rd-do-not-leak")
	basic := func(s string) secret.Secret { return secret.FromString(s) }
	tests := map[string]struct {
		call func() error
		want string
	}{
		"connection id": {func() error { _, err := h.client.GetConnection(ctx, "not-a-uuid"); return err },
			`fabric: Connections_GetConnection: connectionId "not-a-uuid" is not a UUID: invalid argument (check connection_id in the inventory)`},
		"gateway id": {func() error { _, err := h.client.ListGatewayMembers(ctx, gw+"x"); return err },
			`fabric: Gateways_ListGatewayMembers: gatewayId "` + gw + `x" is not a UUID: invalid argument (the gateway id is the connection's, as Get Connection answers it)`},
		"get gateway": {func() error { _, err := h.client.GetGateway(ctx, ""); return err },
			`fabric: Gateways_GetGateway: gatewayId "" is not a UUID: invalid argument (the gateway id is the connection's, as Get Connection answers it)`},
		"test": {func() error { return h.client.TestConnection(ctx, "{"+conn+"}") },
			`fabric: Connections_TestConnection: connectionId "{` + conn + `}" is not a UUID: invalid argument (check connection_id in the inventory)`},
		"roles": {func() error { _, err := h.client.ListConnectionRoleAssignments(ctx, "x"); return err },
			`fabric: Connections_ListConnectionRoleAssignments: connectionId "x" is not a UUID: invalid argument (check connection_id in the inventory)`},
		"principal": {func() error {
			return h.client.AddConnectionRoleAssignment(ctx, conn, Principal{ID: "john@contoso.com", Type: "User"}, "User")
		},
			`fabric: Connections_AddConnectionRoleAssignment: principal.id "john@contoso.com" is not a UUID: invalid argument (check users' identifier in the inventory: an Entra object id)`},
		"principal type": {func() error { return h.client.AddConnectionRoleAssignment(ctx, conn, Principal{ID: user}, "User") },
			`fabric: Connections_AddConnectionRoleAssignment: principal.type "" is empty or not a name: invalid argument (` + hintBadRole + `)`},
		"role": {func() error { return h.client.UpdateConnectionRoleAssignment(ctx, conn, assign, "Read Write") },
			`fabric: Connections_UpdateConnectionRoleAssignment: role "Read Write" is empty or not a name: invalid argument (` + hintBadRole + `)`},
		"assignment id": {func() error { return h.client.DeleteConnectionRoleAssignment(ctx, conn, "me") },
			`fabric: Connections_DeleteConnectionRoleAssignment: connectionRoleAssignmentId "me" is not a UUID: invalid argument (the role assignment id is one List Connection Role Assignments answers)`},
		"nothing to send": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "ShareableCloud", CredentialType: "Basic"})
		}, `fabric: Connections_UpdateConnection: exactly one of Values, Encrypted and Typed must be set: invalid argument`},
		"two to send": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGatewayPersonal", CredentialType: "Basic",
				Encrypted: pw, Typed: basic(`{"credentialType":"Basic"}`)})
		}, `fabric: Connections_UpdateConnection: exactly one of Values, Encrypted and Typed must be set: invalid argument`},
		"typed for a gateway": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGateway", CredentialType: "Basic", Typed: pw})
		}, `fabric: Connections_UpdateConnection: an OnPremisesGateway connection takes Values, one per gateway member: invalid argument`},
		"values for a cloud connection": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "ShareableCloud", CredentialType: "Basic",
				Values: []EncryptedValue{{GatewayID: member, EncryptedCredentials: pw}}})
		}, `fabric: Connections_UpdateConnection: a ShareableCloud connection takes Typed credentials: invalid argument`},
		"encrypted for a gateway": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGateway", CredentialType: "Basic", Encrypted: pw})
		}, `fabric: Connections_UpdateConnection: an OnPremisesGateway connection takes Values, one per gateway member: invalid argument`},
		"no connectivity type": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{CredentialType: "Basic", Encrypted: pw})
		}, `fabric: Connections_UpdateConnection: connectivityType is empty or not a name: invalid argument (pass the connection's, as Get Connection answers it)`},
		"no credential type": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGatewayPersonal", Encrypted: pw})
		}, `fabric: Connections_UpdateConnection: credentialType is empty: invalid argument`},
		"member id": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGateway", CredentialType: "Basic",
				Values: []EncryptedValue{{GatewayID: "primary", EncryptedCredentials: pw}}})
		}, `fabric: Connections_UpdateConnection: values[0].gatewayId "primary" is not a UUID: invalid argument (pass the member ids List Gateway Members answers)`},
		"member twice": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGateway", CredentialType: "Basic",
				Values: []EncryptedValue{{GatewayID: member, EncryptedCredentials: pw}, {GatewayID: member, EncryptedCredentials: pw}}})
		}, `fabric: Connections_UpdateConnection: values[1].gatewayId ` + member + ` is there twice: invalid argument`},
		"member without credentials": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "OnPremisesGateway", CredentialType: "Basic",
				Values: []EncryptedValue{{GatewayID: member, EncryptedCredentials: pw}, {GatewayID: gw}}})
		}, `fabric: Connections_UpdateConnection: values[1].encryptedCredentials is empty: invalid argument`},
		"typed, not JSON": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "ShareableCloud", Typed: pw})
		}, `fabric: Connections_UpdateConnection: the typed credentials are not a JSON object: invalid argument`},
		"typed, a JSON string": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "ShareableCloud", Typed: basic(`"Pa55-w0rd-do-not-leak"`)})
		}, `fabric: Connections_UpdateConnection: the typed credentials are not a JSON object: invalid argument`},
		"typed, no credential type": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "ShareableCloud",
				Typed: basic(`{"username":"svc","password":"Pa55-w0rd-do-not-leak"}`)})
		}, `fabric: Connections_UpdateConnection: the typed credentials have no credentialType: invalid argument`},
		"typed, another credential type": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, conn, CredentialUpdate{ConnectivityType: "ShareableCloud", CredentialType: "Key",
				Typed: basic(`{"credentialType":"Basic","username":"svc","password":"Pa55-w0rd-do-not-leak"}`)})
		}, `fabric: Connections_UpdateConnection: the typed credentials' credentialType is not "Key": invalid argument`},
		"update, bad id": {func() error {
			return h.client.UpdateConnectionCredentials(ctx, "", CredentialUpdate{ConnectivityType: "ShareableCloud", Typed: pw})
		}, `fabric: Connections_UpdateConnection: connectionId "" is not a UUID: invalid argument (check connection_id in the inventory)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			fe := asError(t, err)
			if !errors.Is(err, ErrInvalidArgument) || fe.Retryable() {
				t.Fatalf("got %v, want a non-retryable invalid-argument *Error", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "do-not-leak") {
				t.Errorf("error leaks the secret: %s", err)
			}
		})
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid arguments", n)
	}
}

func TestDecodeFailure(t *testing.T) {
	h := newHarness(t, []step{ok(`<html>proxy login</html>`)}, nil)
	_, err := h.client.GetConnection(context.Background(), conn)
	fe := asError(t, err)
	if fe.Retryable() || fe.Hint != "unexpected response — is fabric.api_url the Fabric API?" || !strings.Contains(err.Error(), "decoding response") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "proxy login") {
		t.Errorf("error quotes the response body: %v", err)
	}
}
