package emulator

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// sharedSpec is the spec next to the repository checkout, when it is there.
const sharedSpec = "../../../shared/spec"

// TestEmbeddedFabricSwaggerIsCurrent: the embedded Fabric documents are
// the shared spec's, unchanged.
func TestEmbeddedFabricSwaggerIsCurrent(t *testing.T) {
	if _, err := os.Stat(filepath.Join(sharedSpec, "fabric", "swagger.json")); err != nil {
		t.Skipf("shared spec not available: %v", err)
	}
	err := fs.WalkDir(fabricSwagger, "swagger", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		got, err := fs.ReadFile(fabricSwagger, path)
		if err != nil {
			return err
		}
		want, err := os.ReadFile(filepath.Join(sharedSpec, strings.TrimPrefix(path, "swagger/")))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the shared spec's: copy it again", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fabricSpec(t *testing.T) *apiSpec {
	t.Helper()
	s, err := loadFabricSpec(fabricSwagger, fabricSwaggerRoot)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reachable walks every schema sc reaches, through references, subtypes
// and allOf, and fails on one that does not resolve.
func reachable(t *testing.T, s *apiSpec, where string, sc *schema, seen map[*schema]bool) {
	t.Helper()
	r, err := s.resolve(sc)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if seen[r] {
		return
	}
	seen[r] = true
	for _, sub := range s.subtypes[r] {
		reachable(t, s, where, sub, seen)
	}
	for _, p := range r.AllOf {
		reachable(t, s, where, p, seen)
	}
	for name, p := range r.Properties {
		reachable(t, s, where+"."+name, p, seen)
	}
	if r.Items != nil {
		reachable(t, s, where+"[]", r.Items, seen)
	}
}

func TestFabricSpecCoversServedOperations(t *testing.T) {
	s := fabricSpec(t)
	bodies := []string{OpFabricUpdateConnection, OpFabricAddConnectionRoleAssignment, OpFabricUpdateConnectionRoleAssignment}
	answers := []string{OpFabricListConnections, OpFabricGetConnection, OpFabricUpdateConnection, OpFabricTestConnection,
		OpFabricGetOperationState, OpFabricListGateways, OpFabricGetGateway, OpFabricListGatewayMembers,
		OpFabricListConnectionRoleAssignments, OpFabricAddConnectionRoleAssignment, OpFabricGetConnectionRoleAssignment,
		OpFabricUpdateConnectionRoleAssignment}
	seen := map[*schema]bool{}
	for _, op := range bodies {
		sc, ok := s.bodies[op]
		if !ok {
			t.Fatalf("no body schema for %s", op)
		}
		reachable(t, s, op, sc, seen)
	}
	for _, op := range answers {
		sc, ok := s.responses[op]
		if !ok {
			t.Fatalf("no response schema for %s", op)
		}
		reachable(t, s, op, sc, seen)
	}
	for _, def := range []string{"ErrorResponse", "ConnectionStatusResponse"} {
		reachable(t, s, def, &schema{Ref: "#/definitions/" + def}, seen)
	}
	if _, ok := s.responses[OpFabricGetOperationResult]; ok {
		t.Errorf("%s declares a file, not a schema", OpFabricGetOperationResult)
	}
	// The polymorphic bases the emulator relies on have their subtypes.
	for base, want := range map[string][]string{
		"UpdateConnectionRequest": {FabricOnPremisesGateway, FabricOnPremisesGatewayPersonal, FabricVirtualNetworkGateway, FabricShareableCloud},
		"Credentials":             {"Basic", "Key", "SharedAccessSignature", "ServicePrincipal", "KeyPair", "WorkspaceIdentity", "Anonymous", "Windows"},
		"Connection":              {FabricOnPremisesGateway, FabricShareableCloud, FabricStreamingVirtualNetworkGateway},
		"Gateway":                 {gwOnPremises, gwPersonal, gwVirtualNetwork, gwStreamingVNet},
		"Principal":               {"User", "Group", "ServicePrincipal", "ServicePrincipalProfile"},
	} {
		for _, v := range want {
			if s.subtypes[s.definitions[base]][v] == nil {
				t.Errorf("%s has no subtype %s", base, v)
			}
		}
	}
}

// TestFabricSpecExamples validates the spec's own examples of the served
// operations: the validator must take what Microsoft documents.
func TestFabricSpecExamples(t *testing.T) {
	dir := filepath.Join(sharedSpec, "fabric", "examples")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared spec not available: %v", err)
	}
	s := fabricSpec(t)
	tests := map[string]string{
		"connections/GetConnection.json":                                 OpFabricGetConnection,
		"connections/ListConnections.json":                               OpFabricListConnections,
		"connections/UpdateOnPremisesGatewayConnection.json":             OpFabricUpdateConnection,
		"connections/UpdateOnPremisesGatewayPersonalConnection.json":     OpFabricUpdateConnection,
		"connections/UpdateVirtualNetworkGatewayConnection.json":         OpFabricUpdateConnection,
		"connections/UpdateShareableCloudConnection.json":                OpFabricUpdateConnection,
		"connections/TestConnection.json":                                OpFabricTestConnection,
		"connections/TestConnectionOffline.json":                         OpFabricTestConnection,
		"connections/AddConnectionRoleAssignment.json":                   OpFabricAddConnectionRoleAssignment,
		"connections/GetConnectionRoleAssignment.json":                   OpFabricGetConnectionRoleAssignment,
		"connections/UpdateConnectionRoleAssignment.json":                OpFabricUpdateConnectionRoleAssignment,
		"connections/ListConnectionRoleAssignments.json":                 OpFabricListConnectionRoleAssignments,
		"connections/ListConnectionRoleAssignmentsWithContinuation.json": OpFabricListConnectionRoleAssignments,
		"gateways/GetGateway.json":                                       OpFabricGetGateway,
		"gateways/ListGateways.json":                                     OpFabricListGateways,
		"gateways/ListGatewayMembers.json":                               OpFabricListGatewayMembers,
	}
	for name, op := range tests {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			var ex struct {
				Parameters map[string]json.RawMessage `json:"parameters"`
				Responses  map[string]struct {
					Body json.RawMessage `json:"body"`
				} `json:"responses"`
			}
			must(t, json.Unmarshal(raw, &ex))
			for pname, p := range ex.Parameters {
				if p[0] == '{' {
					if err := s.validate(op, p); err != nil {
						t.Errorf("request %s: %v", pname, err)
					}
				}
			}
			for code, r := range ex.Responses {
				if len(r.Body) == 0 {
					continue
				}
				if err := s.validateResponse(op, r.Body); err != nil {
					t.Errorf("response %s: %v", code, err)
				}
			}
		})
	}
}

