package config

import (
	"bytes"
	"iter"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A large inventory is parsed one data source at a time. yaml.v3 builds a
// node tree of the whole document, about 4.7 KB per data source, so a fleet
// of 10,000 held some 47 MB at once just to be read. splitDatasources cuts
// the block-style `datasources:` list into one text chunk per item; each is
// parsed, checked and dropped before the next. Anything the cut cannot be
// sure of (anchors and aliases, tabs, several documents, a flow-style list,
// an item the chunk parse rejects, a YAML syntax error) falls back to parsing
// the whole file. Other errors are reported by the chunked walk, the same
// messages as the whole walk's (the tests compare both).

// chunk is the text of one list item and the file line it starts on.
type chunk struct {
	text []byte
	line int
	// prefix, when set, is the file up to and including the datasources:
	// line, parsed in front of text: the item uses an alias, whose anchor
	// can only be there (YAML defines an anchor before its aliases).
	prefix []byte
}

// maxPrefixBytes bounds the text parsed again in front of items that use
// aliases; past it the whole file is parsed once instead.
const maxPrefixBytes = 64 << 20

// splitDatasources returns data with the lines of the datasources list
// blanked (so the rest keeps its line numbers) and the list's items as
// chunks, which share data's memory; ok is false when data is not in the
// plain shape this handles.
func splitDatasources(data []byte) (head []byte, items []chunk, ok bool) {
	if !plainText(data) {
		return nil, nil, false
	}
	// The list must hang off the one `datasources:` line of the one document.
	key, keyEnd := -1, 0 // its line index, and the offset just after it
	for i, off := 0, 0; off < len(data); i++ {
		l := line(data, off)
		if isDocMarker(l) {
			return nil, nil, false
		}
		if isDatasourcesKey(l) {
			if key >= 0 {
				return nil, nil, false
			}
			key, keyEnd = i, off+len(l)
		}
		off += len(l)
	}
	if key < 0 {
		return nil, nil, false
	}
	// Lines are contiguous in data, so an item's text is a slice of it.
	indent, end, start, startLine := -1, len(data), -1, 0
	flush := func(to int) {
		if start >= 0 {
			items = append(items, chunk{text: data[start:to], line: startLine + 1})
		}
	}
lines:
	for i, next := key+1, keyEnd; next < len(data); i++ {
		off := next
		l := line(data, off)
		next += len(l)
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
			flush(off)
			start, startLine = off, i
		case n == 0 && !isItem:
			end = off // the next top-level key
			break lines
		case n <= indent:
			return nil, nil, false
		}
	}
	flush(end)
	if len(items) == 0 {
		return nil, nil, false
	}
	// Anchors before the list (a defaults: or a users list to share) are
	// common; an item that uses one is parsed with the text before the
	// list. An anchor inside the list, used by a later item, is not
	// handled: the whole file is parsed.
	if hasAnchorOrAlias(data) {
		if hasMark(data[keyEnd:end], '&') {
			return nil, nil, false
		}
		aliased, prefix := 0, data[:keyEnd]
		for i := range items {
			if hasMark(items[i].text, '*') {
				items[i].prefix = prefix
				aliased++
			}
		}
		// More aliases than the walk follows fail anyway, and each costs a
		// parse of the prefix: leave such a file to the whole walk.
		if aliased > maxAliases || aliased*len(prefix) > maxPrefixBytes {
			return nil, nil, false
		}
	}
	// Each list line becomes an empty one; an unterminated last line stays.
	list := data[keyEnd:end]
	newlines := bytes.Count(list, []byte("\n"))
	head = make([]byte, 0, len(data)-len(list)+newlines)
	head = append(head, data[:keyEnd]...)
	head = append(head, bytes.Repeat([]byte("\n"), newlines)...)
	head = append(head, list[bytes.LastIndexByte(list, '\n')+1:]...)
	head = append(head, data[end:]...)
	return head, items, true
}

// line returns the line of data starting at off, with its newline if any.
func line(data []byte, off int) []byte {
	l := data[off:]
	if i := bytes.IndexByte(l, '\n'); i >= 0 {
		l = l[:i+1]
	}
	return l
}

// hasAnchorOrAlias reports whether data may hold a YAML anchor (&a) or alias
// (*a): a & or * at the start of data or after whitespace or one of [{,:-,
// followed by anything but whitespace or ]},"'. It also finds some harmless
// text (a cron "*/5"), which only costs the whole-file parse. A quote after
// the star is a cron field ending a string. (A regexp doing this took a
// sixth of the time of parsing a large inventory.)
func hasAnchorOrAlias(data []byte) bool {
	return hasMark(data, '&') || hasMark(data, '*')
}

