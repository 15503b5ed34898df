package pbi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/testutil"
)

const (
	cloudGW = "7a1c0b2d-0000-4000-8000-00000000c10d"
	cloudDS = "9f3e2d1c-0000-4000-8000-00000000c10d"
)

// TestAgainstEmulator drives every operation of the real client against the
// Power BI emulator, encrypting with internal/cipher the way rotate will.
func TestAgainstEmulator(t *testing.T) {
	ctx := context.Background()
	cred := &testutil.Credential{Scope: DefaultScope}
	p := emulator.NewPowerBI(emulator.PowerBIOptions{Authorize: func(r *http.Request) error {
		if r.Header.Get("Authorization") == "Bearer token-1" {
			return errors.New("token expired") // the first token is stale: forces a re-acquire
		}
		return nil
	}})
	for _, err := range []error{
		p.AddGateway(gw, 1024),
		p.AddDatasource(gw, ds, "Basic"),
		p.AddCloudDatasource(cloudGW, cloudDS, "OAuth2"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	c, err := New(Options{APIURL: srv.URL + "/v1.0/myorg", Credential: cred, Transport: srv.Client(), RetryDelay: 1})
	if err != nil {
		t.Fatal(err)
	}

	g, err := c.GetGateway(ctx, gw)
	if err != nil {
		t.Fatal(err)
	}
	if n := cred.Calls(); n != 2 {
		t.Errorf("GetToken called %d times, want 2 (401 then a fresh token)", n)
	}
	pub, err := cipher.PublicKeyFromBase64(g.PublicKey.Exponent, g.PublicKey.Modulus)
	if err != nil {
		t.Fatal(err)
	}
	const password = "Pa55-w0rd!-emulated"
	plain, _ := json.Marshal(map[string]any{"credentialData": []map[string]string{{"name": "username", "value": "svc"}, {"name": "password", "value": password}}})
	encrypted, err := cipher.NewPool(1).Encrypt(ctx, pub, secret.New(plain))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	details := CredentialDetails{CredentialType: "Basic", Credentials: secret.FromString(encrypted), EncryptedConnection: "Encrypted",
		EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "Organizational", UseEndUserOAuth2Credentials: &f}
	if err := c.UpdateDatasource(ctx, gw, ds, details); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Credential(gw, ds); !reflect.DeepEqual(got.Fields, map[string]string{"username": "svc", "password": password}) {
		t.Errorf("emulator decrypted %v", got.Fields)
	}

	d, err := c.GetDatasource(ctx, gw, ds)
	if err != nil || d.ID != ds || d.GatewayID != gw || d.CredentialType != "Basic" {
		t.Errorf("GetDatasource: %+v, %v", d, err)
	}

	// Users: add, update, list, delete.
	for _, u := range []DatasourceUser{
		{DatasourceAccessRight: "Read", EmailAddress: "john@contoso.com"},
		{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App"},
		{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", EmailAddress: "john@contoso.com"},
	} {
		if err := c.AddDatasourceUser(ctx, gw, ds, u); err != nil {
			t.Fatal(err)
		}
	}
	users, err := c.GetDatasourceUsers(ctx, gw, ds)
	want := []DatasourceUser{
		{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", EmailAddress: "john@contoso.com", PrincipalType: "User"},
		{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App"},
	}
	if err != nil || !reflect.DeepEqual(users, want) {
		t.Errorf("GetDatasourceUsers: %+v, %v", users, err)
	}
	if err := c.DeleteDatasourceUser(ctx, gw, ds, "john@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if got := p.Users(gw, ds); len(got) != 1 || got[0].PrincipalType != "App" {
		t.Errorf("after delete: %+v", got)
	}

	// A rotated gateway key: the old ciphertext is refused with the hint.
	if err := p.RotateGatewayKey(gw); err != nil {
		t.Fatal(err)
	}
	err = c.UpdateDatasource(ctx, gw, ds, details)
	var pe *Error
	if !errors.As(err, &pe) || pe.StatusCode != 400 || pe.Code != emulator.CodeDecryptionFailed || pe.Hint != hintBadCredentials || pe.RequestID == "" || pe.Retryable() {
		t.Errorf("PATCH after key rotation: %#v", err)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), encrypted[:32]) {
		t.Errorf("error leaks the credential: %v", err)
	}

	// A cloud data source: no gateway key, credentials in clear with None.
	_, err = c.GetGateway(ctx, cloudGW)
	if !errors.As(err, &pe) || pe.StatusCode != 404 || !strings.Contains(pe.Hint, "encrypt: none") {
		t.Errorf("GetGateway of a cloud data source: %v", err)
	}
	cloud := CredentialDetails{CredentialType: "OAuth2", Credentials: secret.FromString(`{"credentialData":[{"name":"accessToken","value":"eyJ0.a.b"}]}`),
		EncryptedConnection: "Encrypted", EncryptionAlgorithm: "None", PrivacyLevel: "None"}
	if err := c.UpdateDatasource(ctx, cloudGW, cloudDS, cloud); err != nil {
		t.Fatal(err)
	}
	cloud.EncryptionAlgorithm = "RSA-OAEP"
	err = c.UpdateDatasource(ctx, cloudGW, cloudDS, cloud)
	if !errors.As(err, &pe) || pe.Code != emulator.CodeInvalidEncryptionAlgo || pe.Hint != hintBadAlgorithm {
		t.Errorf("RSA-OAEP on a cloud data source: %v", err)
	}

	// Throttling beyond the ceiling fails at once.
	p.Faults().Inject(emulator.OpGetDatasourceUsers, emulator.Fault{Status: 429, RetryAfter: "3392", Times: 1})
	_, err = c.GetDatasourceUsers(ctx, gw, ds)
	if !errors.As(err, &pe) || !pe.Throttled() || pe.RetryAfter.Seconds() != 3392 {
		t.Errorf("throttled: %v", err)
	}
}