func TestFabricValidate(t *testing.T) {
	s := fabricSpec(t)
	const onPrem = `{"connectivityType":"OnPremisesGateway","credentialDetails":{"credentials":{"credentialType":"Basic","values":[{"gatewayId":"4f8b5d6e-8e99-4817-8b9e-6b6a613be707","encryptedCredentials":"x"}]}}}`
	tests := map[string]struct {
		op, body, want string
	}{
		"on-premises values":     {OpFabricUpdateConnection, onPrem, ""},
		"personal":               {OpFabricUpdateConnection, `{"connectivityType":"OnPremisesGatewayPersonal","credentialDetails":{"credentials":{"credentialType":"Basic","encryptedCredentials":"x"}}}`, ""},
		"cloud basic":            {OpFabricUpdateConnection, `{"connectivityType":"ShareableCloud","credentialDetails":{"skipTestConnection":true,"credentials":{"credentialType":"Basic","username":"u","password":"p"}}}`, ""},
		"vnet service principal": {OpFabricUpdateConnection, `{"connectivityType":"VirtualNetworkGateway","credentialDetails":{"credentials":{"credentialType":"ServicePrincipal","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","servicePrincipalClientId":"8e1c3a5b-0d2f-4c6e-9a7b-1f2e3d4c5b6a","servicePrincipalSecret":"s"}}}`, ""},
		"subtype property on another subtype": {OpFabricUpdateConnection, `{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"Key","username":"u"}}}`,
			"credentialDetails.credentials.username: unknown property"},
		"typed on on-premises": {OpFabricUpdateConnection, `{"connectivityType":"OnPremisesGateway","credentialDetails":{"credentials":{"credentialType":"Basic","username":"u","password":"p"}}}`,
			"credentialDetails.credentials.values: required property missing"},
		"values on cloud": {OpFabricUpdateConnection, `{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"Basic","username":"u","values":[]}}}`,
			"credentialDetails.credentials.values: unknown property"},
		"subtype required": {OpFabricUpdateConnection, `{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"KeyPair","identifier":"i"}}}`,
			"credentialDetails.credentials.privateKey: required property missing"},
		"base only property": {OpFabricUpdateConnection, `{"connectivityType":"OnPremisesGatewayPersonal","displayName":"x"}`, "displayName: unknown property"},
		"unknown discriminator value": {OpFabricUpdateConnection, `{"connectivityType":"Elsewhere"}`,
			`connectivityType: "Elsewhere" is not one of ShareableCloud, PersonalCloud, OnPremisesGateway, OnPremisesGatewayPersonal, VirtualNetworkGateway, StreamingVirtualNetworkGateway, Automatic, None`},
		"member id not a UUID": {OpFabricUpdateConnection, strings.Replace(onPrem, "4f8b5d6e-8e99-4817-8b9e-6b6a613be707", "m1", 1),
			`credentialDetails.credentials.values[0].gatewayId: "m1" is not a UUID`},
		"role assignment":         {OpFabricAddConnectionRoleAssignment, `{"principal":{"id":"6a002b3d-e4ec-43df-8c08-e8eb7547d9dd","type":"Group"},"role":"User"}`, ""},
		"role assignment, role":   {OpFabricAddConnectionRoleAssignment, `{"principal":{"id":"6a002b3d-e4ec-43df-8c08-e8eb7547d9dd","type":"Group"},"role":"Admin"}`, `role: "Admin" is not one of User, UserWithReshare, Owner`},
		"role assignment, type":   {OpFabricAddConnectionRoleAssignment, `{"principal":{"id":"6a002b3d-e4ec-43df-8c08-e8eb7547d9dd"},"role":"User"}`, "principal.type: required property missing"},
		"update role assignment":  {OpFabricUpdateConnectionRoleAssignment, `{"role":"Owner"}`, ""},
		"update role, extra prop": {OpFabricUpdateConnectionRoleAssignment, `{"role":"Owner","principal":{}}`, "principal: unknown property"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ""
			if err := s.validate(tc.op, []byte(tc.body)); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadFabricSpecRefs(t *testing.T) {
	doc := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	root := `{"paths":{"/x":{"get":{"operationId":"X","responses":{"200":{"schema":{"$ref":"./defs/a.json#/definitions/A"}}}}}}}`
	t.Run("relative references resolve across documents", func(t *testing.T) {
		s, err := loadFabricSpec(fstest.MapFS{
			"api/swagger.json": doc(root),
			"api/defs/a.json":  doc(`{"definitions":{"A":{"type":"object","properties":{"b":{"$ref":"../../common/c.json#/definitions/B"}}}}}`),
			"common/c.json":    doc(`{"definitions":{"B":{"type":"string","format":"uuid"}}}`),
		}, "api/swagger.json")
		must(t, err)
		if err := s.validateResponse("X", []byte(`{"b":"nope"}`)); err == nil || err.Error() != `b: "nope" is not a UUID` {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a missing document fails where it is reached", func(t *testing.T) {
		s, err := loadFabricSpec(fstest.MapFS{
			"api/swagger.json": doc(root),
			"api/defs/a.json":  doc(`{"definitions":{"A":{"type":"object","properties":{"b":{"$ref":"../gone.json#/definitions/B"}}}}}`),
		}, "api/swagger.json")
		must(t, err)
		must(t, s.validateResponse("X", []byte(`{}`)))
		if err := s.validateResponse("X", []byte(`{"b":"x"}`)); err == nil || !strings.Contains(err.Error(), "unresolvable reference") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a name defined twice differently", func(t *testing.T) {
		_, err := loadFabricSpec(fstest.MapFS{
			"api/swagger.json": doc(`{"paths":{},"definitions":{"A":{"type":"string"}},"x":{"$ref":"./b.json#/definitions/A"}}`),
			"api/b.json":       doc(`{"definitions":{"A":{"type":"integer"}}}`),
		}, "api/swagger.json")
		if err == nil || !strings.Contains(err.Error(), "differs") {
			t.Errorf("got %v", err)
		}
	})
}

// validateDefinition checks body against the definition name, as a
// response when response is set (see validateResponse): for answers whose
// operation declares no JSON schema (Get Operation Result's is a file) and
// for error bodies.
func (s *apiSpec) validateDefinition(name string, body []byte, response bool) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return s.check(&schema{Ref: "#/definitions/" + name}, v, "", response)
}
