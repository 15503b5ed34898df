package pbi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

func TestOperations(t *testing.T) {
	f := false
	tests := map[string]struct {
		reply      string
		call       func(c *Client) (any, error)
		wantMethod string
		wantPath   string // escaped, under /v1.0/myorg
		wantBody   string // JSON, compared semantically; "" for none
		want       any
	}{
		"GetGateway": {
			reply:      `{"id":"` + gw + `","name":"gw1","type":"Resource","publicKey":{"exponent":"AQAB","modulus":"o6j2"},"gatewayStatus":"Live"}`,
			call:       func(c *Client) (any, error) { return c.GetGateway(context.Background(), gw) },
			wantMethod: "GET", wantPath: "/gateways/" + gw,
			want: Gateway{ID: gw, Name: "gw1", Type: "Resource", PublicKey: PublicKey{Exponent: "AQAB", Modulus: "o6j2"}},
		},
		"GetDatasource": {
			reply:      `{"id":"` + ds + `","gatewayId":"` + gw + `","datasourceType":"Sql","connectionDetails":"{\"server\":\"s\"}","credentialType":"Basic","datasourceName":"n"}`,
			call:       func(c *Client) (any, error) { return c.GetDatasource(context.Background(), gw, ds) },
			wantMethod: "GET", wantPath: "/gateways/" + gw + "/datasources/" + ds,
			want: GatewayDatasource{ID: ds, GatewayID: gw, DatasourceName: "n", DatasourceType: "Sql", ConnectionDetails: `{"server":"s"}`, CredentialType: "Basic"},
		},
		"UpdateDatasource": {
			call: func(c *Client) (any, error) {
				return nil, c.UpdateDatasource(context.Background(), gw, ds, CredentialDetails{
					CredentialType: "Basic", Credentials: secret.FromString("AB==CD"), EncryptedConnection: "Encrypted",
					EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "Organizational", UseEndUserOAuth2Credentials: &f,
				})
			},
			wantMethod: "PATCH", wantPath: "/gateways/" + gw + "/datasources/" + ds,
			wantBody: `{"credentialDetails":{"credentialType":"Basic","credentials":"AB==CD","encryptedConnection":"Encrypted",
				"encryptionAlgorithm":"RSA-OAEP","privacyLevel":"Organizational","useEndUserOAuth2Credentials":false}}`,
		},
		"UpdateDatasource without useEndUserOAuth2Credentials": {
			call: func(c *Client) (any, error) {
				return nil, c.UpdateDatasource(context.Background(), gw, ds, CredentialDetails{
					CredentialType: "OAuth2", Credentials: secret.FromString(`{"credentialData":[{"name":"accessToken","value":"ey"}]}`),
					EncryptedConnection: "Encrypted", EncryptionAlgorithm: "None", PrivacyLevel: "None",
				})
			},
			wantMethod: "PATCH", wantPath: "/gateways/" + gw + "/datasources/" + ds,
			wantBody: `{"credentialDetails":{"credentialType":"OAuth2","credentials":"{\"credentialData\":[{\"name\":\"accessToken\",\"value\":\"ey\"}]}",
				"encryptedConnection":"Encrypted","encryptionAlgorithm":"None","privacyLevel":"None"}}`,
		},
		"GetDatasourceUsers": {
			reply:      `{"odata.context":"x","value":[{"datasourceAccessRight":"Read","emailAddress":"john@contoso.com","displayName":"John","identifier":"john@contoso.com","principalType":"User"},{"datasourceAccessRight":"ReadOverrideEffectiveIdentity","identifier":"3d9b93c6-7b6d-4801-a491-1738910904fd","principalType":"App"}]}`,
			call:       func(c *Client) (any, error) { return c.GetDatasourceUsers(context.Background(), gw, ds) },
			wantMethod: "GET", wantPath: "/gateways/" + gw + "/datasources/" + ds + "/users",
			want: []DatasourceUser{
				{DatasourceAccessRight: "Read", EmailAddress: "john@contoso.com", DisplayName: "John", Identifier: "john@contoso.com", PrincipalType: "User"},
				{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App"},
			},
		},
		"AddDatasourceUser": {
			call: func(c *Client) (any, error) {
				return nil, c.AddDatasourceUser(context.Background(), gw, ds, DatasourceUser{DatasourceAccessRight: "Read", EmailAddress: "john@contoso.com"})
			},
			wantMethod: "POST", wantPath: "/gateways/" + gw + "/datasources/" + ds + "/users",
			wantBody: `{"datasourceAccessRight":"Read","emailAddress":"john@contoso.com"}`,
		},
		"DeleteDatasourceUser by email": {
			call: func(c *Client) (any, error) {
				return nil, c.DeleteDatasourceUser(context.Background(), gw, ds, "john@contoso.com")
			},
			wantMethod: "DELETE", wantPath: "/gateways/" + gw + "/datasources/" + ds + "/users/john@contoso.com",
		},
		"DeleteDatasourceUser escapes the path parameter": {
			call: func(c *Client) (any, error) {
				return nil, c.DeleteDatasourceUser(context.Background(), gw, ds, "o'brien/x?y#z@contoso.com")
			},
			wantMethod: "DELETE", wantPath: "/gateways/" + gw + "/datasources/" + ds + "/users/o%27brien%2Fx%3Fy%23z@contoso.com",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reply := tc.reply
			h := newHarness(t, []step{{status: http.StatusOK, body: reply}}, nil)
			got, err := tc.call(h.client)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
			reqs := h.fake.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != tc.wantMethod || r.path != "/v1.0/myorg"+tc.wantPath {
				t.Errorf("request %s %s, want %s /v1.0/myorg%s", r.method, r.path, tc.wantMethod, tc.wantPath)
			}
			if r.auth != "Bearer token-1" {
				t.Errorf("Authorization %q", r.auth)
			}
			assertJSONEqual(t, r.body, tc.wantBody)
		})
	}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	if want == "" {
		if got != "" {
			t.Errorf("body %q, want none", got)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body %s\nwant %s", got, want)
	}
}

func TestSovereignAPIURLWithPathPrefix(t *testing.T) {
	h := newHarness(t, []step{ok(`{"id":"` + gw + `"}`)}, func(o *Options) {
		o.APIURL = strings.TrimSuffix(o.APIURL, "/v1.0/myorg") + "/sovereign/pbi/v1.0/myorg/"
	})
	if _, err := h.client.GetGateway(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	if got, want := h.fake.requests()[0].path, "/sovereign/pbi/v1.0/myorg/gateways/"+gw; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	cred := &testutil.Credential{Scope: DefaultScope}
	tests := map[string]struct {
		o    Options
		want string
	}{
		"no credential": {Options{}, "pbi: Options.Credential is required"},
		"http":          {Options{Credential: cred, APIURL: "http://api.powerbi.com/v1.0/myorg"}, `pbi: api url "http://api.powerbi.com/v1.0/myorg" is not an https URL without query`},
		"no host":       {Options{Credential: cred, APIURL: "https:///v1.0"}, `pbi: api url "https:///v1.0" is not an https URL without query`},
		"query":         {Options{Credential: cred, APIURL: "https://x/v1.0?a=b"}, `pbi: api url "https://x/v1.0?a=b" is not an https URL without query`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestInvalidPathParameters(t *testing.T) {
	h := newHarness(t, []step{ok(`{}`)}, nil)
	ctx := context.Background()
	tests := map[string]struct {
		call func() error
		want string
	}{
		"gateway id": {func() error { _, err := h.client.GetGateway(ctx, "not-a-uuid"); return err },
			`pbi: Gateways_GetGateway: gatewayId "not-a-uuid" is not a UUID: invalid argument (check gateway_id in the inventory)`},
		"datasource id": {func() error { _, err := h.client.GetDatasource(ctx, gw, ds+"x"); return err },
			`pbi: Gateways_GetDatasource: datasourceId "` + ds + `x" is not a UUID: invalid argument (check datasource_id in the inventory)`},
		"patch": {func() error {
			return h.client.UpdateDatasource(ctx, "", ds, CredentialDetails{Credentials: secret.FromString("x")})
		}, `pbi: Gateways_UpdateDatasource: gatewayId "" is not a UUID: invalid argument (check gateway_id in the inventory)`},
		"empty credentials": {func() error { return h.client.UpdateDatasource(ctx, gw, ds, CredentialDetails{}) },
			`pbi: Gateways_UpdateDatasource: credentialDetails.credentials is empty: invalid argument`},
		"user without id": {func() error {
			return h.client.AddDatasourceUser(ctx, gw, ds, DatasourceUser{DatasourceAccessRight: "Read"})
		}, `pbi: Gateways_AddDatasourceUser: user has neither emailAddress nor identifier: invalid argument`},
		"delete without id": {func() error { return h.client.DeleteDatasourceUser(ctx, gw, ds, "") },
			`pbi: Gateways_DeleteDatasourceUser: path parameter emailAdress (sic: the swagger's name) is empty: invalid argument (pass the user's email address or object ID)`},
		"users, bad gateway": {func() error { _, err := h.client.GetDatasourceUsers(ctx, "{"+gw+"}", ds); return err },
			`pbi: Gateways_GetDatasourceUsers: gatewayId "{` + gw + `}" is not a UUID: invalid argument (check gateway_id in the inventory)`},
		"datasources, bad gateway": {func() error { _, err := h.client.GetDatasources(ctx, gw[1:]); return err },
			`pbi: Gateways_GetDatasources: gatewayId "` + gw[1:] + `" is not a UUID: invalid argument (check gateway_id in the inventory)`},
		"datasets, bad workspace": {func() error { _, err := h.client.GetDatasetsInGroup(ctx, "me"); return err },
			`pbi: Datasets_GetDatasetsInGroup: groupId "me" is not a UUID: invalid argument (check --workspace: the workspace id, as in app.powerbi.com/groups/ID/...)`},
		"datasources in group, bad workspace": {func() error { _, err := h.client.GetDatasourcesInGroup(ctx, "", ds); return err },
			`pbi: Datasets_GetDatasourcesInGroup: groupId "" is not a UUID: invalid argument (check --workspace: the workspace id, as in app.powerbi.com/groups/ID/...)`},
		"datasources in group, bad dataset": {func() error { _, err := h.client.GetDatasourcesInGroup(ctx, gw, "Sales"); return err },
			`pbi: Datasets_GetDatasourcesInGroup: datasetId "Sales" is not a UUID: invalid argument (check the dataset id, as Get Datasets In Group lists it (app.powerbi.com/groups/.../datasets/ID/...))`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidArgument) || pe.Retryable() {
				t.Fatalf("got %v, want a non-retryable invalid-argument *Error", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid arguments", n)
	}
}

func TestDecodeFailure(t *testing.T) {
	h := newHarness(t, []step{ok(`<html>proxy login</html>`)}, nil)
	_, err := h.client.GetGateway(context.Background(), gw)
	var pe *Error
	if !errors.As(err, &pe) || pe.Retryable() || !strings.Contains(err.Error(), "decoding response") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "proxy login") {
		t.Errorf("error quotes the response body: %v", err)
	}
}

func TestContextCancelledDuringLongRetryAfter(t *testing.T) {
	h := newHarness(t, []step{{status: 429, header: map[string]string{"Retry-After": "120"}}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	h.client.sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the daemon shuts down while we wait
		return azrest.Sleep(ctx, clock.Real(), d)
	}
	start := time.Now()
	_, err := h.client.GetGateway(ctx, gw)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Retryable() {
		t.Errorf("cancellation should not be retryable: %#v", pe)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("waited %s after cancellation", time.Since(start))
	}
}

// TestLongRetryAfterWaitsOnTheClock: the wait for a Retry-After beyond
// MaxRetryDelay is timed by Options.Clock, like everything else in a tick.
func TestLongRetryAfterWaitsOnTheClock(t *testing.T) {
	fake := clocktest.NewFake(time.Now())
	h := newHarness(t, []step{{status: 429, header: map[string]string{"Retry-After": "120"}}, ok(`{"id":"` + gw + `"}`)},
		func(o *Options) { o.Clock = fake })
	done := make(chan error, 1)
	go func() {
		_, err := h.client.GetGateway(context.Background(), gw)
		done <- err
	}()
	fake.BlockUntil(1) // the client waits on the fake clock
	select {
	case err := <-done:
		t.Fatalf("GetGateway returned before the clock moved: %v", err)
	default:
	}
	fake.Advance(120 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("GetGateway after the wait: %v", err)
	}
}
