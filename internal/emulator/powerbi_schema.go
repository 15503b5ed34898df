package emulator

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// gatewaysSwagger is the part of Microsoft's Power BI swagger covering the
// operations the emulator serves; swagger/trim.go generates it.
//
//go:generate go run ./swagger/trim.go -in ../../../shared/spec/powerbi-swagger.json -out swagger/gateways.json
//go:embed swagger/gateways.json
var gatewaysSwagger string

// schema is the subset of a swagger 2.0 schema object the emulator checks.
type schema struct {
	Ref        string             `json:"$ref"`
	Type       string             `json:"type"`
	Format     string             `json:"format"`
	Enum       []string           `json:"enum"`
	Required   []string           `json:"required"`
	Properties map[string]*schema `json:"properties"`
	Items      *schema            `json:"items"`
}

// apiSpec validates request bodies against the swagger definitions.
type apiSpec struct {
	definitions map[string]*schema
	bodies      map[string]*schema // operationId → body schema, for operations that take one
}

func loadSpec(doc string) (*apiSpec, error) {
	var raw struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				In     string  `json:"in"`
				Schema *schema `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
		Definitions map[string]*schema `json:"definitions"`
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("power bi swagger: %w", err)
	}
	s := &apiSpec{definitions: raw.Definitions, bodies: map[string]*schema{}}
	for _, methods := range raw.Paths {
		for _, op := range methods {
			for _, p := range op.Parameters {
				if p.In == "body" && p.Schema != nil {
					s.bodies[op.OperationID] = p.Schema
				}
			}
		}
	}
	return s, nil
}

// validate checks body, the JSON request body of operation op, and returns
// an error naming the first offending property (in a stable order). Like the
// real service's model binding it rejects wrong types, missing required
// properties and values outside an enum; stricter than it, it also rejects
// unknown properties, so that a typo in our client fails loudly. Messages
// quote enum values and UUIDs only, never other strings: the credentials
// property must not come back in an error.
func (s *apiSpec) validate(op string, body []byte) error {
	sc, ok := s.bodies[op]
	if !ok {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("request body is not valid JSON")
	}
	return s.check(sc, v, "")
}

func (s *apiSpec) resolve(sc *schema) (*schema, error) {
	for sc.Ref != "" {
		name, ok := strings.CutPrefix(sc.Ref, "#/definitions/")
		d := s.definitions[name]
		if !ok || d == nil {
			return nil, fmt.Errorf("swagger: unresolvable reference %q", sc.Ref)
		}
		sc = d
	}
	return sc, nil
}

func (s *apiSpec) check(sc *schema, v any, path string) error {
	sc, err := s.resolve(sc)
	if err != nil {
		return err
	}
	where := path
	if where == "" {
		where = "request body"
	}
	typ := sc.Type
	if typ == "" && sc.Properties != nil {
		typ = "object"
	}
	switch typ {
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: expected a string", where)
		}
		if len(sc.Enum) > 0 && !slices.Contains(sc.Enum, str) {
			return fmt.Errorf("%s: %q is not one of %s", where, clip(str, 40), strings.Join(sc.Enum, ", "))
		}
		if sc.Format == "uuid" && !validUUID(str) {
			return fmt.Errorf("%s: %q is not a UUID", where, clip(str, 40))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: expected true or false", where)
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: expected a number", where)
		}
	case "array":
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: expected an array", where)
		}
		for i, it := range items {
			if sc.Items == nil {
				break
			}
			if err := s.check(sc.Items, it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected an object", where)
		}
		for _, name := range sc.Required {
			if x, ok := obj[name]; !ok || x == nil {
				return fmt.Errorf("%s: required property missing", schemaPath(path, name))
			}
		}
		names := make([]string, 0, len(obj))
		for name := range obj {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			p, known := sc.Properties[name]
			if !known {
				return fmt.Errorf("%s: unknown property", schemaPath(path, name))
			}
			if obj[name] == nil {
				continue // an optional property set to null reads as absent
			}
			if err := s.check(p, obj[name], schemaPath(path, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func schemaPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// validUUID reports whether s is a UUID in its 8-4-4-4-12 hex form. It is
// kept apart from pbi.IsUUID on purpose: the emulator checks what the client
// sends, so it must not share the client's code.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
