package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parser collects every problem of one file while walking its YAML tree.
type parser struct {
	file    string
	whole   bool // parse the whole file at once; see splitDatasources
	errs    Errors
	aliases int  // aliases followed so far; see maxAliases
	syntax  bool // a YAML syntax error was reported
	// settings: the data sources may be missing or none (ParseSettings).
	settings bool
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// yamlLine picks the line out of yaml.v3's "yaml: line N: msg" errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// document decodes data into its root mapping node, or reports why it can't.
// Only one document is allowed: a second one after `---` would otherwise be
// ignored without a word.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(0, "the file is empty: want a mapping with at least datasources:")
			return nil
		}
		p.syntaxError(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntaxError(err)
	default:
		p.errorf(next.Line, "a second YAML document: the inventory must be a single document")
	}
	root := p.resolve(&doc)
	if root.Kind == 0 || isNull(root) {
		p.errorf(0, "the file is empty: want a mapping with at least datasources:")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "the top level must be a mapping, not %s", kindName(root))
		return nil
	}
	return root
}

func (p *parser) syntaxError(err error) {
	p.syntax = true
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.errorf(line, "invalid YAML: %s", msg)
}

// maxAliases bounds how many times the walk follows an alias. Aliases are
// never expanded by yaml.v3 when decoding into a Node, so a list of aliases
// to lists of aliases would otherwise cost the product of their lengths.
const maxAliases = 1000

// resolve follows document wrappers and aliases to the node holding a value.
// An alias past the budget, or one that never reaches a value, resolves to
// an empty scalar so the walk goes on with nothing instead of stopping.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	start := n
	for hops := 0; n != nil && hops < 64; hops++ {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode:
			if p.aliases++; p.aliases > maxAliases {
				if p.aliases == maxAliases+1 {
					p.errorf(n.Line, "more than %d uses of YAML aliases: write the inventory out", maxAliases)
				}
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
			}
			n = n.Alias
		default:
			return n
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: start.Line}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return "a scalar"
	}
	return "an alias"
}

// entry is one key of a mapping and the value node it holds.
type entry struct {
	name string
	path string // e.g. datasources[2].source.keyvault
	key  *yaml.Node
	val  *yaml.Node // aliases resolved
}

// mapping is a checked mapping: its keys in file order and by name.
type mapping struct {
	path    string
	line    int
	entries []entry
	byName  map[string]entry
}

func (m mapping) get(name string) (entry, bool) {
	e, ok := m.byName[name]
	return e, ok
}

// has reports whether name is present with a non-empty value.
func (m mapping) has(name string) bool {
	e, ok := m.byName[name]
	return ok && !isNull(e.val)
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

// keys checks that n is a mapping without repeated keys and returns its
// entries; ok is false when n is not a mapping. A null value counts as an
// empty mapping, so `source:` with nothing under it is just empty. line is
// where problems of the mapping as a whole (a missing key) are reported:
// the line of the key holding it, or of the list item.
func (p *parser) keys(n *yaml.Node, path string, line int) (m mapping, ok bool) {
	size := 0
	if n != nil && n.Kind == yaml.MappingNode {
		size = len(n.Content) / 2
	}
	// Sized up front: a fleet has tens of thousands of small mappings.
	m = mapping{path: path, line: line, byName: make(map[string]entry, size), entries: make([]entry, 0, size)}
	if isNull(n) {
		return m, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s: must be a mapping, not %s", path, kindName(n))
		return m, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			p.errorf(n.Content[i].Line, "%s: keys must be plain words", path)
			continue
		}
		if k.Value == "<<" {
			p.errorf(k.Line, "merge keys (<<) are not supported %s: write the keys out", where(path))
			continue
		}
		e := entry{name: k.Value, path: join(path, k.Value), key: k, val: v}
		if first, dup := m.byName[e.name]; dup {
			p.errorf(k.Line, "duplicate key %s %s (first at line %d)", quote(e.name), where(path), first.key.Line)
			continue
		}
		m.byName[e.name] = e
		m.entries = append(m.entries, e)
	}
	return m, true
}

// mapping is keys plus a check that every key is one of allowed.
func (p *parser) mapping(n *yaml.Node, path string, line int, allowed ...string) (mapping, bool) {
	m, ok := p.keys(n, path, line)
	for _, e := range m.entries {
		if !slices.Contains(allowed, e.name) {
			p.unknownKey(e, path, allowed)
			delete(m.byName, e.name)
		}
	}
	return m, ok
}

func (p *parser) unknownKey(e entry, path string, allowed []string) {
	p.errorf(e.key.Line, "unknown key %s %s (allowed: %s)", quote(e.name), where(path), strings.Join(allowed, ", "))
}

// quote shows a value from the file in a message, cut short so a stray
// megabyte of YAML cannot flood a terminal.
func quote(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

// str returns a scalar's text; null is "". Numbers and booleans are taken
// as written, so `username: 1234` is the string "1234".
func (p *parser) str(e entry) (string, bool) {
	if isNull(e.val) {
		return "", true
	}
	if e.val.Kind != yaml.ScalarNode {
		p.errorf(e.val.Line, "%s: must be a string, not %s", e.path, kindName(e.val))
		return "", false
	}
	return e.val.Value, true
}

// required returns a non-empty scalar.
func (p *parser) required(e entry) (string, bool) {
	s, ok := p.str(e)
	if ok && strings.TrimSpace(s) == "" {
		p.errorf(e.val.Line, "%s: must not be empty", e.path)
		return "", false
	}
	return s, ok
}

// enum returns a value that is exactly one of allowed.
func (p *parser) enum(e entry, allowed ...string) (string, bool) {
	s, ok := p.required(e)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		p.errorf(e.val.Line, "%s: %s is not one of %s", e.path, quote(s), strings.Join(allowed, ", "))
		return "", false
	}
	return s, true
}

func (p *parser) integer(e entry) (int, bool) {
	s, ok := p.required(e)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || e.val.Tag != "!!int" {
		p.errorf(e.val.Line, "%s: %s is not an integer", e.path, quote(s))
		return 0, false
	}
	return n, true
}

func (p *parser) boolean(e entry) (bool, bool) {
	var b bool
	if e.val.Kind != yaml.ScalarNode || e.val.Tag != "!!bool" || e.val.Decode(&b) != nil {
		p.errorf(e.val.Line, "%s: must be true or false", e.path)
		return false, false
	}
	return b, true
}

// duration parses a Go duration; min is the smallest value allowed.
func (p *parser) duration(e entry, min time.Duration) (time.Duration, bool) {
	s, ok := p.required(e)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(e.val.Line, "%s: %s is not a duration (write e.g. 90s, 45m, 24h)", e.path, quote(s))
		return 0, false
	}
	if d < min {
		if min == 0 {
			p.errorf(e.val.Line, "%s: must not be negative, got %s", e.path, d)
		} else {
			p.errorf(e.val.Line, "%s: must be at least %s, got %s", e.path, min, d)
		}
		return 0, false
	}
	return d, true
}

// invalidUTF8 finds the first byte of data that is not UTF-8, as a 1-based
// line and column (in bytes). A file starting with a UTF-16 byte order mark
// is left to yaml.v3, which decodes it.
func invalidUTF8(data []byte) (line, col int, found bool) {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) || utf8.Valid(data) {
		return 0, 0, false
	}
	lineStart := 0
	line = 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return line, i - lineStart + 1, true
		}
		if r == '\n' {
			line, lineStart = line+1, i+1
		}
		i += n
	}
	return 0, 0, false
}