// hasMark is hasAnchorOrAlias for one of & (anchors) and * (aliases).
func hasMark(data []byte, c byte) bool {
	const before, after = "\t\n\f\r [{,:-", "\t\n\f\r ]},\"'"
	for i := 0; ; i++ {
		j := bytes.IndexByte(data[i:], c)
		if j < 0 {
			return false
		}
		i += j
		if (i == 0 || strings.IndexByte(before, data[i-1]) >= 0) &&
			i+1 < len(data) && strings.IndexByte(after, data[i+1]) < 0 {
			return true
		}
	}
}

// plainText reports whether data is text the cut into lines can handle: no
// tab (indentation the cut would misjudge), no CR but before an LF (YAML
// breaks lines at a lone CR, the cut does not), and only characters YAML
// allows (yaml.v3 refuses a file with any other anywhere, in a comment too,
// and a comment between list items is in no chunk). ASCII, nearly all of an
// inventory, is judged without decoding.
func plainText(data []byte) bool {
	for i := 0; i < len(data); {
		if c := data[i]; c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && (c != '\r' || i+1 == len(data) || data[i+1] != '\n') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == 0x85, r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= utf8.MaxRune:
		default:
			return false
		}
		i += n
	}
	return true
}

// isDocMarker reports whether l starts with a document marker (---, ...)
// or a directive (%).
func isDocMarker(l []byte) bool {
	return bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) || bytes.HasPrefix(l, []byte("%"))
}

// isDatasourcesKey reports whether l is `datasources:` with nothing after it
// but spaces, a comment and the line end. A # starts a comment only after a
// space: `datasources:#x` is one plain scalar, not a key.
func isDatasourcesKey(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("datasources:"))
	if !ok {
		return false
	}
	after := bytes.TrimLeft(rest, " ")
	comment := len(after) < len(rest) && bytes.HasPrefix(after, []byte("#"))
	after = bytes.TrimSuffix(after, []byte("\n"))
	return len(after) == 0 || comment || string(after) == "\r"
}

// parsedChunks yields the items of chunks in order, parsed by up to
// GOMAXPROCS goroutines: yaml.v3 is most of the time of a large inventory.
// At most a small window of items is parsed ahead of the caller's walk, so
// the node trees of the whole list are never held at once. *failed is set
// when a chunk does not parse on its own; the sequence stops there. No
// goroutine outlives the iteration.
func parsedChunks(chunks []chunk, failed *bool) iter.Seq2[int, *yaml.Node] {
	return func(yield func(int, *yaml.Node) bool) {
		workers := min(runtime.GOMAXPROCS(0), len(chunks))
		if workers <= 1 {
			for i, c := range chunks {
				item, ok := chunkItem(c)
				if !ok {
					*failed = true
					return
				}
				if !yield(i, item) {
					return
				}
			}
			return
		}
		type result struct {
			item *yaml.Node
			ok   bool
		}
		window := min(4*workers, len(chunks))
		// Item i goes to slot i%window. It is only queued once item
		// i-window was taken from that slot, so a send never blocks, and
		// the queue never holds more than window jobs.
		slots := make([]chan result, window)
		for k := range slots {
			slots[k] = make(chan result, 1)
		}
		jobs := make(chan int, window)
		for i := range window {
			jobs <- i
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range jobs {
					item, ok := chunkItem(chunks[i])
					slots[i%window] <- result{item, ok}
				}
			})
		}
		defer func() {
			close(jobs)
			for range jobs {
				// drop what no worker has started yet
			}
			wg.Wait()
		}()
		for i := range chunks {
			r := <-slots[i%window]
			if !r.ok {
				*failed = true
				return
			}
			if next := i + window; next < len(chunks) {
				jobs <- next
			}
			if !yield(i, r.item) {
				return
			}
		}
	}
}

// chunkItem parses one chunk into the node of its single list item, with
// lines counted from the start of the file.
func chunkItem(c chunk) (*yaml.Node, bool) {
	if c.prefix != nil {
		return prefixedItem(c)
	}
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

// prefixedItem parses c behind its prefix, so that its aliases reach the
// anchors there, and returns the item's node. The prefix's nodes keep their
// lines (they are the file's first), the item's are moved to its own.
func prefixedItem(c chunk) (*yaml.Node, bool) {
	text := make([]byte, 0, len(c.prefix)+len(c.text))
	text = append(append(text, c.prefix...), c.text...)
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, false
	}
	m := doc.Content[0].Content
	if len(m) < 2 || m[len(m)-2].Value != "datasources" {
		return nil, false
	}
	seq := m[len(m)-1]
	if seq.Kind != yaml.SequenceNode || len(seq.Content) != 1 {
		return nil, false
	}
	prefixLines := bytes.Count(c.prefix, []byte("\n"))
	shiftLines(seq.Content[0], c.line-1-prefixLines)
	return seq.Content[0], true
}

func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}
