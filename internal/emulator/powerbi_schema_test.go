package emulator

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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
