package emulator

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// gatewaysSwagger is the part of Microsoft's Power BI swagger covering the
// operations the emulator serves; swagger/trim.go generates it. The
// emulator validates request bodies against it, its tests the emulator's
// response bodies.
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
	AllOf      []*schema          `json:"allOf"`
	XMsEnum    struct {
		ModelAsExtensible bool `json:"modelAsExtensible"`
	} `json:"x-ms-enum"`
	// Discriminator names the property whose value picks the subtype of a
	// polymorphic base (swagger 2.0); a subtype is a definition whose
	// allOf holds the base and whose x-ms-discriminator-value (or, without
	// one, its name) is that value. Fabric's swagger uses them, Power BI's
	// does not.
	Discriminator      string `json:"discriminator"`
	DiscriminatorValue string `json:"x-ms-discriminator-value"`
}

// apiSpec validates request and response bodies against the swagger
// definitions.
type apiSpec struct {
	definitions map[string]*schema
	bodies      map[string]*schema             // operationId → body schema, for operations that take one
	responses   map[string]*schema             // operationId → schema of its 200 answer, for operations that answer a body
	subtypes    map[*schema]map[string]*schema // polymorphic base → discriminator value → subtype
}

func loadSpec(doc string) (*apiSpec, error) {
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
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("power bi swagger: %w", err)
	}
	s := &apiSpec{definitions: raw.Definitions, bodies: map[string]*schema{}, responses: map[string]*schema{}}
	for _, methods := range raw.Paths {
		for _, op := range methods {
			if ok := op.Responses["200"]; ok.Schema != nil {
				s.responses[op.OperationID] = ok.Schema
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

// indexSubtypes finds the subtypes of every polymorphic definition.
func (s *apiSpec) indexSubtypes() error {
	s.subtypes = map[*schema]map[string]*schema{}
	for _, name := range slices.Sorted(maps.Keys(s.definitions)) {
		d := s.definitions[name]
		for _, part := range d.AllOf {
			base, err := s.resolve(part)
			if err != nil || base.Discriminator == "" {
				continue // an unresolvable part fails validation where it is reached
			}
			value := cmp.Or(d.DiscriminatorValue, name)
			if s.subtypes[base] == nil {
				s.subtypes[base] = map[string]*schema{}
			}
			if s.subtypes[base][value] != nil {
				return fmt.Errorf("swagger: two subtypes of one base for %s %q", base.Discriminator, value)
			}
			s.subtypes[base][value] = d
		}
	}
	return nil
}

// subtype returns the subtype of the polymorphic sc that v's discriminator
// names, or nil: sc is not polymorphic, or v names none of its subtypes
// (and is then held to sc itself).
func (s *apiSpec) subtype(sc *schema, v any) *schema {
	if sc.Discriminator == "" {
		return nil
	}
	obj, _ := v.(map[string]any)
	value, _ := obj[sc.Discriminator].(string)
	return s.subtypes[sc][value]
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
	return s.check(sc, v, "", false)
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

// flatten merges the properties and required names of an allOf schema's
// parts into one object schema.
func (s *apiSpec) flatten(sc *schema) (*schema, error) {
	if len(sc.AllOf) == 0 {
		return sc, nil
	}
	out := &schema{Type: "object", Properties: maps.Clone(sc.Properties), Required: slices.Clone(sc.Required)}
	if out.Properties == nil {
		out.Properties = map[string]*schema{}
	}
	for _, part := range sc.AllOf {
		p, err := s.resolve(part)
		if err != nil {
			return nil, err
		}
		if p, err = s.flatten(p); err != nil {
			return nil, err
		}
		maps.Copy(out.Properties, p.Properties)
		out.Required = append(out.Required, p.Required...)
	}
	return out, nil
}

// check validates v against sc; response relaxes it as validateResponse
// says.
func (s *apiSpec) check(sc *schema, v any, path string, response bool) error {
	sc, err := s.resolve(sc)
	if err != nil {
		return err
	}
	if sub := s.subtype(sc, v); sub != nil {
		sc = sub
	}
	if sc, err = s.flatten(sc); err != nil {
		return err
	}
	where := path
	switch {
	case where != "":
	case response:
		where = "response body"
	default:
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
		if len(sc.Enum) > 0 && !slices.Contains(sc.Enum, str) && !(response && sc.XMsEnum.ModelAsExtensible) {
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
			if err := s.check(sc.Items, it, fmt.Sprintf("%s[%d]", path, i), response); err != nil {
				return err
			}
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected an object", where)
		}
		props := sc.Properties
		if response {
			// Match the swagger's names in any case (see validateResponse).
			props = make(map[string]*schema, len(sc.Properties))
			for name, p := range sc.Properties {
				props[strings.ToLower(name)] = p
			}
			lower := make(map[string]any, len(obj))
			for name, x := range obj {
				lower[strings.ToLower(name)] = x
			}
			for _, name := range sc.Required {
				if x, ok := lower[strings.ToLower(name)]; !ok || x == nil {
					return fmt.Errorf("%s: required property missing", schemaPath(path, name))
				}
			}
		} else {
			for _, name := range sc.Required {
				if x, ok := obj[name]; !ok || x == nil {
					return fmt.Errorf("%s: required property missing", schemaPath(path, name))
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			key := name
			if response {
				if strings.HasPrefix(name, "@odata.") {
					continue // OData control information (see validateResponse)
				}
				key = strings.ToLower(name)
			}
			p, known := props[key]
			if !known {
				return fmt.Errorf("%s: unknown property", schemaPath(path, name))
			}
			if obj[name] == nil {
				continue // an optional property set to null reads as absent
			}
			if err := s.check(p, obj[name], schemaPath(path, name), response); err != nil {
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
