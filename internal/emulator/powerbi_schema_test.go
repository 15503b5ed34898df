package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEmbeddedSwaggerIsCurrent regenerates swagger/gateways.json from the
// full spec, when it is there, and fails if the committed file differs:
// run `go generate ./internal/emulator/` to refresh it.
func TestEmbeddedSwaggerIsCurrent(t *testing.T) {
	const full = "../../../shared/spec/powerbi-swagger.json"
	if testing.Short() {
		t.Skip("compiles the generator")
	}
	if _, err := os.Stat(full); err != nil {
		t.Skipf("full spec not available: %v", err)
	}
	out := filepath.Join(t.TempDir(), "gateways.json")
	cmd := exec.Command("go", "run", "./swagger/trim.go", "-in", full, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("trim.go: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(gatewaysSwagger)) {
		t.Error("swagger/gateways.json is stale: run go generate ./internal/emulator/")
	}
}

func TestSpecCoversValidatedBodies(t *testing.T) {
	s, err := loadSpec(gatewaysSwagger)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{OpUpdateDatasource, OpAddDatasourceUser} {
		sc, ok := s.bodies[op]
		if !ok {
			t.Fatalf("no body schema for %s", op)
		}
		if _, err := s.resolve(sc); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	if len(s.bodies) != 2 {
		t.Errorf("body schemas for %d operations, want 2", len(s.bodies))
	}
	answering := []string{OpGetGateways, OpGetGateway, OpGetDatasources, OpGetDatasource, OpGetDatasourceUsers, OpGetDatasetsInGroup, OpGetDatasourcesInGroup}
	for _, op := range answering {
		sc, ok := s.responses[op]
		if !ok {
			t.Fatalf("no response schema for %s", op)
		}
		if _, err := s.resolve(sc); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	if len(s.responses) != len(answering) {
		t.Errorf("response schemas for %d operations, want %d", len(s.responses), len(answering))
	}
}

// TestConnectionKeysAreTheSwaggers: the connection details the emulator
// takes are DatasourceConnectionDetails' properties.
func TestConnectionKeysAreTheSwaggers(t *testing.T) {
	s, err := loadSpec(gatewaysSwagger)
	if err != nil {
		t.Fatal(err)
	}
	d := s.definitions["DatasourceConnectionDetails"]
	if d == nil {
		t.Fatal("no DatasourceConnectionDetails in the swagger")
	}
	if got, want := slices.Sorted(maps.Keys(d.Properties)), slices.Sorted(slices.Values(connectionKeys)); !slices.Equal(got, want) {
		t.Errorf("swagger has %q, connectionKeys %q", got, want)
	}
}

func TestValidateResponse(t *testing.T) {
	s, err := loadSpec(gatewaysSwagger)
	if err != nil {
		t.Fatal(err)
	}
	const ds = `"id":"252b9de8-d915-4788-aaeb-ec8c2395f970","gatewayId":"1f69e798-5852-4fdd-ab01-33bb14b6e934"`
	tests := map[string]struct {
		op, body, want string
	}{
		"a data source":        {OpGetDatasource, `{` + ds + `,"credentialType":"Basic","connectionDetails":"{}"}`, ""},
		"OData annotations":    {OpGetDatasources, `{"@odata.context":"c","@odata.nextLink":"https://h/p?$skiptoken=x","value":[]}`, ""},
		"v3 odata.context":     {OpGetDatasources, `{"odata.context":"c","value":[]}`, ""},
		"other annotations":    {OpGetDatasources, `{"@odata.count":3,"@search.score":1,"value":[]}`, "@search.score: unknown property"},
		"unknown property":     {OpGetDatasource, `{` + ds + `,"credentialType":"Basic","owner":"x"}`, "owner: unknown property"},
		"missing required":     {OpGetDatasource, `{` + ds + `}`, "credentialType: required property missing"},
		"extensible enum":      {OpGetDatasource, `{` + ds + `,"credentialType":"WorkspaceIdentity"}`, ""},
		"not a UUID":           {OpGetDatasource, `{"id":"ds-1","gatewayId":"g","credentialType":"Basic"}`, `gatewayId: "g" is not a UUID`},
		"details not a string": {OpGetDatasource, `{` + ds + `,"credentialType":"Basic","connectionDetails":{"server":"s"}}`, "connectionDetails: expected a string"},
		"details not an object": {OpGetDatasourcesInGroup, `{"value":[{"datasourceType":"Sql","connectionDetails":"{}"}]}`,
			"value[0].connectionDetails: expected an object"},
		"unknown detail":       {OpGetDatasourcesInGroup, `{"value":[{"connectionDetails":{"host":"h"}}]}`, "value[0].connectionDetails.host: unknown property"},
		"camelCase of allOf":   {OpGetDatasetsInGroup, `{"value":[{"id":"d","isRefreshable":true,"createdDate":"2025-03-01T12:00:00Z","webUrl":"u"}]}`, ""},
		"allOf type":           {OpGetDatasetsInGroup, `{"value":[{"id":"d","isRefreshable":"yes"}]}`, "value[0].isRefreshable: expected true or false"},
		"allOf required":       {OpGetDatasetsInGroup, `{"value":[{"name":"d"}]}`, "value[0].id: required property missing"},
		"not JSON":             {OpGetGateways, `{`, "response body is not valid JSON"},
		"an array":             {OpGetGateway, `[]`, "response body: expected an object"},
		"an op without a body": {OpUpdateDatasource, `{}`, "swagger: Gateways_UpdateDatasource answers no body"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := s.validateResponse(tc.op, []byte(tc.body))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Requests are held to the swagger's case and enums.
	body := `{"credentialDetails":{"credentialType":"WorkspaceIdentity","credentials":"x","encryptedConnection":"Encrypted","encryptionAlgorithm":"None","privacyLevel":"None"}}`
	if err := s.validate(OpUpdateDatasource, []byte(body)); err == nil {
		t.Error("a request took an extensible credential type")
	}
	if err := s.validate(OpAddDatasourceUser, []byte(`{"DatasourceAccessRight":"Read"}`)); err == nil {
		t.Error("a request matched a property in another case")
	}
}

// TestPowerBIResponsesMatchSwagger validates what the emulator answers to
// every operation that answers a body, in a rich estate and over several
// pages, against the swagger's response definitions.
func TestPowerBIResponsesMatchSwagger(t *testing.T) {
	f := pageFixture(t)
	const spDS = "11111111-2222-4333-8444-555555555555"
	must(t, f.pbi.AddDatasource(pbiGW, spDS, "ServicePrincipal"))
	must(t, f.pbi.SetDatasourceInfo(pbiGW, spDS, DatasourceInfo{Name: "lake", Type: "AzureDataLakeStorage", EndUserOAuth2: true,
		ConnectionDetails: map[string]string{"server": "https://lake.dfs.core.windows.net", "path": "raw", "kind": "AzureDataLakeStorage"}}))
	f.pbi.SetUsers(pbiGW, spDS, []User{
		{DatasourceAccessRight: "ReadOverrideEffectiveIdentity", EmailAddress: "john@contoso.com", DisplayName: "John", PrincipalType: "User"},
		{DatasourceAccessRight: "Read", Identifier: "3d9b93c6-7b6d-4801-a491-1738910904fd", PrincipalType: "App"},
		{DatasourceAccessRight: "Read", Identifier: "a1b2c3d4-0000-4000-8000-000000000000", PrincipalType: "Group"},
	})
	gw, ds := "/gateways/"+pbiGW, "/gateways/"+pbiGW+"/datasources/"
	tests := map[string]struct{ op, path string }{
		"Get Gateways":                       {OpGetGateways, "/gateways"},
		"Get Gateway":                        {OpGetGateway, gw},
		"Get Datasources":                    {OpGetDatasources, gw + "/datasources"},
		"Get Datasource":                     {OpGetDatasource, ds + pbiDS},
		"Get Datasource, extensible type":    {OpGetDatasource, ds + spDS},
		"Get Datasource, cloud":              {OpGetDatasource, "/gateways/" + cloudGW + "/datasources/" + cloudDS},
		"Get Datasource Users":               {OpGetDatasourceUsers, ds + pbiDS + "/users"},
		"Get Datasource Users, apps, groups": {OpGetDatasourceUsers, ds + spDS + "/users"},
		"Get Datasource Users, none":         {OpGetDatasourceUsers, "/gateways/" + cloudGW + "/datasources/" + cloudDS + "/users"},
		"Get Datasets In Group":              {OpGetDatasetsInGroup, "/groups/" + pbiWS + "/datasets"},
		"Get Datasources In Group":           {OpGetDatasourcesInGroup, "/groups/" + pbiWS + "/datasets/" + pbiSales + "/datasources"},
		"Get Datasources In Group, many":     {OpGetDatasourcesInGroup, "/groups/" + pbiWS + "/datasets/" + pbiMany + "/datasources"},
		"Get Datasources In Group, none":     {OpGetDatasourcesInGroup, "/groups/" + pbiWS + "/datasets/" + pbiEmpty + "/datasources"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for path, n := tc.path, 1; path != ""; n++ {
				status, _, body := f.do("GET", path, "")
				if status != 200 {
					t.Fatalf("page %d: %d %s", n, status, body)
				}
				if err := f.pbi.spec.validateResponse(tc.op, body); err != nil {
					t.Errorf("page %d: %v\n%s", n, err, body)
				}
				var p page
				must(t, json.Unmarshal(body, &p))
				path = strings.TrimPrefix(p.NextLink, f.base)
			}
		})
	}
}

func TestValidateRejectsWithPropertyNamed(t *testing.T) {
	s, err := loadSpec(gatewaysSwagger)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		op, body, want string
	}{
		"array body":     {OpAddDatasourceUser, `[]`, "request body: expected an object"},
		"null required":  {OpAddDatasourceUser, `{"datasourceAccessRight":null}`, "datasourceAccessRight: required property missing"},
		"null optional":  {OpAddDatasourceUser, `{"datasourceAccessRight":"Read","displayName":null}`, ""},
		"nested object":  {OpAddDatasourceUser, `{"datasourceAccessRight":"Read","profile":"p"}`, "profile: expected an object"},
		"profile id":     {OpAddDatasourceUser, `{"datasourceAccessRight":"Read","profile":{}}`, "profile.id: required property missing"},
		"no body schema": {OpGetGateway, `not even json`, ""},
		"long enum value is clipped": {OpAddDatasourceUser, `{"datasourceAccessRight":"ReadReadReadReadReadReadReadReadReadReadReadRead"}`,
			`datasourceAccessRight: "ReadReadReadReadReadReadReadReadReadRead…" is not one of None, Read, ReadOverrideEffectiveIdentity`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := s.validate(tc.op, []byte(tc.body))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// validateResponse, for the tests that hold the emulator to the swagger,
// checks body, a 200 answer of operation op, against the
// swagger the same way, but for three departures of the real service from
// its own swagger, which a client must take too and so the emulator sends:
//   - OData control information ("@odata.context", "@odata.nextLink") is
//     allowed on any object: Power BI sends OData v4's, where the swagger
//     declares v3's "odata.context" on list wrappers only;
//   - a property name matches the swagger's in another case: the service
//     and the swagger's own examples send camelCase (isRefreshable) where
//     Dataset's definitions say IsRefreshable, and clients read it
//     case-insensitively (encoding/json, the .NET SDK);
//   - an enum with x-ms-enum modelAsExtensible takes other values
//     (credentialType WorkspaceIdentity): the enum may grow, and clients
//     must not refuse what they do not know. Requests are held to the enum.
//
// Unknown properties are refused otherwise, so that the emulator cannot
// invent fields a client would come to rely on.
func (s *apiSpec) validateResponse(op string, body []byte) error {
	sc, ok := s.responses[op]
	if !ok {
		return fmt.Errorf("swagger: %s answers no body", op)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("response body is not valid JSON")
	}
	return s.check(sc, v, "", true)
}
