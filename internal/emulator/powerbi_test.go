package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/secret"
)

const (
	pbiGW    = "1f69e798-5852-4fdd-ab01-33bb14b6e934"
	pbiDS    = "252b9de8-d915-4788-aaeb-ec8c2395f970"
	cloudGW  = "7a1c0b2d-0000-4000-8000-00000000c10d"
	cloudDS  = "9f3e2d1c-0000-4000-8000-00000000c10d"
	pbiBasic = `{"credentialData":[{"name":"username","value":"svc"},{"name":"password","value":"Pa55-w0rd!"}]}`
)

// pbiFixture is an emulator with a 1024-bit gateway holding a Basic data
// source, plus a cloud OAuth2 data source, served over HTTPS.
type pbiFixture struct {
	t      *testing.T
	pbi    *PowerBI
	base   string
	client *http.Client
	now    time.Time
}

func newPBIFixture(t *testing.T, o PowerBIOptions) *pbiFixture {
	t.Helper()
	f := &pbiFixture{t: t, now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	o.Now = func() time.Time { return f.now }
	f.pbi = NewPowerBI(o)
	must(t, f.pbi.AddGateway(pbiGW, 1024))
	must(t, f.pbi.AddDatasource(pbiGW, pbiDS, "Basic"))
	must(t, f.pbi.AddCloudDatasource(cloudGW, cloudDS, "OAuth2"))
	url, client := serveForTest(t, f.pbi)
	f.base, f.client = url+"/v1.0/myorg", client
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// do sends a request with a bearer token and returns status, headers and body.
// read sends a GET (or method) with no body and checks the status, the
// RequestId header and, for an error (wantCode set), Power BI's code; ok
// says the answer is a success to look into.
func (f *pbiFixture) read(t *testing.T, method, path string, wantStatus int, wantCode string) (body []byte, ok bool) {
	t.Helper()
	status, hdr, body := f.do(method, path, "")
	if status != wantStatus {
		t.Fatalf("status %d, want %d: %s", status, wantStatus, body)
	}
	if hdr.Get("RequestId") == "" {
		t.Error("no RequestId header")
	}
	if wantCode != "" {
		if code, _ := pbiErr(t, body); code != wantCode {
			t.Errorf("code %s, want %s", code, wantCode)
		}
		return body, false
	}
	return body, true
}

// fixtureAgent is the User-Agent of the fixture's requests.
const fixtureAgent = "emulator-test"

func (f *pbiFixture) do(method, path, body string) (int, http.Header, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	must(f.t, err)
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("User-Agent", fixtureAgent)
	resp, err := f.client.Do(req)
	must(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(f.t, err)
	return resp.StatusCode, resp.Header, b
}

// encrypt encrypts plaintext for the gateway's current public key, fetched
// over the API like rotatord does.
func (f *pbiFixture) encrypt(plaintext string) string {
	f.t.Helper()
	status, _, body := f.do("GET", "/gateways/"+pbiGW, "")
	if status != 200 {
		f.t.Fatalf("GetGateway: %d %s", status, body)
	}
	pub, err := cipher.ParsePublicKey(body)
	must(f.t, err)
	s, err := cipher.NewPool(1).Encrypt(f.t.Context(), pub, secret.FromString(plaintext))
	must(f.t, err)
	return s
}

func patchBody(credType, creds, algo string, extra string) string {
	c, _ := json.Marshal(creds)
	return `{"credentialDetails":{"credentialType":"` + credType + `","credentials":` + string(c) +
		`,"encryptedConnection":"Encrypted","encryptionAlgorithm":"` + algo + `","privacyLevel":"Organizational"` + extra + `}}`
}

// pbiErr decodes a Power BI error body and checks its shape.
func pbiErr(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			PBI     struct {
				Code             string            `json:"code"`
				Parameters       map[string]string `json:"parameters"`
				Details          []any             `json:"details"`
				ExceptionCulprit int               `json:"exceptionCulprit"`
			} `json:"pbi.error"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if e.Error.Code == "" || e.Error.PBI.Code != e.Error.Code || e.Error.PBI.Parameters == nil || e.Error.PBI.Details == nil || e.Error.PBI.ExceptionCulprit != 1 {
		t.Errorf("error body not in Power BI's shape: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

func TestPowerBIUpdateDatasourceAccepts(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	tests := map[string]struct {
		gw, ds, body string
		want         Received
	}{
		"basic, encrypted for the gateway": {pbiGW, pbiDS, patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", `,"useEndUserOAuth2Credentials":false`),
			Received{CredentialType: "Basic", EncryptedConnection: "Encrypted", EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "Organizational",
				Fields: map[string]string{"username": "svc", "password": "Pa55-w0rd!"}}},
		"basic with the docs' spacing and an unknown top-level key": {pbiGW, pbiDS,
			patchBody("Basic", f.encrypt(`{"Type":"Basic", "credentialData":[{"name":"username", "value":"DOM\\svc"},{"name":"password", "value":"p"}]}`), "RSA-OAEP", ""),
			Received{CredentialType: "Basic", EncryptedConnection: "Encrypted", EncryptionAlgorithm: "RSA-OAEP", PrivacyLevel: "Organizational",
				Fields: map[string]string{"username": `DOM\svc`, "password": "p"}}},
		"cloud OAuth2 in clear": {cloudGW, cloudDS, patchBody("OAuth2", `{"credentialData":[{"name":"accessToken","value":"eyJ0.x.y"}]}`, "None", ""),
			Received{CredentialType: "OAuth2", EncryptedConnection: "Encrypted", EncryptionAlgorithm: "None", PrivacyLevel: "Organizational",
				Fields: map[string]string{"accessToken": "eyJ0.x.y"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f.now = f.now.Add(time.Minute)
			status, _, body := f.do("PATCH", "/gateways/"+tc.gw+"/datasources/"+tc.ds, tc.body)
			if status != 200 || len(body) != 0 {
				t.Fatalf("got %d %s", status, body)
			}
			got, ok := f.pbi.Credential(tc.gw, tc.ds)
			tc.want.At, tc.want.Start, tc.want.Agent = f.now, f.now, fixtureAgent // who sent it, and when it came
			if !ok || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("stored %+v\nwant   %+v", got, tc.want)
			}
		})
	}
	if n := len(f.pbi.History(pbiGW, pbiDS)); n != 2 {
		t.Errorf("history has %d entries, want 2", n)
	}
}

func TestPowerBIUpdateDatasourceRejects(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	good := f.encrypt(pbiBasic)
	onPrem := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	cloud := "/gateways/" + cloudGW + "/datasources/" + cloudDS
	// A first credential, which every rejected PATCH must leave in place.
	if status, _, body := f.do("PATCH", onPrem, patchBody("Basic", good, "RSA-OAEP", "")); status != 200 {
		t.Fatalf("setup: %d %s", status, body)
	}
	before := f.pbi.History(pbiGW, pbiDS)
	tests := map[string]struct {
		path, body  string
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		"not JSON":              {onPrem, `{"credentialDetails":`, 400, CodeInvalidRequest, "request body is not valid JSON"},
		"empty body":            {onPrem, ``, 400, CodeInvalidRequest, "request body is not valid JSON"},
		"no credentialDetails":  {onPrem, `{}`, 400, CodeInvalidRequest, "credentialDetails: required property missing"},
		"unknown top property":  {onPrem, strings.TrimSuffix(patchBody("Basic", good, "RSA-OAEP", ""), "}") + `,"force":true}`, 400, CodeInvalidRequest, "force: unknown property"},
		"missing privacyLevel":  {onPrem, `{"credentialDetails":{"credentialType":"Basic","credentials":"x","encryptedConnection":"Encrypted","encryptionAlgorithm":"RSA-OAEP"}}`, 400, CodeInvalidRequest, "credentialDetails.privacyLevel: required property missing"},
		"privacyLevel not enum": {onPrem, strings.Replace(patchBody("Basic", good, "RSA-OAEP", ""), "Organizational", "Secret", 1), 400, CodeInvalidRequest, `credentialDetails.privacyLevel: "Secret" is not one of None, Public, Organizational, Private`},
		"unknown property":      {onPrem, patchBody("Basic", good, "RSA-OAEP", `,"useCallerAADIdentityy":false`), 400, CodeInvalidRequest, "credentialDetails.useCallerAADIdentityy: unknown property"},
		"credentials a number":  {onPrem, `{"credentialDetails":{"credentialType":"Basic","credentials":42,"encryptedConnection":"Encrypted","encryptionAlgorithm":"RSA-OAEP","privacyLevel":"None"}}`, 400, CodeInvalidRequest, "credentialDetails.credentials: expected a string"},
		"bool as a string":      {onPrem, patchBody("Basic", good, "RSA-OAEP", `,"useEndUserOAuth2Credentials":"False"`), 400, CodeInvalidRequest, "credentialDetails.useEndUserOAuth2Credentials: expected true or false"},
		"wrong credential type": {onPrem, patchBody("Windows", good, "RSA-OAEP", ""), 400, CodeCredentialTypeMismatch, `credentialDetails.credentialType: "Windows" does not match the data source's "Basic"`},
		"None on premises":      {onPrem, patchBody("Basic", pbiBasic, "None", ""), 400, CodeInvalidEncryptionAlgo, "on-premises data sources take credentials encrypted with the gateway key (RSA-OAEP)"},
		"RSA-OAEP in the cloud": {cloud, patchBody("OAuth2", good, "RSA-OAEP", ""), 400, CodeInvalidEncryptionAlgo, "cloud data sources take encryptionAlgorithm None"},
		"undecryptable":         {onPrem, patchBody("Basic", good[:len(good)-8]+"AAAAAAA=", "RSA-OAEP", ""), 400, CodeDecryptionFailed, ""},
		"missing password":      {onPrem, patchBody("Basic", f.encrypt(`{"credentialData":[{"name":"username","value":"svc"}]}`), "RSA-OAEP", ""), 400, CodeInvalidCredentials, "credentials: Basic credentials need username, password (got username)"},
		"extra field":           {onPrem, patchBody("Basic", f.encrypt(`{"credentialData":[{"name":"username","value":"u"},{"name":"password","value":"p"},{"name":"domain","value":"d"}]}`), "RSA-OAEP", ""), 400, CodeInvalidCredentials, `credentials: Basic credentials take username, password, not "domain"`},
		"empty password":        {onPrem, patchBody("Basic", f.encrypt(`{"credentialData":[{"name":"username","value":"u"},{"name":"password","value":""}]}`), "RSA-OAEP", ""), 400, CodeInvalidCredentials, "credentials: password is empty"},
		"plaintext not JSON":    {cloud, patchBody("OAuth2", "eyJ0.x.y", "None", ""), 400, CodeInvalidCredentials, "credentials are not a credentials JSON document"},
		"unknown data source":   {"/gateways/" + pbiGW + "/datasources/" + cloudDS, patchBody("Basic", good, "RSA-OAEP", ""), 404, CodeEntityNotFound, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, hdr, body := f.do("PATCH", tc.path, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			code, msg := pbiErr(t, body)
			if code != tc.wantCode || tc.wantMessage != "" && msg != tc.wantMessage {
				t.Errorf("got %s %q\nwant %s %q", code, msg, tc.wantCode, tc.wantMessage)
			}
			if hdr.Get("RequestId") == "" {
				t.Error("no RequestId header")
			}
			for _, secret := range []string{"Pa55-w0rd!", "eyJ0.x.y", good[:40]} {
				if bytes.Contains(body, []byte(secret)) {
					t.Errorf("error body echoes a credential: %s", body)
				}
			}
		})
	}
	if after := f.pbi.History(pbiGW, pbiDS); !reflect.DeepEqual(after, before) {
		t.Errorf("rejected PATCHes changed the stored credential: %+v", after)
	}
}

func TestPowerBIAnonymousAndHybridKeys(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	const gw2, ds2, ds3 = "3d9b93c6-7b6d-4801-a491-1738910904fd", "11111111-2222-4333-8444-555555555555", "11111111-2222-4333-8444-666666666666"
	must(t, f.pbi.AddGateway(gw2, 2048))
	must(t, f.pbi.AddDatasource(gw2, ds2, "Anonymous"))
	must(t, f.pbi.AddDatasource(gw2, ds3, "Key"))
	_, _, gwBody := f.do("GET", "/gateways/"+gw2, "")
	pub, err := cipher.ParsePublicKey(gwBody)
	must(t, err)
	if pub.Size() != 256 {
		t.Fatalf("key size %d", pub.Size())
	}
	for ds, plain := range map[string]string{ds2: `{"credentialData":""}`, ds3: `{"credentialData":[{"name":"key","value":"k3y"}]}`} {
		creds, err := cipher.NewPool(1).Encrypt(t.Context(), pub, secret.FromString(plain))
		must(t, err)
		typ := "Anonymous"
		if ds == ds3 {
			typ = "Key"
		}
		if status, _, body := f.do("PATCH", "/gateways/"+gw2+"/datasources/"+ds, patchBody(typ, creds, "RSA-OAEP", "")); status != 200 {
			t.Fatalf("%s: %d %s", typ, status, body)
		}
	}
	if got, _ := f.pbi.Credential(gw2, ds2); len(got.Fields) != 0 || got.CredentialType != "Anonymous" {
		t.Errorf("anonymous stored as %+v", got)
	}
	if got, _ := f.pbi.Credential(gw2, ds3); got.Fields["key"] != "k3y" {
		t.Errorf("key stored as %+v", got)
	}
}

func TestPowerBIRotateGatewayKey(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	path := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	old := f.encrypt(pbiBasic)
	_, _, before := f.do("GET", "/gateways/"+pbiGW, "")
	must(t, f.pbi.RotateGatewayKey(pbiGW))
	_, _, after := f.do("GET", "/gateways/"+pbiGW, "")
	if bytes.Equal(before, after) {
		t.Fatal("GetGateway shows the same key after rotation")
	}
	status, _, body := f.do("PATCH", path, patchBody("Basic", old, "RSA-OAEP", ""))
	if code, _ := pbiErr(t, body); status != 400 || code != CodeDecryptionFailed {
		t.Fatalf("old ciphertext: %d %s", status, body)
	}
	if status, _, body := f.do("PATCH", path, patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", "")); status != 200 {
		t.Fatalf("new ciphertext: %d %s", status, body)
	}
	if err := f.pbi.RotateGatewayKey(cloudGW); err == nil {
		t.Error("rotating a cloud gateway id should fail")
	}
}

func TestPowerBIReads(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	tests := map[string]struct {
		method, path string
		wantStatus   int
		wantCode     string // for errors
		wantKeys     []string
	}{
		"GetGateway":                  {"GET", "/gateways/" + pbiGW, 200, "", []string{"id", "name", "type", "publicKey", "gatewayStatus"}},
		"GetGateway, upper case id":   {"GET", "/gateways/" + strings.ToUpper(pbiGW), 200, "", []string{"id", "publicKey"}},
		"GetGateway of a cloud id":    {"GET", "/gateways/" + cloudGW, 404, CodeEntityNotFound, nil},
		"GetGateways":                 {"GET", "/gateways", 200, "", []string{"value"}},
		"GetDatasources":              {"GET", "/gateways/" + pbiGW + "/datasources", 200, "", []string{"value"}},
		"GetDatasource":               {"GET", "/gateways/" + pbiGW + "/datasources/" + pbiDS, 200, "", []string{"id", "gatewayId", "credentialType", "connectionDetails", "datasourceType"}},
		"GetDatasource cloud":         {"GET", "/gateways/" + cloudGW + "/datasources/" + cloudDS, 200, "", []string{"id", "gatewayId", "credentialType"}},
		"GetDatasource unknown":       {"GET", "/gateways/" + pbiGW + "/datasources/" + cloudDS, 404, CodeEntityNotFound, nil},
		"gateway id not a UUID":       {"GET", "/gateways/gw-1/datasources/" + pbiDS, 400, CodeInvalidRequest, nil},
		"unknown route":               {"GET", "/groups", 404, "PowerBIEntityNotFound", nil},
		"method not allowed":          {"PUT", "/gateways/" + pbiGW + "/datasources/" + pbiDS, 405, "MethodNotAllowed", nil},
		"users of unknown datasource": {"GET", "/gateways/" + pbiGW + "/datasources/" + cloudDS + "/users", 404, CodeEntityNotFound, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body, ok := f.read(t, tc.method, tc.path, tc.wantStatus, tc.wantCode)
			if !ok {
				return
			}
			var m map[string]any
			must(t, json.Unmarshal(body, &m))
			for _, k := range tc.wantKeys {
				if _, ok := m[k]; !ok {
					t.Errorf("response lacks %q: %s", k, body)
				}
			}
		})
	}
}

func TestPowerBIUsers(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	users := "/gateways/" + pbiGW + "/datasources/" + pbiDS + "/users"
	steps := []struct {
		method, path, body string
		wantStatus         int
		wantMessage        string // for 400s
		wantUsers          []User
	}{
		{"GET", users, "", 200, "", nil},
		{"POST", users, `{"emailAddress":"john@contoso.com","datasourceAccessRight":"Read"}`, 200, "",
			[]User{{DatasourceAccessRight: "Read", EmailAddress: "john@contoso.com", PrincipalType: "User"}}},
		{"POST", users, `{"emailAddress":"JOHN@contoso.com","datasourceAccessRight":"ReadOverrideEffectiveIdentity","displayName":"John"}`, 200, "",
			[]User{{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", EmailAddress: "JOHN@contoso.com", DisplayName: "John", PrincipalType: "User"}}},
		{"POST", users, `{"identifier":"3d9b93c6-7b6d-4801-a491-1738910904fd","datasourceAccessRight":"Read","principalType":"App"}`, 200, "",
			[]User{{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", EmailAddress: "JOHN@contoso.com", DisplayName: "John", PrincipalType: "User"},
				{DatasourceAccessRight: "Read", Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App"}}},
		{"POST", users, `{"emailAddress":"a@contoso.com","datasourceAccessRight":"Write"}`, 400, `datasourceAccessRight: "Write" is not one of None, Read, ReadOverrideEffectiveIdentity`, nil},
		{"POST", users, `{"emailAddress":"a@contoso.com"}`, 400, "datasourceAccessRight: required property missing", nil},
		{"POST", users, `{"email":"a@contoso.com","datasourceAccessRight":"Read"}`, 400, "email: unknown property", nil},
		{"POST", users, `{"datasourceAccessRight":"Read"}`, 400, "emailAddress or identifier: one is required", nil},
		{"POST", users, `{"emailAddress":"a@contoso.com","datasourceAccessRight":"Read","principalType":"Robot"}`, 400, `principalType: "Robot" is not one of None, User, Group, App`, nil},
		{"POST", users, `{"identifier":"x","datasourceAccessRight":"Read","profile":{"id":"nope"}}`, 400, `profile.id: "nope" is not a UUID`, nil},
		{"DELETE", users + "/john@contoso.com", "", 200, "",
			[]User{{DatasourceAccessRight: "Read", Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App"}}},
		{"DELETE", users + "/john@contoso.com", "", 404, "", nil},
		{"DELETE", users + "/3d9b93c6-7b6d-4801-a491-1738910904fd", "", 200, "", nil},
	}
	for i, s := range steps {
		status, _, body := f.do(s.method, s.path, s.body)
		if status != s.wantStatus {
			t.Fatalf("step %d %s %s: %d %s", i, s.method, s.path, status, body)
		}
		if status == 400 {
			if _, msg := pbiErr(t, body); msg != s.wantMessage {
				t.Errorf("step %d: message %q, want %q", i, msg, s.wantMessage)
			}
			continue
		}
		if status != 200 {
			continue
		}
		if got := f.pbi.Users(pbiGW, pbiDS); !reflect.DeepEqual(got, s.wantUsers) {
			t.Errorf("step %d: users %+v, want %+v", i, got, s.wantUsers)
		}
		if s.method == "GET" {
			var list struct{ Value []User }
			must(t, json.Unmarshal(body, &list))
			if list.Value == nil || !reflect.DeepEqual(list.Value, append([]User{}, s.wantUsers...)) {
				t.Errorf("step %d: GET lists %s", i, body)
			}
		}
	}
	seed := []User{{DatasourceAccessRight: "Read", EmailAddress: "old@contoso.com", PrincipalType: "User"}}
	f.pbi.SetUsers(pbiGW, pbiDS, seed)
	_, _, body := f.do("GET", users, "")
	if !strings.Contains(string(body), "old@contoso.com") {
		t.Errorf("SetUsers not served: %s", body)
	}
}

func TestPowerBIAuthorization(t *testing.T) {
	errBad := errors.New("token signature is invalid")
	deny := false
	f := newPBIFixture(t, PowerBIOptions{Authorize: func(r *http.Request) error {
		switch {
		case r.Header.Get("Authorization") != "Bearer x":
			return errBad
		case deny:
			return ErrDenied
		}
		return nil
	}})
	if status, _, _ := f.do("GET", "/gateways/"+pbiGW, ""); status != 200 {
		t.Fatalf("authorized request: %d", status)
	}
	deny = true
	status, _, body := f.do("GET", "/gateways/"+pbiGW, "")
	if code, _ := pbiErr(t, body); status != 403 || code != CodeNotAuthorized {
		t.Errorf("denied: %d %s", status, body)
	}
	req, _ := http.NewRequest("GET", f.base+"/gateways/"+pbiGW, nil)
	resp, err := f.client.Do(req)
	must(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if code, _ := pbiErr(t, body); resp.StatusCode != 401 || code != CodeInvalidAuthenticationToken || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// With no Authorize, any bearer token goes and none does not.
	g := newPBIFixture(t, PowerBIOptions{})
	resp, err = g.client.Get(g.base + "/gateways/" + pbiGW)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("default authorizer let a request without token through: %d", resp.StatusCode)
	}
}

func TestPowerBIFaultsAndRequests(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetGateway, Fault{Status: 429, RetryAfter: "3392", Times: 1})
	f.pbi.Faults().Inject(OpGetGateway, Fault{Status: 503, Code: "ServiceUnavailable", Times: 1})
	f.pbi.Faults().Inject(OpGetDatasource, Fault{Drop: true}) // until cleared: the transport may re-send a GET

	status, hdr, body := f.do("GET", "/gateways/"+pbiGW, "")
	if status != 429 || hdr.Get("Retry-After") != "3392" || !strings.Contains(string(body), `"message"`) {
		t.Errorf("429 fault: %d %v %s", status, hdr, body)
	}
	status, _, body = f.do("GET", "/gateways/"+pbiGW, "")
	if code, _ := pbiErr(t, body); status != 503 || code != "ServiceUnavailable" {
		t.Errorf("503 fault: %d %s", status, body)
	}
	if status, _, _ = f.do("GET", "/gateways/"+pbiGW, ""); status != 200 {
		t.Errorf("after faults: %d", status)
	}
	req, _ := http.NewRequest("GET", f.base+"/gateways/"+pbiGW+"/datasources/"+pbiDS, nil)
	req.Header.Set("Authorization", "Bearer x")
	if resp, err := f.client.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped request got %d", resp.StatusCode)
	}
	f.pbi.Faults().Clear()
	f.do("PATCH", "/gateways/"+pbiGW+"/datasources/"+pbiDS, `{"secret":"do-not-record"}`)

	got := f.pbi.Requests()
	want := []RequestRecord{
		{"GET", "/v1.0/myorg/gateways/" + pbiGW, OpGetGateway, 429},
		{"GET", "/v1.0/myorg/gateways/" + pbiGW, OpGetGateway, 503},
		{"GET", "/v1.0/myorg/gateways/" + pbiGW, OpGetGateway, 200},
		{"GET", "/v1.0/myorg/gateways/" + pbiGW + "/datasources/" + pbiDS, OpGetDatasource, 0},
		{"PATCH", "/v1.0/myorg/gateways/" + pbiGW + "/datasources/" + pbiDS, OpUpdateDatasource, 400},
	}
	// The client may re-send the dropped GET on a fresh connection; collapse repeats.
	var dedup []RequestRecord
	for _, r := range got {
		if n := len(dedup); n > 0 && r.Status == 0 && dedup[n-1] == r {
			continue
		}
		dedup = append(dedup, r)
	}
	if !reflect.DeepEqual(dedup, want) {
		t.Errorf("requests %+v\nwant     %+v", dedup, want)
	}
	if s := strings.Join(strings.Fields(fmtRecords(got)), " "); strings.Contains(s, "do-not-record") {
		t.Errorf("requests hold a body: %s", s)
	}
}

func fmtRecords(rs []RequestRecord) string {
	b, _ := json.Marshal(rs)
	return string(b)
}

func TestPowerBIAdminErrors(t *testing.T) {
	p := NewPowerBI(PowerBIOptions{})
	must(t, p.AddGateway(pbiGW, 1024))
	must(t, p.AddCloudDatasource(cloudGW, cloudDS, "OAuth2"))
	tests := map[string]struct {
		err  error
		want string
	}{
		"gateway id":          {p.AddGateway("gw", 1024), `emulator: gateway id "gw" is not a UUID`},
		"small key":           {p.AddGateway(pbiDS, 512), "emulator: gateway " + pbiDS + ": 512-bit keys are too small"},
		"duplicate gateway":   {p.AddGateway(pbiGW, 1024), "emulator: gateway " + pbiGW + " already exists"},
		"cloud id as gateway": {p.AddGateway(cloudGW, 1024), "emulator: " + cloudGW + " is the gateway id of cloud data sources"},
		"no gateway":          {p.AddDatasource(cloudDS, pbiDS, "Basic"), "emulator: data source " + pbiDS + ": no gateway " + cloudDS + " (AddGateway first)"},
		"cloud on a gateway":  {p.AddCloudDatasource(pbiGW, pbiDS, "Key"), "emulator: cloud data source " + pbiDS + ": " + pbiGW + " is a real gateway"},
		"credential type":     {p.AddDatasource(pbiGW, pbiDS, "Password"), `emulator: credential type "Password" is not one of Basic, Windows, Anonymous, OAuth2, Key, SAS, ServicePrincipal, KeyPair, WorkspaceIdentity`},
		"duplicate":           {p.AddCloudDatasource(cloudGW, cloudDS, "OAuth2"), "emulator: data source " + cloudGW + "/" + cloudDS + " already exists"},
		"rotate unknown":      {p.RotateGatewayKey(pbiDS), "emulator: no gateway " + pbiDS},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.err == nil || tc.err.Error() != tc.want {
				t.Errorf("got %v, want %s", tc.err, tc.want)
			}
		})
	}
	if _, ok := p.Credential(pbiGW, pbiDS); ok {
		t.Error("credential for a data source never added")
	}
}

// TestPowerBIEchoSecret: the fault answers 400 quoting the decrypted
// password of an encrypted PATCH, which it does not store, and on Add
// Datasource User the data source's current credential; then it is spent.
func TestPowerBIEchoSecret(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{VerifyEvery: 1000})
	path := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	patch := patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", "")
	if status, _, body := f.do("PATCH", path, patch); status != 200 { // the one PATCH in 1000 decrypted
		t.Fatalf("PATCH: %d %s", status, body)
	}
	f.pbi.Faults().Inject(OpUpdateDatasource, Fault{EchoSecret: true, Times: 1})
	f.pbi.Faults().Inject(OpAddDatasourceUser, Fault{EchoSecret: true, Times: 1})

	// Echoing decrypts a PATCH that VerifyEvery would not have.
	status, _, body := f.do("PATCH", path, patch)
	if _, msg := pbiErr(t, body); status != 400 || !strings.Contains(msg, `password="Pa55-w0rd!"`) {
		t.Fatalf("echoing PATCH: %d %s", status, body)
	}
	if n := len(f.pbi.History(pbiGW, pbiDS)); n != 1 {
		t.Errorf("history has %d entries, want 1: the echoed PATCH was stored", n)
	}
	user := `{"emailAddress":"john@contoso.com","datasourceAccessRight":"Read"}`
	status, _, body = f.do("POST", path+"/users", user)
	if _, msg := pbiErr(t, body); status != 400 || !strings.Contains(msg, `password="Pa55-w0rd!"`) {
		t.Fatalf("echoing Add Datasource User: %d %s", status, body)
	}
	if len(f.pbi.Users(pbiGW, pbiDS)) != 0 {
		t.Error("the echoed Add Datasource User was stored")
	}
	if status, _, body := f.do("PATCH", path, patch); status != 200 {
		t.Fatalf("PATCH after the fault: %d %s", status, body)
	}
	if status, _, body := f.do("POST", path+"/users", user); status != 200 || len(f.pbi.Users(pbiGW, pbiDS)) != 1 {
		t.Fatalf("Add Datasource User after the fault: %d %s", status, body)
	}
}
