package emulator

import (
	"bytes"
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

// TestFabricSpecDiscriminators: the embedded swagger loads, and a
// polymorphic body is held to the subtype its discriminator names.
func TestFabricSpecDiscriminators(t *testing.T) {
	s, err := loadFabricSpec(fabricSwagger, fabricSwaggerRoot)
	if err != nil {
		t.Fatal(err)
	}
	const op = "Connections_UpdateConnection"
	for body, want := range map[string]string{
		`{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"Basic","username":"u","password":"p"}}}`: "",
		`{"connectivityType":"ShareableCloud","credentialDetails":{"credentials":{"credentialType":"Key","username":"u"}}}`:                  "credentialDetails.credentials.username: unknown property",
		`{"connectivityType":"OnPremisesGatewayPersonal","displayName":"x"}`:                                                                 "displayName: unknown property",
	} {
		got := ""
		if err := s.validate(op, []byte(body)); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
}
