package config

import (
	"bytes"
	"regexp"

	"gopkg.in/yaml.v3"
)

// A large inventory is parsed one data source at a time. yaml.v3 builds a
// node tree of the whole document, about 4.7 KB per data source, so a fleet
// of 10,000 held some 47 MB at once just to be read. splitDatasources cuts
// the block-style `datasources:` list into one text chunk per item; each is
// parsed, checked and dropped before the next. Anything the cut cannot be
// sure of (anchors and aliases, tabs, several documents, a flow-style list,
// an item the chunk parse rejects) falls back to parsing the whole file, and
// so does any error at all: messages always come from the whole-file walk.

// chunk is the text of one list item and the file line it starts on.
type chunk struct {
	text []byte
	line int
}

var (
	datasourcesKey = regexp.MustCompile(`^datasources:[ ]*(#.*)?\r?\n?$`)
	// anchorOrAlias matches YAML anchors (&a) and aliases (*a) — and some
	// harmless text too (a cron "*/5"), which only costs the whole-file
	// parse. A quote after the star is a cron field ending a string.
	anchorOrAlias = regexp.MustCompile(`(^|[\s\[\{,:-])[&*][^\s\]\},"']`)
	docMarker     = regexp.MustCompile(`(?m)^(---|\.\.\.|%)`)
)

// splitDatasources returns data with the lines of the datasources list
// blanked (so the rest keeps its line numbers) and the list's items as
// chunks; ok is false when data is not in the plain shape this handles.
func splitDatasources(data []byte) (head []byte, items []chunk, ok bool) {
	if bytes.ContainsRune(data, '\t') || anchorOrAlias.Match(data) || docMarker.Match(data) {
		return nil, nil, false
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	key := -1
	for i, l := range lines {
		if datasourcesKey.Match(l) {
			if key >= 0 {
				return nil, nil, false
			}
			key = i
		}
	}
	if key < 0 {
		return nil, nil, false
	}
	indent, end, start := -1, len(lines), -1
	flush := func(to int) {
		if start >= 0 {
			items = append(items, chunk{text: bytes.Join(lines[start:to], nil), line: start + 1})
		}
	}
	for i := key + 1; i < len(lines); i++ {
		l := lines[i]
		body := bytes.TrimLeft(l, " ")
		if t := bytes.TrimSpace(body); len(t) == 0 || t[0] == '#' {
			continue // blank or comment: belongs to whatever surrounds it
		}
		n := len(l) - len(body)
		isItem := body[0] == '-' && (len(body) == 1 || body[1] == ' ' || body[1] == '\n' || body[1] == '\r')
		if indent < 0 {
			if !isItem {
				return nil, nil, false // not a block list: the whole walk says what it is
			}
			indent = n
		}
		switch {
		case n == indent && isItem:
			flush(i)
			start = i
		case n == 0 && !isItem:
			end = i // the next top-level key
		case n <= indent:
			return nil, nil, false
		}
		if end == i {
			break
		}
	}
	flush(end)
	if len(items) == 0 {
		return nil, nil, false
	}
	blank := make([][]byte, 0, len(lines))
	blank = append(blank, lines[:key+1]...)
	for _, l := range lines[key+1 : end] {
		if bytes.HasSuffix(l, []byte("\n")) {
			l = []byte("\n")
		}
		blank = append(blank, l)
	}
	blank = append(blank, lines[end:]...)
	return bytes.Join(blank, nil), items, true
}

// chunkItem parses one chunk into the node of its single list item, with
// lines counted from the start of the file.
func chunkItem(c chunk) (*yaml.Node, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(c.text, &doc); err != nil {
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, false
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode || len(seq.Content) != 1 {
		return nil, false
	}
	shiftLines(seq.Content[0], c.line-1)
	return seq.Content[0], true
}

func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}
