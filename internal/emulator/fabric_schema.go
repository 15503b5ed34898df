package emulator

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// fabricSwagger is the Fabric REST API swagger for connections, gateways
// and long-running operations, with the definitions it references, copied
// unchanged from the shared spec (swagger/fabric/README.md). Its documents
// reference each other by relative path, which the directory layout keeps.
//
//go:embed swagger/fabric/swagger.json swagger/fabric/definitions/*.json swagger/common/definitions.json
var fabricSwagger embed.FS

const fabricSwaggerRoot = "swagger/fabric/swagger.json"

// loadFabricSpec reads the swagger at root in fsys and every document its
// "$ref"s reach, and merges their definitions into one apiSpec: each
// reference "doc.json#/definitions/Name" becomes "#/definitions/Name". A
// reference to a document that is not there keeps its form and fails
// validation where it is reached (platform.json names a job-scheduling
// document none of the served operations needs). Responses are the 200 or,
// for operations that create, the 201 answer.
func loadFabricSpec(fsys fs.FS, root string) (*apiSpec, error) {
	docs := map[string]any{}
	queue := []string{root}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := docs[name]; done {
			continue
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("fabric swagger: %w", err)
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("fabric swagger: %s: %w", name, err)
		}
		docs[name] = doc
		walkRefs(doc, func(ref string) string {
			file, frag, _ := strings.Cut(ref, "#")
			def, ok := strings.CutPrefix(frag, "/definitions/")
			if !ok {
				return ref // an example, not a schema
			}
			if file != "" {
				target := path.Join(path.Dir(name), file)
				if _, err := fs.Stat(fsys, target); err != nil {
					return ref
				}
				queue = append(queue, target)
			}
			return "#/definitions/" + def
		})
	}
	merged := map[string]json.RawMessage{}
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		defs, _ := docs[name].(map[string]any)["definitions"].(map[string]any)
		for def, v := range defs {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("fabric swagger: %s: %w", name, err)
			}
			if prev, dup := merged[def]; dup && string(prev) != string(b) {
				return nil, fmt.Errorf("fabric swagger: definition %s differs between documents", def)
			}
			merged[def] = b
		}
	}
	rootDoc, _ := docs[root].(map[string]any)
	b, err := json.Marshal(map[string]any{"paths": rootDoc["paths"], "definitions": merged})
	if err != nil {
		return nil, fmt.Errorf("fabric swagger: %w", err)
	}
	var raw struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				In     string  `json:"in"`
				Schema *schema `json:"schema"`
			} `json:"parameters"`
			Responses map[string]struct {
				Schema *schema `json:"schema"`
			} `json:"responses"`
		} `json:"paths"`
		Definitions map[string]*schema `json:"definitions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("fabric swagger: %w", err)
	}
	s := &apiSpec{definitions: raw.Definitions, bodies: map[string]*schema{}, responses: map[string]*schema{}}
	for _, methods := range raw.Paths {
		for _, op := range methods {
			for _, code := range []string{"200", "201"} {
				if r := op.Responses[code]; r.Schema != nil && r.Schema.Type != "file" {
					s.responses[op.OperationID] = r.Schema
				}
			}
			for _, p := range op.Parameters {
				if p.In == "body" && p.Schema != nil {
					s.bodies[op.OperationID] = p.Schema
				}
			}
		}
	}
	return s, s.indexSubtypes()
}

// walkRefs replaces every "$ref" string inside a JSON document with what
// rewrite returns for it.
func walkRefs(v any, rewrite func(string) string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				v[k] = rewrite(s)
				continue
			}
			walkRefs(x, rewrite)
		}
	case []any:
		for _, x := range v {
			walkRefs(x, rewrite)
		}
	}
}
